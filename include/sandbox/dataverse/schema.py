"""The Dataverse tables the sandbox serves: columns, lookups, option sets, keys and states.

Each :class:`Table` describes one table as the Web API exposes it (logical name, entity set,
primary id and name, ownership) and each :class:`Column` one attribute with its required level,
maximum length, range, option set and whether it is valid for create and update. Lookups are
stored under their Web API read name ``_<name>_value``; the navigation properties that write
them (``<name>@odata.bind``, or ``<name>_<table>`` for polymorphic lookups such as
``customerid_account``) are derived here. The store schema and the metadata endpoints are both
generated from these definitions, so they cannot drift apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from include.sandbox.store import EntitySet
from include.sandbox.store import Field as StoreField

NAMESPACE = uuid.UUID("8a4c7d3e-2f1b-4e6a-9c5d-0b7e8f9a1c2d")
MAX_MONEY = 922337203685477.0
MAX_DECIMAL = 100000000000.0

# Column kinds -> store types.
_STORE_TYPES = {
    "string": "string",
    "memo": "string",
    "entityname": "string",
    "int": "int",
    "bigint": "int",
    "decimal": "decimal",
    "money": "decimal",
    "double": "decimal",
    "bool": "bool",
    "datetime": "datetime",
    "date": "date",
    "guid": "guid",
    "picklist": "int",
    "state": "int",
    "status": "int",
    "lookup": "guid",
}

# Column kinds -> (AttributeType, EDM type) as the metadata endpoints report them.
ATTRIBUTE_TYPES = {
    "string": ("String", "Edm.String"),
    "memo": ("Memo", "Edm.String"),
    "entityname": ("EntityName", "Edm.String"),
    "int": ("Integer", "Edm.Int32"),
    "bigint": ("BigInt", "Edm.Int64"),
    "decimal": ("Decimal", "Edm.Decimal"),
    "money": ("Money", "Edm.Decimal"),
    "double": ("Double", "Edm.Double"),
    "bool": ("Boolean", "Edm.Boolean"),
    "datetime": ("DateTime", "Edm.DateTimeOffset"),
    "date": ("DateTime", "Edm.Date"),
    "guid": ("Uniqueidentifier", "Edm.Guid"),
    "picklist": ("Picklist", "Edm.Int32"),
    "state": ("State", "Edm.Int32"),
    "status": ("Status", "Edm.Int32"),
    "lookup": ("Lookup", "Edm.Guid"),
}


@dataclass(frozen=True)
class Column:
    """One attribute of a table.

    :param kind: ``string``, ``memo``, ``int``, ``decimal``, ``money``, ``double``, ``bool``,
        ``datetime``, ``date`` (date only), ``guid``, ``entityname``, ``picklist``, ``state``,
        ``status`` or ``lookup``.
    :param required: SystemRequired: a create without it fails and it can never be cleared.
    :param create: valid for create (``IsValidForCreate``).
    :param update: valid for update (``IsValidForUpdate``).
    :param options: option value -> label, for picklists, states and statuses.
    :param targets: the tables a lookup can point to (more than one: a polymorphic lookup).
    :param type_column: for a polymorphic lookup, the read-only column that records the
        target's logical name (``customeridtype``, ``objecttypecode``...).
    :param cascade: for a lookup to a parent, ``delete`` removes this row with its parent;
        otherwise the link is cleared.
    """

    name: str
    kind: str
    max_length: int | None = None
    required: bool = False
    create: bool = True
    update: bool = True
    options: dict[int, str] | None = None
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    targets: tuple[str, ...] = ()
    type_column: str | None = None
    cascade: str | None = None
    label: str | None = None

    @property
    def attribute(self) -> str:
        """The store column and Web API read name (``_x_value`` for lookups)."""
        return f"_{self.name}_value" if self.kind == "lookup" else self.name

    @property
    def navigation(self) -> dict[str, str]:
        """Navigation property -> target table, for lookups."""
        if self.kind != "lookup":
            return {}
        if len(self.targets) == 1 or self.name == "ownerid":
            return {self.name: self.targets[0]}
        return {f"{self.name}_{t}": t for t in self.targets}

    @property
    def writable(self) -> bool:
        return self.create or self.update

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Table:
    """One Dataverse table.

    :param states: statecode -> (default statuscode, allowed statuscodes); ``None`` if the
        table has no state.
    :param default_state: the statecode a new row gets when the create does not set one.
    :param editable_states: rows in other states are read-only except for a state change back
        into one of these (paid invoices, submitted orders...); ``None``: always editable.
    :param alternate_keys: keys usable in URLs (``/products(productnumber='1000')``) and for
        upserts; each is also unique.
    :param unique: column groups that must be unique without being a key.
    :param autonumber: (column, prefix) filled in when a create leaves it empty.
    :param parent: the lookup to a header row whose state decides whether this row may change.
    """

    logical: str
    entity_set: str
    primary_id: str
    primary_name: str | None
    ownership: str
    object_type_code: int
    display: str
    columns: tuple[Column, ...]
    states: dict[int, tuple[int, tuple[int, ...]]] | None = None
    state_labels: dict[int, str] | None = None
    status_labels: dict[int, str] | None = None
    default_state: int = 0
    editable_states: frozenset[int] | None = None
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    autonumber: tuple[str, str] | None = None
    parent: str | None = None
    custom: bool = False
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)
    by_attribute: dict[str, Column] = field(init=False, repr=False, compare=False)
    navigation: dict[str, tuple[Column, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})
        object.__setattr__(self, "by_attribute", {c.attribute: c for c in self.columns})
        nav = {}
        for c in self.columns:
            for prop, target in c.navigation.items():
                nav[prop] = (c, target)
        object.__setattr__(self, "navigation", nav)

    @property
    def metadata_id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, f"entity/{self.logical}"))

    @property
    def schema_name(self) -> str:
        return self.logical if self.custom else self.logical.capitalize()

    @property
    def attributes(self) -> list[str]:
        """Every column as the Web API returns it, in declaration order."""
        return [c.attribute for c in self.columns]

    def status_state(self, status: int) -> int | None:
        for state, (_default, statuses) in (self.states or {}).items():
            if status in statuses:
                return state
        return None

    def store_entity_set(self) -> EntitySet:
        fields = tuple(StoreField(c.attribute, _STORE_TYPES[c.kind]) for c in self.columns)
        keys = tuple(tuple(self.by_name[n].attribute for n in k) for k in (*self.alternate_keys, *self.unique))
        indexes = tuple(c.attribute for c in self.columns if c.kind == "lookup")
        return EntitySet(
            name=self.entity_set,
            key=self.primary_id,
            fields=fields,
            alternate_keys=keys,
            modified_field="modifiedon",
            created_field="createdon",
            indexes=indexes,
        )


# -- column helpers ---------------------------------------------------------------------------


def text(name: str, length: int = 100, **kw) -> Column:
    return Column(name, "string", max_length=length, **kw)


def memo(name: str, length: int = 2000, **kw) -> Column:
    return Column(name, "memo", max_length=length, **kw)


def money(name: str, minimum: float = -MAX_MONEY, maximum: float = MAX_MONEY, **kw) -> Column:
    return Column(name, "money", minimum=minimum, maximum=maximum, **kw)


def decimal(name: str, minimum: float = -MAX_DECIMAL, maximum: float = MAX_DECIMAL, **kw) -> Column:
    return Column(name, "decimal", minimum=minimum, maximum=maximum, **kw)


def integer(name: str, minimum: int = -2147483648, maximum: int = 2147483647, **kw) -> Column:
    return Column(name, "int", minimum=minimum, maximum=maximum, **kw)


def flag(name: str, default: bool | None = False, **kw) -> Column:
    return Column(name, "bool", default=default, **kw)


def date(name: str, **kw) -> Column:
    return Column(name, "date", **kw)


def when(name: str, **kw) -> Column:
    return Column(name, "datetime", **kw)


def choice(name: str, options: dict[int, str], **kw) -> Column:
    return Column(name, "picklist", options=options, **kw)


def lookup(name: str, *targets: str, **kw) -> Column:
    return Column(name, "lookup", targets=targets, **kw)


def readonly(column: Column) -> Column:
    return Column(**{**column.__dict__, "create": False, "update": False})


def address(prefix: str) -> tuple[Column, ...]:
    """The address columns Dataverse repeats per address (account address1_*, invoice billto_*)."""
    return (
        text(f"{prefix}_name", 200),
        text(f"{prefix}_line1", 250),
        text(f"{prefix}_line2", 250),
        text(f"{prefix}_line3", 250),
        text(f"{prefix}_city", 80),
        text(f"{prefix}_stateorprovince", 50),
        text(f"{prefix}_postalcode", 20),
        text(f"{prefix}_country", 80),
        text(f"{prefix}_telephone1" if prefix == "address1" else f"{prefix}_telephone", 50),
        text(f"{prefix}_fax", 50),
    )


# -- option sets --------------------------------------------------------------------------------

ACTIVE_INACTIVE = {0: "Active", 1: "Inactive"}
ACTIVE_INACTIVE_STATUS = {1: "Active", 2: "Inactive"}
ACTIVE_INACTIVE_STATES = {0: (1, (1,)), 1: (2, (2,))}

PAYMENT_TERMS = {1: "Net 30", 2: "2% 10, Net 30", 3: "Net 45", 4: "Net 60"}
SHIPPING_METHODS = {
    1: "Airborne",
    2: "DHL",
    3: "FedEx",
    4: "UPS",
    5: "Postal Mail",
    6: "Full Load",
    7: "Will Call",
}
FREIGHT_TERMS = {1: "FOB", 2: "No Charge"}
DEFAULT_VALUE = {1: "Default Value"}
CUSTOMER_TYPES = {
    1: "Competitor",
    2: "Consultant",
    3: "Customer",
    4: "Investor",
    5: "Partner",
    6: "Influencer",
    7: "Press",
    8: "Prospect",
    9: "Reseller",
    10: "Supplier",
    11: "Vendor",
    12: "Other",
}
PRODUCT_TYPES = {1: "Sales Inventory", 2: "Miscellaneous Charges", 3: "Services", 4: "Flat Fees"}
PRODUCT_STRUCTURES = {1: "Product", 2: "Product Family", 3: "Product Bundle"}
LINE_PRODUCT_TYPES = {
    1: "Product",
    2: "Bundle",
    3: "Required Bundle Product",
    4: "Optional Bundle Product",
    5: "Project-based Service",
}
PROPERTY_CONFIGURATION = {0: "Edit", 1: "Rectify", 2: "Not Configured"}
PRICING_METHODS = {
    1: "Currency Amount",
    2: "Percent of List",
    3: "Percent Markup - Current Cost",
    4: "Percent Margin - Current Cost",
    5: "Percent Markup - Standard Cost",
    6: "Percent Margin - Standard Cost",
}
QUANTITY_SELLING = {1: "No Control", 2: "Whole", 3: "Whole and Fractional"}
ROUNDING_POLICIES = {1: "None", 2: "Up", 3: "Down", 4: "To Nearest"}
ROUNDING_OPTIONS = {1: "Ends in", 2: "Multiple of"}
ACCESS_MODES = {
    0: "Read-Write",
    1: "Administrative",
    2: "Read",
    3: "Support User",
    4: "Non-interactive",
    5: "Delegated Admin",
}

# -- shared column groups -----------------------------------------------------------------------


def system_columns(ownership: str) -> tuple[Column, ...]:
    """createdon/modifiedon/createdby/modifiedby on every table, the owner on user-owned ones."""
    columns = [
        readonly(when("createdon", label="Created On")),
        readonly(when("modifiedon", label="Modified On")),
        readonly(lookup("createdby", "systemuser", label="Created By")),
        readonly(lookup("modifiedby", "systemuser", label="Modified By")),
    ]
    if ownership == "UserOwned":
        columns += [
            lookup("ownerid", "systemuser", label="Owner", type_column="owneridtype"),
            readonly(Column("owneridtype", "entityname")),
            readonly(lookup("owningbusinessunit", "businessunit", label="Owning Business Unit")),
        ]
    return tuple(columns)


def state_columns(states: dict[int, str], statuses: dict[int, str]) -> tuple[Column, ...]:
    return (
        Column("statecode", "state", options=states, label="Status"),
        Column("statuscode", "status", options=statuses, label="Status Reason"),
    )


def currency_columns() -> tuple[Column, ...]:
    return (
        lookup("transactioncurrencyid", "transactioncurrency", label="Currency"),
        readonly(decimal("exchangerate", 0.0000000001, MAX_DECIMAL, label="Exchange Rate")),
    )


def document_totals() -> tuple[Column, ...]:
    return (
        money("discountamount", 0, MAX_MONEY),
        decimal("discountpercentage", 0, 100),
        money("freightamount", 0, MAX_MONEY),
        money("totalamount"),
        money("totalamountlessfreight"),
        money("totaldiscountamount"),
        money("totallineitemamount"),
        money("totallineitemdiscountamount"),
        money("totaltax"),
    )


def line_columns(parent: str) -> tuple[Column, ...]:
    """The columns invoice, order and quote lines share."""
    return (
        lookup(f"{parent}id", parent, required=True, update=False, cascade="delete"),
        lookup("productid", "product", label="Existing Product"),
        text("productdescription", 500, label="Write-In Product"),
        flag("isproductoverridden", label="Select Product"),
        lookup("uomid", "uom", label="Unit"),
        decimal("quantity", 0, 1000000000, label="Quantity"),
        money("priceperunit", label="Price Per Unit"),
        flag("ispriceoverridden", label="Pricing"),
        money("manualdiscountamount", 0, MAX_MONEY),
        money("volumediscountamount"),
        money("tax"),
        money("baseamount"),
        money("extendedamount"),
        integer("lineitemnumber", 0),
        integer("sequencenumber", 0),
        memo("description", 2000),
        choice("producttypecode", LINE_PRODUCT_TYPES, required=True, default=1),
        choice("propertyconfigurationstatus", PROPERTY_CONFIGURATION, required=True, default=2),
        decimal("quantityshipped", 0, 1000000000),
        decimal("quantitybackordered", 0, 1000000000),
        decimal("quantitycancelled", 0, 1000000000),
        *address("shipto")[:8],
        flag("willcall"),
        *currency_columns(),
    )


# -- the tables ---------------------------------------------------------------------------------


def _table(
    logical: str,
    entity_set: str,
    primary_name: str | None,
    ownership: str,
    otc: int,
    display: str,
    columns: tuple[Column, ...],
    **kw,
) -> Table:
    primary = Column(f"{logical}id", "guid", create=True, update=False, label=display)
    return Table(
        logical=logical,
        entity_set=entity_set,
        primary_id=f"{logical}id",
        primary_name=primary_name,
        ownership=ownership,
        object_type_code=otc,
        display=display,
        columns=(primary, *columns, *system_columns(ownership)),
        **kw,
    )


def _with_states(
    states: dict[int, tuple[int, tuple[int, ...]]], state_labels: dict[int, str], status_labels: dict[int, str]
) -> dict:
    return {"states": states, "state_labels": state_labels, "status_labels": status_labels}


TABLES: tuple[Table, ...] = (
    _table(
        "businessunit",
        "businessunits",
        "name",
        "BusinessOwned",
        10,
        "Business Unit",
        (
            text("name", 160, required=True),
            lookup("parentbusinessunitid", "businessunit"),
            flag("isdisabled", create=False, update=False),
        ),
    ),
    _table(
        "organization",
        "organizations",
        "name",
        "None",
        1019,
        "Organization",
        (
            text("name", 160, create=False),
            readonly(lookup("basecurrencyid", "transactioncurrency", label="Currency")),
        ),
    ),
    _table(
        "transactioncurrency",
        "transactioncurrencies",
        "currencyname",
        "OrganizationOwned",
        9105,
        "Currency",
        (
            text("isocurrencycode", 5, required=True, label="Currency Code"),
            text("currencyname", 100, required=True, label="Currency Name"),
            text("currencysymbol", 10, required=True, label="Currency Symbol"),
            decimal("exchangerate", 0.0000000001, MAX_DECIMAL, required=True, label="Exchange Rate"),
            integer("currencyprecision", 0, 4, required=True, default=2, label="Currency Precision"),
            *state_columns(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
        ),
        alternate_keys=(("isocurrencycode",),),
        **_with_states(ACTIVE_INACTIVE_STATES, ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
    ),
    _table(
        "systemuser",
        "systemusers",
        "fullname",
        "BusinessOwned",
        8,
        "User",
        (
            text("firstname", 64),
            text("lastname", 64),
            readonly(text("fullname", 200, label="Full Name")),
            text("internalemailaddress", 100, label="Primary Email"),
            text("domainname", 1024, label="User Name"),
            text("mobilephone", 64),
            text("title", 128),
            flag("isdisabled", label="Status"),
            flag("islicensed", label="User Licensed"),
            flag("isintegrationuser", label="Integration user mode"),
            choice("accessmode", ACCESS_MODES, required=True, default=0, label="Access Mode"),
            Column("applicationid", "guid", label="Application ID"),
            Column("azureactivedirectoryobjectid", "guid", label="Azure AD Object ID"),
            lookup("businessunitid", "businessunit", required=True, label="Business Unit"),
        ),
    ),
    _table(
        "uomschedule",
        "uomschedules",
        "name",
        "OrganizationOwned",
        1056,
        "Unit Group",
        (
            text("name", 200, required=True),
            text("baseuomname", 100, update=False, label="Primary Unit"),
            memo("description", 2000),
            *state_columns(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
        ),
        **_with_states(ACTIVE_INACTIVE_STATES, ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
    ),
    _table(
        "uom",
        "uoms",
        "name",
        "None",
        1055,
        "Unit",
        (
            text("name", 100, required=True),
            lookup("uomscheduleid", "uomschedule", required=True, update=False, cascade="delete", label="Unit Group"),
            lookup("baseuom", "uom", label="Base Unit"),
            decimal("quantity", 0, 10000000000, default=1.0),
            readonly(flag("isschedulebaseuom", label="Is Schedule Base Unit")),
        ),
        unique=(("uomscheduleid", "name"),),
    ),
    _table(
        "pricelevel",
        "pricelevels",
        "name",
        "OrganizationOwned",
        1022,
        "Price List",
        (
            text("name", 100, required=True),
            lookup("transactioncurrencyid", "transactioncurrency", label="Currency"),
            date("begindate", label="Start Date"),
            date("enddate", label="End Date"),
            memo("description", 2000),
            choice("freighttermscode", DEFAULT_VALUE),
            choice("paymentmethodcode", DEFAULT_VALUE),
            choice("shippingmethodcode", DEFAULT_VALUE),
            *state_columns(ACTIVE_INACTIVE, {100001: "Active", 100002: "Inactive"}),
        ),
        unique=(("name",),),
        **_with_states(
            {0: (100001, (100001,)), 1: (100002, (100002,))}, ACTIVE_INACTIVE, {100001: "Active", 100002: "Inactive"}
        ),
    ),
    _table(
        "product",
        "products",
        "name",
        "OrganizationOwned",
        1024,
        "Product",
        (
            text("name", 100),
            text("productnumber", 100, required=True, label="Product ID"),
            lookup("defaultuomscheduleid", "uomschedule", label="Unit Group"),
            lookup("defaultuomid", "uom", label="Default Unit"),
            integer("quantitydecimal", 0, 5, label="Decimals Supported"),
            choice("productstructure", PRODUCT_STRUCTURES, required=True, default=1, update=False),
            choice("producttypecode", PRODUCT_TYPES, default=1, label="Product Type"),
            lookup("pricelevelid", "pricelevel", label="Default Price List"),
            money("price", 0, 1000000000000, label="List Price"),
            money("currentcost", 0, 1000000000000, label="Current Cost"),
            money("standardcost", 0, 1000000000000, label="Standard Cost"),
            decimal("quantityonhand", 0, 1000000000, label="Quantity On Hand"),
            memo("description", 2000),
            flag("isstockitem"),
            flag("iskit"),
            lookup("parentproductid", "product", label="Parent"),
            date("validfromdate"),
            date("validtodate"),
            text("vendorid", 100, label="Vendor ID"),
            text("vendorname", 100, label="Vendor"),
            text("vendorpartnumber", 100, label="Vendor Part Number"),
            text("suppliername", 100),
            text("size", 200),
            decimal("stockweight", 0, 1000000000, label="Weight"),
            decimal("stockvolume", 0, 1000000000, label="Volume"),
            text("producturl", 255, label="URL"),
            *currency_columns(),
            *state_columns(
                {0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"},
                {0: "Draft", 1: "Active", 2: "Retired", 3: "Under Revision"},
            ),
        ),
        alternate_keys=(("productnumber",),),
        default_state=2,
        **_with_states(
            {0: (1, (1,)), 1: (2, (2,)), 2: (0, (0,)), 3: (3, (3,))},
            {0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"},
            {0: "Draft", 1: "Active", 2: "Retired", 3: "Under Revision"},
        ),
    ),
    _table(
        "productpricelevel",
        "productpricelevels",
        None,
        "None",
        1026,
        "Price List Item",
        (
            lookup("pricelevelid", "pricelevel", required=True, update=False, cascade="delete", label="Price List"),
            lookup("productid", "product", required=True, cascade="delete", label="Product"),
            lookup("uomid", "uom", required=True, label="Unit"),
            lookup("uomscheduleid", "uomschedule", label="Unit Schedule ID"),
            text("productnumber", 100, label="Product ID"),
            money("amount", 0, 100000000000000, label="Amount"),
            decimal("percentage", -100, 1000000000),
            choice("pricingmethodcode", PRICING_METHODS, default=1, label="Pricing Method"),
            choice("quantitysellingcode", QUANTITY_SELLING, default=1, label="Quantity Selling Option"),
            choice("roundingpolicycode", ROUNDING_POLICIES, default=1, label="Rounding Policy"),
            choice("roundingoptioncode", ROUNDING_OPTIONS, label="Rounding Option"),
            money("roundingoptionamount", 0, MAX_MONEY),
            lookup("transactioncurrencyid", "transactioncurrency", create=False, label="Currency"),
            readonly(decimal("exchangerate", 0.0000000001, MAX_DECIMAL)),
        ),
        unique=(("pricelevelid", "productid", "uomid"),),
    ),
    _table(
        "account",
        "accounts",
        "name",
        "UserOwned",
        1,
        "Account",
        (
            text("name", 160, label="Account Name"),
            text("accountnumber", 20, label="Account Number"),
            choice("customertypecode", CUSTOMER_TYPES, label="Relationship Type"),
            *address("address1"),
            text("address1_primarycontactname", 100),
            choice("address1_freighttermscode", FREIGHT_TERMS, label="Address 1: Freight Terms"),
            choice("address1_shippingmethodcode", SHIPPING_METHODS, label="Address 1: Shipping Method"),
            choice("paymenttermscode", PAYMENT_TERMS, label="Payment Terms"),
            text("emailaddress1", 100, label="Email"),
            text("telephone1", 50, label="Main Phone"),
            text("fax", 50),
            text("websiteurl", 200, label="Website"),
            money("creditlimit", 0, 100000000000000, label="Credit Limit"),
            memo("description", 2000),
            lookup("primarycontactid", "contact", label="Primary Contact"),
            lookup("parentaccountid", "account", label="Parent Account"),
            lookup("defaultpricelevelid", "pricelevel", label="Price List"),
            lookup("nav_accountstatisticsid", "nav_accountstatistics", label="Account Statistics"),
            *currency_columns(),
            *state_columns(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
        ),
        **_with_states(ACTIVE_INACTIVE_STATES, ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
    ),
    _table(
        "contact",
        "contacts",
        "fullname",
        "UserOwned",
        2,
        "Contact",
        (
            text("firstname", 50),
            text("middlename", 50),
            text("lastname", 50),
            readonly(text("fullname", 160, label="Full Name")),
            text("jobtitle", 100),
            lookup("parentcustomerid", "account", "contact", type_column="parentcustomeridtype", label="Company Name"),
            readonly(Column("parentcustomeridtype", "entityname")),
            *address("address1"),
            text("emailaddress1", 100, label="Email"),
            text("telephone1", 50, label="Business Phone"),
            text("mobilephone", 50),
            text("fax", 50),
            text("pager", 50),
            text("websiteurl", 200),
            memo("description", 2000),
            *currency_columns(),
            *state_columns(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
        ),
        **_with_states(ACTIVE_INACTIVE_STATES, ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
    ),
    _table(
        "nav_accountstatistics",
        "nav_accountstatisticses",
        "nav_name",
        "OrganizationOwned",
        10010,
        "Account Statistics",
        (
            text("nav_name", 100, label="Name"),
            text("nav_customerno", 20, label="Customer No"),
            money("nav_balancelcy", label="Balance (LCY)"),
            money("nav_outstandingorderslcy", label="Outstanding Orders (LCY)"),
            money("nav_shippednotinvoicedlcy", label="Shipped Not Invoiced (LCY)"),
            money("nav_outstandinginvoiceslcy", label="Outstanding Invoices (LCY)"),
            money("nav_outstandingserviceorderslcy", label="Outstanding Serv Orders (LCY)"),
            money("nav_servshippednotinvoicedlcy", label="Serv Shipped Not Invd (LCY)"),
            money("nav_outstandingservinvoiceslcy", label="Outstd Serv Invoices (LCY)"),
            money("nav_totallcy", label="Total (LCY)"),
            money("nav_creditlimitlcy", label="Credit Limit (LCY)"),
            money("nav_overdueamountslcy", label="Overdue Amounts (LCY)"),
            date("nav_overdueamountsasof", label="Overdue Amounts As Of Date"),
            money("nav_totalsaleslcy", label="Total Sales (LCY)"),
            money("nav_invoicedprepaymentamountlcy", label="Invd Prepayment Amount (LCY)"),
            *currency_columns(),
            *state_columns(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
        ),
        custom=True,
        **_with_states(ACTIVE_INACTIVE_STATES, ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS),
    ),
    _table(
        "opportunity",
        "opportunities",
        "name",
        "UserOwned",
        3,
        "Opportunity",
        (
            text("name", 300, label="Topic"),
            lookup("customerid", "account", "contact", type_column="customeridtype", label="Potential Customer"),
            readonly(Column("customeridtype", "entityname")),
            lookup("parentaccountid", "account", label="Account"),
            lookup("parentcontactid", "contact", label="Contact"),
            lookup("pricelevelid", "pricelevel", label="Price List"),
            money("estimatedvalue", label="Est. Revenue"),
            date("estimatedclosedate", label="Est. Close Date"),
            money("actualvalue"),
            date("actualclosedate"),
            integer("closeprobability", 0, 100, label="Probability"),
            memo("description", 2000),
            *currency_columns(),
            *state_columns(
                {0: "Open", 1: "Won", 2: "Lost"},
                {1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
            ),
        ),
        editable_states=frozenset({0}),
        **_with_states(
            {0: (1, (1, 2)), 1: (3, (3,)), 2: (4, (4, 5))},
            {0: "Open", 1: "Won", 2: "Lost"},
            {1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
        ),
    ),
)


def _document(
    logical: str,
    entity_set: str,
    otc: int,
    display: str,
    number: tuple[str, str],
    extra: tuple[Column, ...],
    states: dict[int, tuple[int, tuple[int, ...]]],
    state_labels: dict[int, str],
    status_labels: dict[int, str],
    editable: frozenset[int],
) -> Table:
    """Quotes, orders and invoices share their header layout."""
    return _table(
        logical,
        entity_set,
        "name",
        "UserOwned",
        otc,
        display,
        (
            text("name", 300),
            text(number[0], 100, required=True),
            lookup("customerid", "account", "contact", type_column="customeridtype", label="Customer"),
            readonly(Column("customeridtype", "entityname")),
            readonly(lookup("accountid", "account", label="Account")),
            readonly(lookup("contactid", "contact", label="Contact")),
            lookup("pricelevelid", "pricelevel", label="Price List"),
            lookup("opportunityid", "opportunity", label="Opportunity"),
            flag("ispricelocked", label="Prices Locked"),
            memo("description", 2000),
            *document_totals(),
            choice("paymenttermscode", PAYMENT_TERMS, label="Payment Terms"),
            choice("shippingmethodcode", SHIPPING_METHODS, label="Shipping Method"),
            *address("billto"),
            *address("shipto"),
            choice("shipto_freighttermscode", FREIGHT_TERMS, label="Ship To Freight Terms"),
            flag("willcall"),
            *extra,
            *currency_columns(),
            *state_columns(state_labels, status_labels),
        ),
        editable_states=editable,
        autonumber=number,
        **_with_states(states, state_labels, status_labels),
    )


_QUOTE_STATES = {0: "Draft", 1: "Active", 2: "Won", 3: "Closed"}
_QUOTE_STATUSES = {1: "In Progress", 2: "In Progress", 3: "Open", 4: "Won", 5: "Lost", 6: "Canceled", 7: "Revised"}
_ORDER_STATES = {0: "Active", 1: "Submitted", 2: "Canceled", 3: "Fulfilled", 4: "Invoiced"}
_ORDER_STATUSES = {
    1: "New",
    2: "Pending",
    3: "In Progress",
    4: "No Money",
    100001: "Complete",
    100002: "Partial",
    100003: "Invoiced",
}
_INVOICE_STATES = {0: "Active", 1: "Closed (deprecated)", 2: "Paid", 3: "Canceled"}
_INVOICE_STATUSES = {
    1: "New",
    2: "Partially Shipped",
    4: "Billed",
    5: "Booked (applies to services)",
    6: "Installed (applies to services)",
    3: "Canceled (deprecated)",
    7: "Paid in Full (deprecated)",
    100001: "Complete",
    100002: "Partial",
    100003: "Canceled",
}

TABLES += (
    _document(
        "quote",
        "quotes",
        1084,
        "Quote",
        ("quotenumber", "QUO"),
        (
            integer("revisionnumber", 0, create=False, update=False),
            date("effectivefrom"),
            date("effectiveto"),
            choice("freighttermscode", FREIGHT_TERMS),
        ),
        {0: (1, (1,)), 1: (2, (2, 3)), 2: (4, (4,)), 3: (7, (5, 6, 7))},
        _QUOTE_STATES,
        _QUOTE_STATUSES,
        frozenset({0}),
    ),
    _document(
        "salesorder",
        "salesorders",
        1088,
        "Order",
        ("ordernumber", "ORD"),
        (
            lookup("quoteid", "quote", label="Quote"),
            date("requestdeliveryby"),
            date("datefulfilled"),
            date("lastbackofficesubmit"),
            choice("freighttermscode", FREIGHT_TERMS),
        ),
        {0: (1, (1, 2)), 1: (3, (3,)), 2: (4, (4,)), 3: (100001, (100001, 100002)), 4: (100003, (100003,))},
        _ORDER_STATES,
        _ORDER_STATUSES,
        frozenset({0}),
    ),
    _document(
        "invoice",
        "invoices",
        1090,
        "Invoice",
        ("invoicenumber", "INV"),
        (
            lookup("salesorderid", "salesorder", label="Order"),
            date("duedate", label="Due Date"),
            date("datedelivered", label="Date Delivered"),
        ),
        {0: (1, (1, 2, 4, 5, 6)), 1: (3, (3, 7)), 2: (100001, (100001, 100002)), 3: (100003, (100003,))},
        _INVOICE_STATES,
        _INVOICE_STATUSES,
        frozenset({0}),
    ),
    _table(
        "quotedetail",
        "quotedetails",
        None,
        "UserOwned",
        1085,
        "Quote Product",
        (*line_columns("quote"), text("quotedetailname", 500, create=False, update=False)),
        parent="quoteid",
    ),
    _table(
        "salesorderdetail",
        "salesorderdetails",
        None,
        "UserOwned",
        1089,
        "Order Product",
        (
            *line_columns("salesorder"),
            date("requestdeliveryby"),
            text("salesorderdetailname", 500, create=False, update=False),
        ),
        parent="salesorderid",
    ),
    _table(
        "invoicedetail",
        "invoicedetails",
        None,
        "UserOwned",
        1091,
        "Invoice Product",
        (
            *line_columns("invoice"),
            lookup("salesorderdetailid", "salesorderdetail", label="Order Line"),
            date("actualdeliveryon", label="Delivered On"),
            text("invoicedetailname", 500, label="Name"),
        ),
        parent="invoiceid",
    ),
    _table(
        "annotation",
        "annotations",
        "subject",
        "UserOwned",
        5,
        "Note",
        (
            text("subject", 500, label="Title"),
            memo("notetext", 100000, label="Description"),
            flag("isdocument", label="Is Document"),
            text("filename", 255, label="File Name"),
            text("mimetype", 256, label="Mime Type"),
            memo("documentbody", 2**31 - 1, label="Document"),
            readonly(integer("filesize", 0, label="File Size (Bytes)")),
            lookup(
                "objectid",
                "account",
                "contact",
                "opportunity",
                "quote",
                "salesorder",
                "invoice",
                "product",
                type_column="objecttypecode",
                cascade="delete",
                label="Regarding",
            ),
            readonly(Column("objecttypecode", "entityname", label="Object Type")),
        ),
    ),
)

BY_LOGICAL: dict[str, Table] = {t.logical: t for t in TABLES}
BY_SET: dict[str, Table] = {t.entity_set: t for t in TABLES}


def store_schema() -> list[EntitySet]:
    return [t.store_entity_set() for t in TABLES]

"""The default mappings, as BC's "reset to default configuration" writes them (facts §2).

Field names on the BC side are those of the API v2.0 entity or the published web service the
mapping reads; on the Sales side, Dataverse column names. Rules beyond a plain copy (unit group
names, product types, negative values, states, price list items) live in the transforms.
"""

from __future__ import annotations

from include.bc_sales_sync.mappings.model import Direction, FieldMap, Mapping, MappingError, Source, Target, WriteBack

BOTH = Direction.BIDIRECTIONAL
PRODUCT_TYPE_SALES_INVENTORY = 1
PRODUCT_TYPE_SERVICES = 3
DEFAULT_PRICE_LIST_NAME = "Business Central Default Price List"

UNIT_OF_MEASURE = Mapping(
    name="UNIT OF MEASURE",
    task_id="unit_of_measure",
    source=Source("unitsOfMeasure"),
    target=Target("uomschedules", "uomscheduleid", match_on=("name",)),
    transform="include.bc_sales_sync.transforms.units:units_to_unit_groups",
    fields=(FieldMap("baseuomname", source="code", insert_only=True),),
    lookups=("unit_groups",),
    inactivity_timeout_minutes=720,
)

_PRODUCT_FIELDS = (
    FieldMap("productnumber", source="No"),
    FieldMap("price", source="Unit_Price"),
    FieldMap("standardcost", source="Unit_Cost"),
    FieldMap("currentcost", source="Unit_Cost"),
    FieldMap("vendorpartnumber", source="Vendor_Item_No"),
    FieldMap("quantitydecimal", constant=2, insert_only=True),
)


def _product_from_crm(product_type: int, label: str, *, name_length: int) -> dict:
    """Sales -> BC options of a product mapping: retired products are read too (BC blocks the item
    or resource), and the state decides Blocked."""
    return {
        "from_crm_filter": f"producttypecode eq {product_type}",
        "from_crm_columns": ["statecode", "productnumber"],
        "from_crm_bc_fields": ["Blocked"],
        "from_crm_number": "productnumber",
        "from_crm_label": label,
        "bc_field_lengths": {"Description": name_length, "Name": name_length},
    }


RESOURCE_PRODUCT = Mapping(
    name="RESOURCE-PRODUCT",
    task_id="resource_product",
    # Blocked resources are not synchronized (BC's table filter Blocked = false, facts §2.1).
    source=Source(
        "Resources", key="SystemId", modified="SystemModifiedAt", web_service=True, filter="Blocked eq false"
    ),
    target=Target(
        "products", "productid", match_on=("productnumber",), filter=f"producttypecode eq {PRODUCT_TYPE_SERVICES}"
    ),
    transform="include.bc_sales_sync.transforms.products:resources_to_products",
    fields=(
        *_PRODUCT_FIELDS[:4],
        FieldMap("vendorid", source="Vendor_No"),
        FieldMap("name", source="Name", direction=BOTH),
        FieldMap("quantityonhand", source="Capacity"),
        FieldMap("producttypecode", constant=PRODUCT_TYPE_SERVICES),
        _PRODUCT_FIELDS[-1],
    ),
    direction=BOTH,
    dependencies=("UNIT OF MEASURE",),
    lookups=("units", "vendors", "local_currency", "default_price_list"),
    inactivity_timeout_minutes=720,
    # The API has no resources: Sales -> BC writes go to the published Resources page.
    write_back=WriteBack("Resources", key="No", id_field="SystemId", web_service=True, modified="SystemModifiedAt"),
    reverse_transform="include.bc_sales_sync.transforms.reverse:products_to_items",
    options={
        "extra_source_fields": ["Base_Unit_of_Measure", "Blocked", "Vendor_No"],
        **_product_from_crm(PRODUCT_TYPE_SERVICES, "resource", name_length=100),
    },
)

ITEM_PRODUCT = Mapping(
    name="ITEM-PRODUCT",
    task_id="item_product",
    # Blocked items are not synchronized (BC's table filter Blocked = false, facts §2.1).
    source=Source("ItemCard", key="SystemId", modified="SystemModifiedAt", web_service=True, filter="Blocked eq false"),
    target=Target(
        "products",
        "productid",
        match_on=("productnumber",),
        filter=f"producttypecode eq {PRODUCT_TYPE_SALES_INVENTORY}",
    ),
    transform="include.bc_sales_sync.transforms.products:items_to_products",
    fields=(
        *_PRODUCT_FIELDS[:5],
        FieldMap("vendorid", source="Vendor_No"),
        FieldMap("name", source="Description", direction=BOTH),
        FieldMap("quantityonhand", source="Inventory"),
        FieldMap("stockvolume", source="Unit_Volume"),
        FieldMap("stockweight", source="Gross_Weight"),
        FieldMap("producttypecode", constant=PRODUCT_TYPE_SALES_INVENTORY),
        _PRODUCT_FIELDS[-1],
    ),
    direction=BOTH,
    dependencies=("UNIT OF MEASURE",),
    lookups=("units", "vendors", "local_currency", "default_price_list"),
    inactivity_timeout_minutes=1440,
    write_back=WriteBack("items", names=(("Description", "displayName"), ("Blocked", "blocked"))),
    reverse_transform="include.bc_sales_sync.transforms.reverse:products_to_items",
    options={
        "extra_source_fields": ["Base_Unit_of_Measure", "Blocked", "Vendor_No"],
        **_product_from_crm(PRODUCT_TYPE_SALES_INVENTORY, "item", name_length=100),
    },
)

# -- the prerequisites, contacts and opportunities (bc_dataverse_sync) ------------------------

SALES_USERS_WHO_CAN_OWN = "isdisabled eq false and islicensed eq true and isintegrationuser eq false"
CUSTOMER_TYPE_CUSTOMER = 3

SALESPEOPLE = Mapping(
    name="SALESPEOPLE",
    task_id="salespeople",
    source=Source("salespeoplePurchasers"),
    target=Target("systemusers", "systemuserid", match_on=("internalemailaddress",), filter=SALES_USERS_WHO_CAN_OWN),
    transform="include.bc_sales_sync.transforms.salespeople:salespeople_to_users",
    fields=(FieldMap("internalemailaddress", source="email"),),
    couple_only=True,
    lookups=("sales_users",),
    options={"extra_source_fields": ["code", "displayName"]},
)

CURRENCY = Mapping(
    name="CURRENCY",
    task_id="currency",
    source=Source("currencies"),
    target=Target("transactioncurrencies", "transactioncurrencyid", match_on=("isocurrencycode",)),
    transform="include.bc_sales_sync.transforms.currencies:currencies_to_transaction_currencies",
    fields=(
        FieldMap("isocurrencycode", source="code"),
        FieldMap("currencysymbol", source="symbol"),
        FieldMap("currencyname", source="displayName"),
        FieldMap("currencyprecision", constant=2, insert_only=True),
    ),
    lookups=("exchange_rates",),
    inactivity_timeout_minutes=720,
)

# BC's field lengths, so a longer Sales value fails with a message, not a 400: the address and
# communication fields customers (table 18) and contacts (table 5050) share, then each one's own.
_ADDRESS_FIELD_LENGTHS = {
    "Address": 100,
    "Address_2": 50,
    "City": 30,
    "County": 30,
    "Country_Region_Code": 10,
    "Post_Code": 20,
    "E_Mail": 80,
    "Home_Page": 80,
    "Phone_No": 30,
}
CUSTOMER_FIELD_LENGTHS = {"Name": 100, **_ADDRESS_FIELD_LENGTHS}

CUSTOMER = Mapping(
    name="CUSTOMER",
    task_id="customer",
    # Blocked customers are not synchronized (BC's table filter Blocked = ' ').
    source=Source(
        "CustomerCard", key="SystemId", modified="SystemModifiedAt", web_service=True, filter="Blocked eq ' '"
    ),
    target=Target(
        "accounts",
        "accountid",
        match_on=("accountnumber",),
        filter=f"statecode eq 0 and customertypecode eq {CUSTOMER_TYPE_CUSTOMER}",
    ),
    transform="include.bc_sales_sync.transforms.customers:customers_to_accounts",
    fields=(
        FieldMap("name", source="Name", direction=BOTH),
        # Not in BC's default field list: the customer number makes accounts findable and lets
        # match-based coupling find an account created in Sales for a BC customer.
        FieldMap("accountnumber", source="No"),
        FieldMap("address1_line1", source="Address", direction=BOTH),
        FieldMap("address1_line2", source="Address_2", direction=BOTH),
        FieldMap("address1_postalcode", source="Post_Code", direction=BOTH),
        FieldMap("address1_city", source="City", direction=BOTH),
        FieldMap("address1_country", source="Country_Region_Code", direction=BOTH),
        FieldMap("address1_stateorprovince", source="County", direction=BOTH),
        FieldMap("emailaddress1", source="E_Mail", direction=BOTH),
        FieldMap("websiteurl", source="Home_Page", direction=BOTH),
        FieldMap("telephone1", source="Phone_No", direction=BOTH),
        FieldMap("creditlimit", source="Credit_Limit_LCY"),
        FieldMap("customertypecode", constant=CUSTOMER_TYPE_CUSTOMER, insert_only=True),
    ),
    direction=BOTH,
    dependencies=("SALESPEOPLE", "CURRENCY"),
    lookups=("salespeople", "currencies", "local_currency"),
    inactivity_timeout_minutes=720,
    write_back=WriteBack(
        "customers",
        names=(
            ("Name", "displayName"),
            ("Address", "addressLine1"),
            ("Address_2", "addressLine2"),
            ("Post_Code", "postalCode"),
            ("City", "city"),
            ("Country_Region_Code", "country"),
            ("County", "state"),
            ("E_Mail", "email"),
            ("Home_Page", "website"),
            ("Phone_No", "phoneNumber"),
            ("Blocked", "blocked"),
            ("Currency_Code", "currencyCode"),
        ),
    ),
    reverse_transform="include.bc_sales_sync.transforms.reverse:accounts_to_customers",
    options={
        "extra_source_fields": ["Salesperson_Code", "Currency_Code"],
        # Sales -> BC reads deactivated accounts too: BC blocks their customers (facts §2.3).
        "from_crm_filter": f"customertypecode eq {CUSTOMER_TYPE_CUSTOMER}",
        "from_crm_columns": ["statecode", "accountnumber", "_transactioncurrencyid_value"],
        "from_crm_number": "accountnumber",
        "from_crm_bc_fields": ["Blocked", "Currency_Code"],
        "from_crm_lookups": ["currencies", "local_currency_code"],
        "from_crm_label": "customer",
        "keep_bc_value_when_blank": True,
        "bc_field_lengths": CUSTOMER_FIELD_LENGTHS,
    },
)

CONTACT_FIELD_LENGTHS = {
    "First_Name": 30,
    "Middle_Name": 30,
    "Surname": 30,
    **_ADDRESS_FIELD_LENGTHS,
    "Mobile_Phone_No": 30,
    "Fax_No": 30,
    "Pager": 30,
}
# BC's integration table filter of CONTACT: active contacts whose parent is an account.
SALES_CONTACTS_OF_ACCOUNTS = "_parentcustomerid_value ne null and statecode eq 0 and parentcustomeridtype eq 'account'"

CONTACT = Mapping(
    name="CONTACT",
    task_id="contact",
    # Persons of a company only (BC's table filter); those whose company is no customer's are left
    # out by the transform. The ContactCard page, not API v2.0 contacts: the API has no first name,
    # middle name, surname, fax, pager or currency, which the mapping synchronizes both ways.
    source=Source(
        "ContactCard",
        key="SystemId",
        modified="SystemModifiedAt",
        web_service=True,
        filter="Type eq 'Person' and Company_No ne ''",
    ),
    target=Target("contacts", "contactid", filter=SALES_CONTACTS_OF_ACCOUNTS),
    transform="include.bc_sales_sync.transforms.contacts:persons_to_contacts",
    fields=(
        FieldMap("firstname", source="First_Name", direction=BOTH),
        FieldMap("middlename", source="Middle_Name", direction=BOTH),
        FieldMap("lastname", source="Surname", direction=BOTH),
        FieldMap("address1_line1", source="Address", direction=BOTH),
        FieldMap("address1_line2", source="Address_2", direction=BOTH),
        FieldMap("address1_postalcode", source="Post_Code", direction=BOTH),
        FieldMap("address1_city", source="City", direction=BOTH),
        FieldMap("address1_country", source="Country_Region_Code", direction=BOTH),
        FieldMap("address1_stateorprovince", source="County", direction=BOTH),
        FieldMap("emailaddress1", source="E_Mail", direction=BOTH),
        FieldMap("fax", source="Fax_No", direction=BOTH),
        FieldMap("websiteurl", source="Home_Page", direction=BOTH),
        FieldMap("mobilephone", source="Mobile_Phone_No", direction=BOTH),
        FieldMap("pager", source="Pager", direction=BOTH),
        FieldMap("telephone1", source="Phone_No", direction=BOTH),
    ),
    direction=BOTH,
    # BC: CUSTOMER|VENDOR; vendors are not synchronized by this project, so neither are their contacts.
    dependencies=("CUSTOMER",),
    lookups=("customer_companies", "salespeople", "currencies", "local_currency"),
    inactivity_timeout_minutes=720,
    # The same page: one request per contact (a web service has no $batch), for the fields the API lacks.
    write_back=WriteBack("ContactCard", key="No", id_field="SystemId", web_service=True, modified="SystemModifiedAt"),
    reverse_transform="include.bc_sales_sync.transforms.reverse:contacts_to_persons",
    options={
        "extra_source_fields": ["No", "Name", "Type", "Company_No", "Salesperson_Code", "Currency_Code"],
        "customer_relation_code": "CUST",
        "from_crm_columns": ["fullname", "_parentcustomerid_value", "_transactioncurrencyid_value"],
        "from_crm_bc_fields": ["Type", "Company_No", "Currency_Code"],
        "from_crm_lookups": ["customer_companies", "currencies", "local_currency_code"],
        "from_crm_label": "contact",
        "bc_field_lengths": CONTACT_FIELD_LENGTHS,
    },
)

OPEN_OPPORTUNITIES = "Status eq 'Not Started' or Status eq 'In Progress'"

OPPORTUNITY = Mapping(
    name="OPPORTUNITY",
    task_id="opportunity",
    # The Opportunities page, not API v2.0 opportunities: the API has no Contact Company No.
    source=Source(
        "Opportunities", key="SystemId", modified="SystemModifiedAt", web_service=True, filter=OPEN_OPPORTUNITIES
    ),
    target=Target("opportunities", "opportunityid"),
    transform="include.bc_sales_sync.transforms.opportunities:opportunities_to_opportunities",
    fields=(
        FieldMap("name", source="Description", direction=BOTH),
        FieldMap("estimatedvalue", source="Estimated_Value_LCY"),
        FieldMap("estimatedclosedate", source="Estimated_Closing_Date"),
    ),
    direction=BOTH,
    dependencies=("CONTACT",),
    lookups=("person_contacts", "customer_companies", "salespeople", "local_currency"),
    # BC creates no job queue entry for OPPORTUNITY: its task skips unless a run names it, or the
    # override {"OPPORTUNITY": {"enabled": true}} switches it on.
    enabled=False,
    write_back=WriteBack("Opportunities", key="No", id_field="SystemId", web_service=True, modified="SystemModifiedAt"),
    options={
        "extra_source_fields": ["No", "Contact_No", "Contact_Company_No", "Salesperson_Code", "Status"],
        "from_crm_label": "opportunity",
        "bc_field_lengths": {"Description": 100},
    },
)

PREREQUISITE_MAPPINGS: tuple[Mapping, ...] = (SALESPEOPLE, CURRENCY, CUSTOMER, CONTACT, OPPORTUNITY)

# -- price lists and invoices (bc_sales_sync, after the products) ---------------------------------

CURRENCY_PRICE_LIST_NAME = "Price List in {code}"

CUSTPRCGRP_PRICE = Mapping(
    name="CUSTPRCGRP-PRICE",
    task_id="customer_price_group",
    source=Source("CustomerPriceGroups", key="SystemId", modified="SystemModifiedAt", web_service=True),
    target=Target("pricelevels", "pricelevelid", match_on=("name",)),
    transform="include.bc_sales_sync.transforms.prices:price_groups_to_price_lists",
    fields=(FieldMap("name", source="Code"), FieldMap("description", source="Description")),
    dependencies=("CURRENCY", "ITEM-PRODUCT"),
    lookups=("price_group_currencies", "price_lists", "price_groups", "currencies", "local_currency"),
)

SALESPRC_PRODPRICE = Mapping(
    name="SALESPRC-PRODPRICE",
    task_id="sales_price",
    source=Source(
        "SalesPrices",
        key="SystemId",
        modified="SystemModifiedAt",
        web_service=True,
        filter="Sales_Type eq 'Customer Price Group' and Sales_Code ne ''",
    ),
    # An uncoupled price list item with the same price list, product and unit is reused.
    target=Target(
        "productpricelevels",
        "productpricelevelid",
        match_on=("_pricelevelid_value", "_productid_value", "_uomid_value"),
    ),
    transform="include.bc_sales_sync.transforms.prices:sales_prices_to_price_list_items",
    fields=(
        FieldMap("productnumber", source="Item_No"),
        FieldMap("amount", source="Unit_Price"),
        FieldMap("pricingmethodcode", constant=1),
        FieldMap("quantitysellingcode", constant=1, insert_only=True),
    ),
    dependencies=("CUSTPRCGRP-PRICE", "ITEM-PRODUCT"),
    lookups=(
        "price_lists",
        "price_groups",
        "products",
        "units",
        "currencies",
        "local_currency",
        "price_list_items",
        "couplings:SALESPRC-PRODPRICE",
    ),
    options={"extra_source_fields": ["Sales_Code", "Starting_Date", "Currency_Code", "Unit_of_Measure_Code"]},
)

# Posted invoices only: drafts ("Draft", "In Review") are documents still being edited.
POSTED_INVOICES = "status eq 'Open' or status eq 'Paid' or status eq 'Canceled' or status eq 'Corrective'"

POSTEDSALESINV_INV = Mapping(
    name="POSTEDSALESINV-INV",
    task_id="posted_sales_invoice",
    source=Source("salesInvoices", filter=POSTED_INVOICES, expand=("salesInvoiceLines",)),
    target=Target("invoices", "invoiceid"),
    transform="include.bc_sales_sync.transforms.invoices:posted_invoices_to_invoices",
    fields=(
        FieldMap("invoicenumber", source="number"),
        FieldMap("name", source="number"),
        FieldMap("duedate", source="dueDate"),
        FieldMap("billto_name", source="billToName"),
        FieldMap("billto_line1", source="billToAddressLine1"),
        FieldMap("billto_line2", source="billToAddressLine2"),
        FieldMap("billto_city", source="billToCity"),
        FieldMap("billto_country", source="billToCountry"),
        FieldMap("billto_postalcode", source="billToPostCode"),
        FieldMap("billto_stateorprovince", source="billToState"),
        FieldMap("shipto_name", source="shipToName"),
        FieldMap("shipto_line1", source="shipToAddressLine1"),
        FieldMap("shipto_line2", source="shipToAddressLine2"),
        FieldMap("shipto_city", source="shipToCity"),
        FieldMap("shipto_country", source="shipToCountry"),
        FieldMap("shipto_postalcode", source="shipToPostCode"),
        FieldMap("shipto_stateorprovince", source="shipToState"),
        FieldMap("totalamountlessfreight", source="totalAmountExcludingTax"),
        FieldMap("totalamount", source="totalAmountIncludingTax"),
        FieldMap("discountamount", source="discountAmount"),
    ),
    dependencies=("CUSTOMER", "SALESPEOPLE", "CURRENCY", "ITEM-PRODUCT", "RESOURCE-PRODUCT"),
    lookups=(
        "couplings:CUSTOMER",
        "salespeople",
        "currencies",
        "products",
        "price_lists",
        "price_list_items",
        "local_currency",
        "default_price_list",
    ),
    options={
        # An invoice paid or canceled in Sales is not sent again (facts §8.3); the payment status
        # job keeps its state.
        "update_only_when": {"statecode": 0},
        "extra_source_fields": [
            "customerId",
            "customerNumber",
            "customerName",
            "salesperson",
            "currencyCode",
            "pricesIncludeTax",
            "remainingAmount",
        ],
    },
)

SALES_MAPPINGS: tuple[Mapping, ...] = (
    UNIT_OF_MEASURE,
    RESOURCE_PRODUCT,
    ITEM_PRODUCT,
    CUSTPRCGRP_PRICE,
    SALESPRC_PRODPRICE,
    POSTEDSALESINV_INV,
)

DEFAULT_MAPPINGS: tuple[Mapping, ...] = (*PREREQUISITE_MAPPINGS, *SALES_MAPPINGS)

# -- the DAGs -------------------------------------------------------------------------------------

# The DAG that runs each mapping. The one list of jobs: the DAG files, the dev runner and the tests
# read it; a mapping added here is a task of its DAG.
DAG_MAPPINGS: dict[str, tuple[Mapping, ...]] = {
    "bc_dataverse_sync": PREREQUISITE_MAPPINGS,
    "bc_sales_sync": SALES_MAPPINGS,
}


def jobs_for_dag(dag_id: str) -> list[Mapping]:
    """The mappings of ``dag_id`` in the order they run: each after the mappings of the same DAG it
    depends on, and otherwise in catalogue order (the documented order of the jobs).

    Dependencies on another DAG's mappings do not order tasks: those records fail alone until the
    other DAG has coupled what they refer to, and are retried.

    :raises MappingError: a dependency names no mapping, or the dependencies form a cycle.
    """
    known = {m.name for mappings in DAG_MAPPINGS.values() for m in mappings}
    pending = list(DAG_MAPPINGS[dag_id])
    names = {m.name for m in pending}
    ordered: list[Mapping] = []
    while pending:
        placed = {m.name for m in ordered}
        for mapping in pending:
            unknown = sorted(set(mapping.dependencies) - known)
            if unknown:
                raise MappingError(f"Mapping {mapping.name} depends on unknown mapping(s) {unknown}.")
            if set(mapping.dependencies) & names <= placed:
                break
        else:
            raise MappingError(f"The dependencies of {sorted(m.name for m in pending)} form a cycle.")
        ordered.append(mapping)
        pending.remove(mapping)
    return ordered

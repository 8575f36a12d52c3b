"""POSTEDSALESINV-INV: a posted BC sales invoice becomes a Sales invoice with its lines (facts §2.9, §8.3, §11).

Header: the account coupled to the sell-to customer, the owner coupled to the salesperson (a blank
salesperson leaves the owner alone), the currency (blank = local) and the price list of that
currency: the default price list for the local currency, otherwise an active price list in the
currency (``Price List in <code>`` first), created when there is none. Addresses, due date and
amounts are copied; as BC does after the lines are written, the totals are set (tax = total -
total less freight, total discount = invoice discount + line discounts, no freight) and the state
follows the remaining amount: nothing paid = Active/Billed, part paid = Paid/Partial, all paid =
Paid/Complete. An invoice that is no longer Active in Sales (paid or canceled) is not sent again
(facts §8.3): the mapping's ``update_only_when`` leaves it alone, and its state follows the
payment status job.

Lines become invoice products: a line for a coupled item or resource refers to its product and
unit; any other line with an amount (a G/L account, a charge) is a write-in product named
``<No.> <Description>.``; comment lines and lines without quantity or amount carry nothing and
are left out. A product on a line that is missing from a non-default invoice price list is added
to it at the line's price. Any missing dependency (customer, salesperson, currency, item or
resource not coupled yet) fails the invoice with a message saying what to run; it is retried on
the next run.
"""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import CURRENCY_PRICE_LIST_NAME
from include.bc_sales_sync.transforms.base import (
    ErrorCollector,
    TargetRows,
    TransformContext,
    TransformResult,
    apply_field_maps,
    as_bool,
    bind,
    clean,
    deterministic_id,
    deterministic_ids,
    insert_only_columns,
    numbers,
    text,
    without,
)
from include.bc_sales_sync.transforms.references import (
    CURRENCY_COLUMNS,
    PRICE_LIST_COLUMNS,
    PRICE_LIST_ITEM_COLUMNS,
    PRODUCT_COLUMNS,
    SALESPEOPLE_COLUMNS,
    bc_date,
    blank_to_none,
    code_of,
    frame,
    not_coupled,
    resolve,
)

LINES = "salesInvoiceLines"
CURRENCY_PRICE_LIST = CURRENCY_PRICE_LIST_NAME
STATE_ACTIVE, STATUS_BILLED = 0, 4
STATE_PAID, STATUS_COMPLETE, STATUS_PARTIAL = 2, 100001, 100002
# Before its state changes, a paid invoice is set back to Active (BC, facts §11): the payment status job.
REOPEN = {"statecode": STATE_ACTIVE, "statuscode": STATUS_BILLED}
PRICING_CURRENCY_AMOUNT = 1
QUANTITY_SELLING_NO_CONTROL = 1
PRODUCT_LINE_TYPES = ("Item", "Resource")
WRITE_IN_MAX = 500
CENT = 0.005
# Written after the lines (Sales recalculates totals when lines change) and, for the state, last:
# once an invoice is paid, neither it nor its lines can change.
FINAL_COLUMNS = (
    "totalamountlessfreight",
    "totalamount",
    "totaltax",
    "freightamount",
    "discountpercentage",
    "totallineitemdiscountamount",
    "totaldiscountamount",
    "statecode",
    "statuscode",
)
ADDRESS_COLUMNS = [
    f"{side}_{part}"
    for side in ("billto", "shipto")
    for part in ("name", "line1", "line2", "city", "country", "postalcode", "stateorprovince")
]


def posted_invoices_to_invoices(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: lookups ``couplings:CUSTOMER``, ``salespeople``, ``currencies``, ``products``,
    ``price_lists`` and ``price_list_items`` (see :mod:`.references`); constants
    ``local_currency_id`` and ``default_price_list_id``."""
    errors = ErrorCollector()
    number = text(src["number"])
    label = "Invoice " + number

    # Customer -> account.
    customer_no = text(src.get("customerNumber", pd.Series("", index=src.index)))
    customer_name = text(src.get("customerName", pd.Series("", index=src.index)))
    accounts = ctx.lookups.get("couplings:CUSTOMER", pd.DataFrame(columns=["bc_id", "crm_id"]))
    accounts = accounts.assign(bc_id=text(accounts["bc_id"]).str.lower())
    account_id = resolve(text(src["customerId"]).str.lower(), accounts, "bc_id", "crm_id")
    no_account = account_id.isna()
    errors.add(
        src.loc[no_account, "bc_id"],
        "customerNumber",
        not_coupled(
            label[no_account],
            "its customer",
            customer_no[no_account] + customer_name[no_account].map(lambda n: f" ({n})" if n else ""),
            "a Sales account",
            "CUSTOMER",
            "invoice",
        ),
    )

    # Salesperson -> owner; blank leaves the owner alone.
    salesperson = code_of(src.get("salesperson", pd.Series("", index=src.index)))
    owner_id = resolve(salesperson, frame(ctx.lookups, "salespeople", SALESPEOPLE_COLUMNS), "code", "systemuserid")
    no_owner = (salesperson != "") & owner_id.isna()
    errors.add(
        src.loc[no_owner, "bc_id"],
        "salesperson",
        not_coupled(
            label[no_owner], "its salesperson", salesperson[no_owner], "a Sales user", "SALESPEOPLE", "invoice"
        ),
    )

    # Currency and price list.
    currency_code = code_of(src.get("currencyCode", pd.Series("", index=src.index)))
    currency_id = resolve(
        currency_code, frame(ctx.lookups, "currencies", CURRENCY_COLUMNS), "code", "transactioncurrencyid"
    )
    currency_id = currency_id.where(currency_code != "", ctx.constants.get("local_currency_id"))
    no_currency = (currency_code != "") & currency_id.isna()
    errors.add(
        src.loc[no_currency, "bc_id"],
        "currencyCode",
        not_coupled(
            label[no_currency], "its currency", currency_code[no_currency], "a Sales currency", "CURRENCY", "invoice"
        ),
    )
    price_list_id, new_lists = _price_lists(currency_code, currency_id, ctx)

    # Header.
    rows = apply_field_maps(src, ctx.mapping)
    for column in ("name", "invoicenumber"):
        if column in rows:
            rows[column] = number
    if "duedate" in rows:
        rows["duedate"] = bc_date(rows["duedate"])
    address = [c for c in ADDRESS_COLUMNS if c in rows]
    for column in address:
        rows[column] = text(rows[column]).str.strip()
    blank_to_none(rows, address)
    rows["customerid_account@odata.bind"] = bind("accounts", account_id)
    rows["ownerid@odata.bind"] = bind("systemusers", owner_id.where(salesperson != "", None))
    rows["transactioncurrencyid@odata.bind"] = bind("transactioncurrencies", currency_id)
    rows["pricelevelid@odata.bind"] = bind("pricelevels", price_list_id)

    lines, line_errors = _lines(src, rows, label, price_list_id, ctx)
    for field_name, part in line_errors:
        errors.add(part["bc_id"], field_name, part["message"])

    line_discounts = lines.groupby("bc_id")["manualdiscountamount"].sum() if not lines.empty else pd.Series(dtype=float)
    line_discount = src["bc_id"].map(line_discounts).fillna(0.0)
    total = numbers(rows.get("totalamount", src.get("totalAmountIncludingTax"))).fillna(0.0)
    less_freight = numbers(rows.get("totalamountlessfreight", src.get("totalAmountExcludingTax"))).fillna(0.0)
    discount = numbers(rows.get("discountamount", src.get("discountAmount"))).fillna(0.0)
    rows["totalamount"] = total
    rows["totalamountlessfreight"] = less_freight
    rows["discountamount"] = discount
    rows["totaltax"] = (total - less_freight).round(2)
    rows["freightamount"] = 0.0
    rows["discountpercentage"] = 0.0
    rows["totallineitemdiscountamount"] = line_discount.round(2)
    rows["totaldiscountamount"] = (discount + line_discount).round(2)
    # An unknown remaining amount counts as nothing paid.
    remaining = numbers(src.get("remainingAmount", pd.Series(None, index=src.index, dtype=float))).fillna(total)
    state, status = invoice_state(remaining, total)
    rows["statecode"] = state
    rows["statuscode"] = status

    error_frame = errors.frame()
    failed = set(error_frame["bc_id"])
    rows = without(rows, failed)
    lines = without(lines, failed)
    requires = _required_rows(rows, lines, new_lists, ctx)
    return TransformResult(
        primary=TargetRows(
            "invoices",
            clean(rows),
            insert_only=insert_only_columns(ctx.mapping),
            final=FINAL_COLUMNS,
            not_null=frozenset({"ownerid@odata.bind"}),
        ),
        children=[
            TargetRows(
                "invoicedetails",
                clean(lines.drop(columns=["pricelevelid", "productid", "uomid"])),
                insert_only=frozenset({"invoiceid@odata.bind"}),
                not_null=frozenset({"productid@odata.bind", "uomid@odata.bind"}),
            )
        ]
        if not lines.empty
        else [],
        errors=error_frame,
        requires=requires,
    )


def invoice_state(remaining: pd.Series, total: pd.Series) -> tuple[pd.Series, pd.Series]:
    """BC's UpdateCRMInvoiceStatusFromEntry: nothing left = Paid/Complete, part left = Paid/Partial,
    all left = Active/Billed."""
    paid = remaining.abs() < CENT
    partial = ~paid & ((remaining - total).abs() >= CENT)
    state = pd.Series(STATE_ACTIVE, index=remaining.index).mask(paid | partial, STATE_PAID)
    status = pd.Series(STATUS_BILLED, index=remaining.index).mask(partial, STATUS_PARTIAL).mask(paid, STATUS_COMPLETE)
    return state, status


def _price_lists(
    currency_code: pd.Series, currency_id: pd.Series, ctx: TransformContext
) -> tuple[pd.Series, pd.DataFrame]:
    """The price list of each invoice, and the price lists that must be created first.

    Local currency: the default price list. Another currency: the active list named
    ``Price List in <code>`` in that currency, else the first active list in it (by name), else a
    new ``Price List in <code>``.
    """
    default_id = ctx.constants.get("default_price_list_id")
    lists = frame(ctx.lookups, "price_lists", PRICE_LIST_COLUMNS)
    active = lists[numbers(lists["statecode"]).fillna(0) == 0].sort_values("name")
    chosen: dict[str, str] = {}
    created = []
    foreign = pd.DataFrame({"code": currency_code, "id": currency_id})
    foreign = foreign[(foreign["code"] != "") & foreign["id"].notna()].drop_duplicates("code")
    for code, cid in zip(foreign["code"], foreign["id"], strict=True):  # one pass per currency, not per record
        name = CURRENCY_PRICE_LIST.format(code=code)
        in_currency = active[active["transactioncurrencyid"] == cid]
        named = in_currency[in_currency["name"] == name]
        if not named.empty:
            chosen[code] = named["pricelevelid"].iloc[0]
        elif not in_currency.empty:
            chosen[code] = in_currency["pricelevelid"].iloc[0]
        else:
            chosen[code] = deterministic_id("PRICE LIST", name)
            created.append({"target_id": chosen[code], "name": name, "currency_id": cid})
    price_list = currency_code.map(chosen).where(currency_code != "", default_id)
    return price_list, pd.DataFrame(created, columns=["target_id", "name", "currency_id"])


def _lines(
    src: pd.DataFrame, header: pd.DataFrame, label: pd.Series, price_list_id: pd.Series, ctx: TransformContext
) -> tuple[pd.DataFrame, list[tuple[str, pd.DataFrame]]]:
    """Invoice products for the invoices' lines, and per-invoice errors (field, frame of bc_id/message)."""
    if LINES not in src:
        return pd.DataFrame(columns=["bc_id", "target_id", "manualdiscountamount"]), []
    exploded = src[["bc_id", "target_id", LINES]].explode(LINES)
    exploded = exploded[exploded[LINES].map(lambda v: isinstance(v, dict))]
    if exploded.empty:
        return pd.DataFrame(columns=["bc_id", "target_id", "manualdiscountamount"]), []
    raw = pd.DataFrame(exploded[LINES].tolist(), index=range(len(exploded)))
    invoice = exploded.index.to_numpy()  # positions in src (the frame's own index labels)
    bc_id = pd.Series(exploded["bc_id"].to_numpy(), index=raw.index)
    invoice_id = pd.Series(exploded["target_id"].to_numpy(), index=raw.index)
    line_label = pd.Series(label.loc[invoice].to_numpy(), index=raw.index)

    kind = text(raw.get("lineType", pd.Series("", index=raw.index)))
    no = text(raw.get("lineObjectNumber", pd.Series("", index=raw.index))).str.strip()
    sequence = numbers(raw.get("sequence", pd.Series(0, index=raw.index))).fillna(0).astype(int)
    what = line_label + ": line " + sequence.astype(str) + no.map(lambda n: f" ({n})" if n else "")
    quantity = numbers(raw.get("quantity")).fillna(0.0)
    unit_price = numbers(raw.get("unitPrice")).fillna(0.0)
    line_discount = numbers(raw.get("discountAmount")).fillna(0.0)
    net = numbers(raw.get("netAmount")).fillna(0.0)
    net_with_tax = numbers(raw.get("netAmountIncludingTax")).fillna(0.0)
    invoice_discount = numbers(raw.get("invoiceDiscountAllocation")).fillna(0.0)

    problems: list[tuple[str, pd.DataFrame]] = []

    def problem(mask: pd.Series, field_name: str, message: pd.Series) -> None:
        if mask.any():
            problems.append((field_name, pd.DataFrame({"bc_id": bc_id[mask], "message": message[mask]})))

    carries_nothing = (kind == "Comment") | ((quantity == 0) & (net == 0) & (line_discount == 0))
    problem(
        quantity < 0,
        "quantity",
        what
        + " has a negative quantity ("
        + quantity.astype(str)
        + "); a Sales invoice product cannot. Post the return as a credit memo in Business Central; the invoice "
        "stays failed until then.",
    )
    problem(
        ~carries_nothing & (quantity == 0),
        "quantity",
        what + " has an amount but no quantity; a Sales invoice product needs a quantity above 0.",
    )

    # Items and resources must be coupled products that are active (BC: not blocked).
    products = frame(ctx.lookups, "products", PRODUCT_COLUMNS)
    keys = products["kind"].astype(str) + "|" + products["number"].astype(str)
    products = products.assign(key=keys)
    key = kind + "|" + no
    is_product = kind.isin(PRODUCT_LINE_TYPES) & (no != "") & ~carries_nothing
    product_id = resolve(key, products, "key", "productid").where(is_product, None)
    unit_id = resolve(key, products, "key", "uomid").where(is_product, None)
    product_state = numbers(resolve(key, products, "key", "statecode")).fillna(0)
    job = kind.map({"Item": "ITEM-PRODUCT", "Resource": "RESOURCE-PRODUCT"})
    missing = is_product & product_id.isna()
    problem(
        missing,
        "lineObjectNumber",
        what
        + ": "
        + kind.str.lower()
        + " "
        + no
        + " is not coupled to a Sales product yet. Run the "
        + job
        + " job (or fix its errors); the invoice is retried on the next run.",
    )
    retired = is_product & product_id.notna() & (product_state != 0)
    problem(
        retired,
        "lineObjectNumber",
        what
        + ": "
        + kind.str.lower()
        + " "
        + no
        + " is blocked (its Sales product is retired), and a Sales invoice product must refer to an active product. "
        "Unblock it in Business Central and run the " + job + " job; the invoice is retried on the next run.",
    )

    # Money: as BC computes it from the line's net amounts (facts §8.3).
    prices_include_tax = pd.Series(
        as_bool(src.get("pricesIncludeTax", pd.Series(False, index=src.index))).loc[invoice].to_numpy(),
        index=raw.index,
    )
    tax = (net_with_tax - net).round(2)
    per_unit_tax = (tax / quantity.where(quantity != 0)).round(2).fillna(0.0)
    price = unit_price.where(~prices_include_tax, (unit_price - per_unit_tax).round(2))
    description = text(raw.get("description", pd.Series("", index=raw.index))).str.strip()
    write_in = ~is_product
    lines = pd.DataFrame(
        {
            "bc_id": bc_id,
            "target_id": deterministic_ids(
                f"{ctx.mapping.name}|line", text(raw.get("id", bc_id + "|" + sequence.astype(str)))
            ),
            "invoiceid@odata.bind": bind("invoices", invoice_id),
            "productid@odata.bind": bind("products", product_id),
            "uomid@odata.bind": bind("uoms", unit_id),
            "isproductoverridden": write_in,
            "productdescription": write_in_name(no, description).where(write_in, None),
            "quantity": quantity,
            "priceperunit": price,
            "ispriceoverridden": True,
            "manualdiscountamount": line_discount,
            "volumediscountamount": 0.0,
            "tax": tax,
            "baseamount": (net + invoice_discount + line_discount).round(2),
            "extendedamount": (net_with_tax + invoice_discount).round(2),
            "lineitemnumber": sequence,
            "actualdeliveryon": bc_date(raw.get("shipmentDate", pd.Series("", index=raw.index))),
            # for the price list items an invoice may need (dropped before writing)
            "pricelevelid": pd.Series(price_list_id.loc[invoice].to_numpy(), index=raw.index),
            "productid": product_id,
            "uomid": unit_id,
        }
    )
    for column in [c for c in ADDRESS_COLUMNS if c.startswith("shipto_")]:
        if column in header:  # the header's ship-to address, as BC copies it to each line
            lines[column] = header[column].loc[invoice].to_numpy()
    lines = lines[~carries_nothing]
    return lines, problems


def write_in_name(no: pd.Series, description: pd.Series) -> pd.Series:
    """BC's name of a write-in product: ``<No.> <Description>.`` (no second full stop)."""
    name = (no + " " + description).str.strip()
    return name.where(name.str.endswith("."), name + ".").str[:WRITE_IN_MAX]


def _required_rows(
    header: pd.DataFrame, lines: pd.DataFrame, new_lists: pd.DataFrame, ctx: TransformContext
) -> list[TargetRows]:
    """Price lists to create, then items the invoices' products lack on a non-default price list."""
    out = []
    used = set(header["pricelevelid@odata.bind"].dropna())
    new_lists = new_lists[new_lists["target_id"].map(lambda i: f"/pricelevels({i})" in used)]
    if not new_lists.empty:
        out.append(
            TargetRows(
                "pricelevels",
                clean(
                    pd.DataFrame(
                        {
                            "bc_id": None,
                            "target_id": new_lists["target_id"],
                            "name": new_lists["name"],
                            "description": "Created by the Business Central synchronization for invoices in this "
                            "currency.",
                            "transactioncurrencyid@odata.bind": bind("transactioncurrencies", new_lists["currency_id"]),
                        }
                    )
                ),
            )
        )
    if lines.empty:
        return out
    default_id = ctx.constants.get("default_price_list_id")
    have = frame(ctx.lookups, "price_list_items", PRICE_LIST_ITEM_COLUMNS)
    wanted = lines[lines["productid"].notna() & (lines["priceperunit"] > 0) & (lines["pricelevelid"] != default_id)]
    wanted = wanted.drop_duplicates(["pricelevelid", "productid", "uomid"])
    if not have.empty and not wanted.empty:
        known = wanted[["pricelevelid", "productid", "uomid"]].merge(
            have[PRICE_LIST_ITEM_COLUMNS].astype(str).drop_duplicates(), how="left", indicator=True
        )
        wanted = wanted[(known["_merge"] == "left_only").to_numpy()]
    if wanted.empty:
        return out
    items = pd.DataFrame(
        {
            "bc_id": None,
            "target_id": [
                deterministic_id(ctx.mapping.name, "price list item", p, q, u)
                for p, q, u in zip(wanted["pricelevelid"], wanted["productid"], wanted["uomid"], strict=True)
            ],
            "pricelevelid@odata.bind": bind("pricelevels", wanted["pricelevelid"]).to_numpy(),
            "productid@odata.bind": bind("products", wanted["productid"]).to_numpy(),
            "uomid@odata.bind": bind("uoms", wanted["uomid"]).to_numpy(),
            "amount": wanted["priceperunit"].to_numpy(),
            "pricingmethodcode": PRICING_CURRENCY_AMOUNT,
            "quantitysellingcode": QUANTITY_SELLING_NO_CONTROL,
        }
    )
    out.append(TargetRows("productpricelevels", clean(items)))
    return out

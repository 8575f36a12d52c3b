"""Generated data sets for load tests and benchmarks: ``--generate items=100000,invoices=20000``.

Deterministic (a seeded ``random.Random`` per kind and count) and loaded in bulk. Generated
records reference the seeded or generated records they need; on an empty company the setup
they depend on (units of measure, tax groups, currencies, ...) is loaded first.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator

from include.sandbox.bc import ledger
from include.sandbox.bc import seed as s
from include.sandbox.bc import tables as t
from include.sandbox.bc.records import increment
from include.sandbox.store import Store

GENERATED_TIME = dt.datetime(2025, 6, 2, 6, 0, tzinfo=dt.UTC)

CITIES = [
    "OSLO",
    "LISBON",
    "VIENNA",
    "DUBLIN",
    "PRAGUE",
    "MADRID",
    "HELSINKI",
    "GENEVA",
    "BRUGES",
    "PORTO",
    "BERGEN",
    "SEVILLA",
    "TURIN",
    "KRAKOW",
    "MALMO",
    "GHENT",
    "BASEL",
    "LYON",
    "RIGA",
    "TALLINN",
]
PRODUCTS = [
    ("Executive Desk", "DESK", 890.0),
    ("Standing Desk", "DESK", 720.0),
    ("Guest Chair", "CHAIR", 185.0),
    ("Swivel Chair", "CHAIR", 210.0),
    ("Conference Table", "TABLE", 640.0),
    ("Coffee Table", "TABLE", 240.0),
    ("Mobile Pedestal", "STORAGE", 275.0),
    ("Filing Cabinet", "STORAGE", 330.0),
    ("Bookcase", "STORAGE", 260.0),
    ("Floor Lamp", "LIGHTING", 95.0),
    ("Desk Lamp", "LIGHTING", 49.0),
    ("Whiteboard", "STORAGE", 410.0),
]
FINISHES = ["black", "white", "walnut", "oak", "beech", "anthracite", "red", "blue", "green", "grey", "sand", "teal"]
COMPANY_WORDS = [
    "Northwind",
    "Contoso",
    "Proseware",
    "Lucerne",
    "Woodgrove",
    "Fourth Coffee",
    "Margie's",
    "Blue Yonder",
    "Humongous",
    "Lamna",
    "Wingtip",
    "Southridge",
    "VanArsdel",
    "Datum",
    "Bellows",
    "Consolidated",
]
COMPANY_NOUNS = [
    "Office Supplies",
    "Interiors",
    "Hospitality",
    "Design Studio",
    "Architects",
    "Workplace Solutions",
    "Trading",
    "Furnishings",
    "Logistics",
    "Medical Centre",
    "Law Offices",
    "Academy",
]
COMPANY_SUFFIX = ["Ltd.", "Inc.", "GmbH", "B.V.", "LLC", "S.A.", "AG", "Corp."]
FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Eva",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Lukas",
    "Mara",
    "Nico",
    "Olga",
    "Pablo",
    "Rosa",
    "Sven",
    "Tara",
    "Uwe",
]
LAST = [
    "Andersen",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Keller",
    "Larsen",
    "Moreau",
    "Novak",
    "Olsen",
    "Peters",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Weber",
]
PLACES = [
    ("Hamburg", "", "DE", "20095", "EUR"),
    ("Rotterdam", "", "NL", "3011", "EUR"),
    ("Leeds", "", "GB", "LS1 4DT", "GBP"),
    ("Austin", "TX", "US", "78701", ""),
    ("Denver", "CO", "US", "80202", ""),
    ("Boston", "MA", "US", "02110", ""),
    ("Phoenix", "AZ", "US", "85004", ""),
    ("Toronto", "ON", "CA", "M5H 2N2", "CAD"),
    ("Seattle", "WA", "US", "98101", ""),
    ("Lyon", "", "FR", "69002", "EUR"),
]


def _time(n: int, step_seconds: float = 1.5) -> str:
    moment = GENERATED_TIME + dt.timedelta(seconds=n * step_seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ensure_setup(store: Store) -> None:
    """On an empty company, load the setup generated records refer to (as the demo seed has it)."""
    if store.count("UnitOfMeasure"):
        return
    demo = Store(t.TABLES)  # load the demo company in memory and copy its setup tables
    s.load(demo, "demo")
    for table in (
        "UnitOfMeasure",
        "ItemCategory",
        "TaxGroup",
        "PaymentTerms",
        "ShipmentMethod",
        "Currency",
        "SalespersonPurchaser",
        "CustomerPriceGroup",
        "GLAccount",
        "Vendor",
    ):
        rows = [{k: v for k, v in r.items() if k != "_version"} for r in demo.iter_rows(table)]
        store.insert_many(table, rows)
    demo.close()


def _items(store: Store, count: int, rng: random.Random) -> Iterator[dict]:
    units = {"Inventory": "PCS", "Service": "HOUR", "Non-Inventory": "BOX"}
    unit_ids = {c: t.record_id("UnitOfMeasure", c) for c in units.values()}
    category_ids = {c: t.record_id("ItemCategory", c) for _, c, _ in PRODUCTS} | {
        "SERVICES": t.record_id("ItemCategory", "SERVICES")
    }
    tax_ids = {c: t.record_id("TaxGroup", c) for c in ("LABOR", "FURNITURE")}
    group_ids = {c: t.record_id("Gen_Prod_Posting_Group", c) for c in ("SERVICES", "RETAIL")}
    resale_id = t.record_id("Inventory_Posting_Group", "RESALE")
    vendors = [r["No"] for r in store.iter_rows("Vendor", select=["No"])] or [""]
    choice, uniform, randrange = rng.choice, rng.uniform, rng.randrange
    # Only columns with a value other than the default are given: the store fills in the rest.
    for n in range(count):
        no = f"GI{100001 + n}"
        kind = "Inventory" if n % 20 else choice(["Service", "Non-Inventory"])
        product, category, base = choice(PRODUCTS)
        if kind == "Service":
            description, category, base = f"{choice(CITIES)} {product} Assembly Service", "SERVICES", 65.0
        else:
            description = f"{choice(CITIES)} {product}, {choice(FINISHES)}"
        price = round(base * uniform(0.75, 1.6), 1)
        unit = units[kind]
        tax = "LABOR" if kind == "Service" else "FURNITURE"
        group = "SERVICES" if kind == "Service" else "RETAIL"
        stamp = _time(n)
        row = {
            "SystemId": t.record_id("Item", no),
            "No": no,
            "Description": description,
            "Type": kind,
            "Item_Category_Code": category,
            "Item_Category_Id": category_ids[category],
            "Base_Unit_of_Measure": unit,
            "Unit_of_Measure_Id": unit_ids[unit],
            "Unit_Price": price,
            "Unit_Cost": round(price * uniform(0.55, 0.8), 2),
            "Tax_Group_Code": tax,
            "Tax_Group_Id": tax_ids[tax],
            "Gen_Prod_Posting_Group": group,
            "Gen_Prod_Posting_Group_Id": group_ids[group],
            "SystemCreatedAt": stamp,
            "SystemModifiedAt": stamp,
        }
        if kind == "Inventory":
            row.update(
                Inventory_Posting_Group="RESALE",
                Inventory_Posting_Group_Id=resale_id,
                Unit_Volume=round(uniform(0.02, 2.5), 2),
                Gross_Weight=round(uniform(1, 90), 1),
                Inventory=float(randrange(0, 400)),
            )
        if n % 3 == 0:
            row.update(Vendor_No=choice(vendors), Vendor_Item_No=f"V-{randrange(10000, 99999)}")
        if n % 97 == 96:
            row["Blocked"] = True
        yield row


def _resources(store: Store, count: int, rng: random.Random) -> Iterator[dict]:
    for n in range(count):
        no = f"GR{10001 + n}"
        person = n % 5 != 0
        name = (
            f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if person
            else f"{rng.choice(['Forklift', 'Van', 'Crane', 'Lift'])} {n + 1}"
        )
        price = round(rng.uniform(60, 140), 0) if person else round(rng.uniform(150, 400), 0)
        yield {
            "SystemId": t.record_id("Resource", no),
            "No": no,
            "Name": name,
            "Search_Name": name.upper(),
            "Type": "Person" if person else "Machine",
            "Base_Unit_of_Measure": "HOUR" if person else "DAY",
            "Unit_Price": price,
            "Unit_Cost": round(price * 0.6, 2),
            "Direct_Unit_Cost": round(price * 0.6, 2),
            "Capacity": 160.0 if person else 20.0,
            "Gen_Prod_Posting_Group": "SERVICES",
            "Tax_Group_Code": "LABOR",
            "SystemCreatedAt": _time(n),
            "SystemModifiedAt": _time(n),
        }


def _customers(store: Store, count: int, rng: random.Random) -> Iterator[dict]:
    salespeople = [
        r["Code"] for r in store.iter_rows("SalespersonPurchaser", select=["Code", "Blocked"]) if not r["Blocked"]
    ]
    for n in range(count):
        no = f"GC{100001 + n}"
        city, county, country, post, currency = rng.choice(PLACES)
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_NOUNS)} {rng.choice(COMPANY_SUFFIX)}"
        terms = rng.choice(["14 DAYS", "30 DAYS", "1M(8D)", "CM"])
        group = "EXPORT-EUR" if currency == "EUR" else rng.choice(["RETAIL", "WHOLESALE", ""])
        domain = name.split()[0].lower().replace("'", "")
        yield {
            "SystemId": t.record_id("Customer", no),
            "No": no,
            "Name": name,
            "Address": f"{rng.randrange(1, 400)} {rng.choice(LAST)} Street",
            "City": city,
            "County": county,
            "Country_Region_Code": country,
            "Post_Code": post,
            "Phone_No": f"+1 555 {rng.randrange(1000000, 9999999)}",
            "E_Mail": f"purchasing{n + 1}@{domain}.example",
            "Salesperson_Code": rng.choice(salespeople) if salespeople else "",
            "Credit_Limit_LCY": float(rng.choice([0, 5000, 10000, 25000, 50000])),
            "Tax_Liable": country == "US",
            "Currency_Code": currency,
            "Currency_Id": t.record_id("Currency", currency) if currency else t.EMPTY_GUID,
            "Payment_Terms_Code": terms,
            "Payment_Terms_Id": t.record_id("PaymentTerms", terms),
            "Customer_Price_Group": group,
            "SystemCreatedAt": _time(n),
            "SystemModifiedAt": _time(n),
        }


def _vendors(store: Store, count: int, rng: random.Random) -> Iterator[dict]:
    for n in range(count):
        no = f"GV{10001 + n}"
        city, county, country, post, currency = rng.choice(PLACES)
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(['Manufacturing', 'Wholesale', 'Timber', 'Metalworks'])} {rng.choice(COMPANY_SUFFIX)}"
        yield {
            "SystemId": t.record_id("Vendor", no),
            "No": no,
            "Name": name,
            "City": city,
            "County": county,
            "Country_Region_Code": country,
            "Post_Code": post,
            "Currency_Code": currency,
            "Currency_Id": t.record_id("Currency", currency) if currency else t.EMPTY_GUID,
            "SystemCreatedAt": _time(n),
            "SystemModifiedAt": _time(n),
        }


def _prices(store: Store, count: int, rng: random.Random) -> Iterator[dict]:
    items = [
        r
        for r in store.iter_rows("Item", select=["No", "Unit_Price", "Base_Unit_of_Measure", "Type"])
        if r["Type"] == "Inventory"
    ]
    if not items:
        return
    groups = [("RETAIL", "", 0.97), ("WHOLESALE", "", 0.9), ("EXPORT-EUR", "EUR", 0.86)]
    for n in range(count):
        item = items[n % len(items)]
        group, currency, factor = groups[(n // len(items)) % 3]
        start = (dt.date(2025, 7, 1) + dt.timedelta(days=30 * (n // (3 * len(items))))).isoformat()
        no = item["No"]
        yield {
            "SystemId": t.record_id("SalesPrice", f"{no}/{group}/{start}"),
            "Item_No": no,
            "Sales_Type": "Customer Price Group",
            "Sales_Code": group,
            "Starting_Date": start,
            "Currency_Code": currency,
            "Unit_of_Measure_Code": item["Base_Unit_of_Measure"],
            "Minimum_Quantity": float(rng.choice([0, 0, 5, 10])),
            "Unit_Price": round(item["Unit_Price"] * factor * rng.uniform(0.97, 1.03), 2),
            "Allow_Invoice_Disc": True,
            "Allow_Line_Disc": True,
            "SystemCreatedAt": _time(n),
            "SystemModifiedAt": _time(n),
        }


def _documents(store: Store, count: int, rng: random.Random, kind: str) -> None:
    customers = {r["No"]: r for r in store.iter_rows("Customer") if r["Blocked"] == " "}
    items = {
        r["No"]: {
            "Description": r["Description"],
            "Unit": r["Base_Unit_of_Measure"],
            "Price": r["Unit_Price"],
            "Tax": r["Tax_Group_Code"],
        }
        for r in store.iter_rows(
            "Item", select=["No", "Description", "Base_Unit_of_Measure", "Unit_Price", "Tax_Group_Code", "Blocked"]
        )
        if not r["Blocked"]
    }
    if not customers or not items:
        return
    docs = s.Documents(customers=customers, items=items)
    customer_nos, item_nos = sorted(customers), sorted(items)
    series = "PS-INV" if kind == "Invoice" else "S-ORD"
    series_row = store.find("NoSeries", Code=series)[0]
    number = series_row["Last_No_Used"]
    base = dt.date(2025, 1, 2)
    for n in range(count):
        number = increment(number)
        lines = [
            ("Item", rng.choice(item_nos), float(rng.randrange(1, 20)), None, rng.choice([0, 0, 0, 5, 10]))
            for _ in range(rng.randrange(1, 6))
        ]
        date = (base + dt.timedelta(days=(n * 3) % 360)).isoformat()
        header = docs.add(kind, number, rng.choice(customer_nos), date, lines, posted=kind == "Invoice")
        if kind == "Invoice":
            roll = rng.random()
            if roll < 0.55:
                header.update(Remaining_Amount=0.0, Status="Paid")
            elif roll < 0.65:
                header["Remaining_Amount"] = round(header["Remaining_Amount"] * 0.5, 2)
        header["SystemModifiedAt"] = header["SystemCreatedAt"] = _time(n, 4)
        if len(docs.headers) >= 2000:
            _flush(store, docs)
    _flush(store, docs)
    store.update("NoSeries", series_row["SystemId"], {"Last_No_Used": number}, trusted=True)


def _flush(store: Store, docs: s.Documents) -> None:
    store.insert_many("SalesHeader", s._rows("SalesHeader", docs.headers, 0))
    store.insert_many("SalesLine", s._rows("SalesLine", docs.lines, 0))
    # Posted invoices come with their customer ledger entries, as posting writes them.
    entries = ledger.seed_entries(docs.headers, ledger.next_entry_no(store))
    store.insert_many("CustLedgerEntry", s._rows("CustLedgerEntry", entries, 0))
    docs.headers, docs.lines = [], []


TABLE_OF = {
    "items": "Item",
    "resources": "Resource",
    "customers": "Customer",
    "vendors": "Vendor",
    "prices": "SalesPrice",
}
ROWS: dict[str, Callable[[Store, int, random.Random], Iterator[dict]]] = {
    "vendors": _vendors,
    "customers": _customers,
    "items": _items,
    "resources": _resources,
    "prices": _prices,
}
# Order matters: documents pick from the customers and items generated before them.
GENERATORS = ("vendors", "customers", "items", "resources", "prices", "invoices", "orders")


def generate(store: Store, counts: dict[str, int]) -> None:
    """Add ``counts[kind]`` generated records of each kind in :data:`GENERATORS`."""
    if not any(counts.get(kind) for kind in GENERATORS):
        return
    _ensure_setup(store)
    counts = dict(counts)
    # Documents and prices need customers and items; an empty company gets a few generated ones.
    if (counts.get("invoices") or counts.get("orders")) and not store.count("Customer"):
        counts["customers"] = counts.get("customers") or 50
    if (counts.get("invoices") or counts.get("orders") or counts.get("prices")) and not store.count("Item"):
        counts["items"] = counts.get("items") or 200
    for kind in GENERATORS:
        count = counts.get(kind, 0)
        if not count:
            continue
        rng = random.Random(f"bc-sandbox/{kind}/{count}")
        if kind in ROWS:
            store.insert_many(TABLE_OF[kind], ROWS[kind](store, count, rng))
        else:
            _documents(store, count, rng, "Invoice" if kind == "invoices" else "Order")

"""The demo company: a CRONUS-like data set, the same on every run (fixed ids and timestamps).

``demo`` loads master data, price lists, sales documents, and contacts and opportunities
(:mod:`.seed_crm`); ``empty`` loads only the setup a company always has (number series, and
countries/regions and business relations from :mod:`.seed_setup`). The company itself comes
from the sandbox settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from include.sandbox.bc import ledger, seed_crm, seed_setup
from include.sandbox.bc import tables as t
from include.sandbox.bc.documents import line_amounts, spread_discount
from include.sandbox.bc.records import add_formula, money
from include.sandbox.store import Store

SEED_TIME = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)


def stamp(minutes: float) -> str:
    """A fixed point in time, ``minutes`` after the seed's base time, as BC writes it."""
    return (SEED_TIME + dt.timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


NO_SERIES = [
    ("ITEM", "Items", "70000"),
    ("CUST", "Customers", "C00000"),
    ("VEND", "Vendors", "V00000"),
    ("RES", "Resources", "R0000"),
    ("S-INV", "Sales invoices", "S-INV102200"),
    ("S-ORD", "Sales orders", "S-ORD101000"),
    ("S-QUO", "Sales quotes", "S-QUO1000"),
    ("PS-INV", "Posted sales invoices", "PS-INV103000"),
    ("PAYMENT", "Customer payments", "G02000"),
    ("CONT", "Contacts", "CT000000"),
    ("OPP", "Opportunities", "OP000000"),
]

UNITS = [
    ("PCS", "Piece", "C62", "pcs"),
    ("BOX", "Box", "BX", "box"),
    ("HOUR", "Hour", "HUR", "h"),
    ("DAY", "Day", "DAY", "d"),
    ("KG", "Kilogram", "KGM", "kg"),
    ("SET", "Set", "SET", "set"),
    ("PACK", "Pack", "PK", "pk"),
    ("PALLET", "Pallet", "PF", "pal"),
    ("L", "Liter", "LTR", "l"),
    ("M", "Meter", "MTR", "m"),
]

CATEGORIES = [
    ("FURNITURE", "Office Furniture", ""),
    ("CHAIR", "Office Chairs", "FURNITURE"),
    ("DESK", "Office Desks", "FURNITURE"),
    ("TABLE", "Assorted Tables", "FURNITURE"),
    ("STORAGE", "Storage and Pedestals", "FURNITURE"),
    ("LIGHTING", "Lamps and Lighting", ""),
    ("SUPPLIES", "Office Supplies", ""),
    ("SERVICES", "Installation and Services", ""),
]

TAX_GROUPS = [
    ("FURNITURE", "Taxable Olympic Furniture", 25.0),
    ("SUPPLIES", "Office Supplies, reduced rate", 10.0),
    ("LABOR", "Labor on Job", 25.0),
    ("NONTAXABLE", "Nontaxable", 0.0),
]

PAYMENT_TERMS = [
    ("14 DAYS", "Net 14 days", "14D", "", 0.0),
    ("21 DAYS", "Net 21 days", "21D", "", 0.0),
    ("30 DAYS", "Net 30 days", "30D", "", 0.0),
    ("1M(8D)", "1 Month/2% 8 days", "1M", "8D", 2.0),
    ("CM", "Current Month", "CM", "", 0.0),
    ("COD", "Cash on delivery", "0D", "", 0.0),
]

SHIPMENT_METHODS = [
    ("CIF", "Cost Insurance and Freight"),
    ("CIP", "Carriage and Insurance Paid"),
    ("DDP", "Delivered Duty Paid"),
    ("EXW", "Ex Warehouse"),
    ("FOB", "Free on Board"),
    ("PICKUP", "Pickup at Location"),
]

# code, description, symbol, ISO, decimal places, rounding, local currency per unit
CURRENCIES = [
    ("AUD", "Australian dollar", "$", "AUD", "2:2", 0.01, 0.6612),
    ("CAD", "Canadian dollar", "$", "CAD", "2:2", 0.01, 0.7391),
    ("CHF", "Swiss franc", "CHF", "CHF", "2:2", 0.01, 1.1247),
    ("DKK", "Danish krone", "kr", "DKK", "2:2", 0.01, 0.1457),
    ("EUR", "Euro", "€", "EUR", "2:2", 0.01, 1.0869),
    ("GBP", "Pound Sterling", "£", "GBP", "2:2", 0.01, 1.2702),
    ("JPY", "Japanese yen", "¥", "JPY", "0:0", 1.0, 0.0067),
    ("SEK", "Swedish krona", "kr", "SEK", "2:2", 0.01, 0.0951),
]

EXCHANGE_RATES_FROM = "2025-01-01"

SALESPEOPLE = [
    ("JR", "John Roberts", "jr@cronus.example", "+1 425 555 0101", "Sales Manager", 5.0, False),
    ("PS", "Peter Saddow", "ps@cronus.example", "+1 425 555 0102", "Account Manager", 3.0, False),
    ("OF", "Otis Falls", "of@cronus.example", "+1 425 555 0103", "Account Manager", 3.0, False),
    ("BC", "Benjamin Chiu", "bc@cronus.example", "+1 425 555 0104", "Sales Representative", 2.5, False),
    ("RB", "Robin Bettencourt", "rb@cronus.example", "+1 425 555 0105", "Sales Representative", 2.5, False),
    ("LT", "Linda Taylor", "lt@cronus.example", "+1 425 555 0106", "Former Account Manager", 0.0, True),
]

VENDORS = [
    ("10000", "Fabrikam, Inc.", "100 Day Drive", "Atlanta", "GA", "US", "31772", "", "30 DAYS"),
    ("20000", "First Up Consultants", "200 Lake Road", "Chicago", "IL", "US", "61236", "", "14 DAYS"),
    ("30000", "Graphic Design Institute", "10 Kingsway", "London", "", "GB", "WC1 3DG", "GBP", "1M(8D)"),
    ("40000", "Wide World Importers", "51 Radarweg", "Amsterdam", "", "NL", "1043 NX", "EUR", "30 DAYS"),
    ("50000", "Nod Publishers", "21 Bellows Street", "Seattle", "WA", "US", "98109", "", "21 DAYS"),
]

# no, name, address, city, county, country, post code, phone, email, salesperson, currency, terms,
# shipment, price group, tax liable, credit limit, blocked, contact type
# fmt: off
CUSTOMERS = [
    ("10000", "Adatum Corporation", "192 Market Square", "Atlanta", "GA", "US", "31772", "+1 404 555 0110", "robert.townes@adatum.example", "JR", "", "30 DAYS", "EXW", "RETAIL", True, 20000.0, " ", "Company"),
    ("20000", "Trey Research", "153 Thomas Drive", "Chicago", "IL", "US", "61236", "+1 312 555 0120", "helen.ray@treyresearch.example", "OF", "", "14 DAYS", "CIF", "WHOLESALE", True, 50000.0, " ", "Company"),
    ("30000", "School of Fine Art", "10 High Tower Green", "Miami", "FL", "US", "37125", "+1 305 555 0130", "meagan.bond@fineartschool.example", "PS", "", "1M(8D)", "DDP", "RETAIL", True, 15000.0, " ", "Company"),
    ("40000", "Alpine Ski House", "10 Deerfield Road", "Denver", "CO", "US", "80210", "+1 303 555 0140", "ian.deberry@alpineskihouse.example", "JR", "", "30 DAYS", "PICKUP", "", True, 10000.0, " ", "Company"),
    ("50000", "Relecloud", "25 Water Way", "Seattle", "WA", "US", "98109", "+1 206 555 0150", "jesse.homer@relecloud.example", "BC", "", "CM", "FOB", "WHOLESALE", True, 75000.0, " ", "Company"),
    ("60000", "Coho Vineyard & Winery", "Weinbergstraße 12", "Mainz", "", "DE", "55116", "+49 6131 555 0160", "anna.weber@cohovineyard.example", "RB", "EUR", "30 DAYS", "CIP", "EXPORT-EUR", False, 25000.0, " ", "Company"),
    ("61000", "Möbelhaus Grünwald GmbH", "Schillerstraße 7", "München", "", "DE", "80336", "+49 89 555 0161", "einkauf@moebelhaus-gruenwald.example", "RB", "EUR", "14 DAYS", "CIP", "EXPORT-EUR", False, 30000.0, " ", "Company"),
    ("70000", "Tailspin Toys Ltd.", "1 Ealing Broadway", "London", "", "GB", "W5 5JY", "+44 20 5550 0170", "orders@tailspintoys.example", "PS", "GBP", "1M(8D)", "CIF", "", False, 20000.0, " ", "Company"),
    ("80000", "Litware, Inc.", "8 Industrial Park", "Boston", "MA", "US", "02116", "+1 617 555 0180", "ap@litware.example", "BC", "", "30 DAYS", "EXW", "RETAIL", True, 5000.0, "Invoice", "Company"),
    ("90000", "Ellen Fischer", "44 Birch Lane", "Portland", "OR", "US", "97204", "+1 503 555 0190", "ellen.fischer@mail.example", "OF", "", "COD", "PICKUP", "RETAIL", True, 0.0, " ", "Person"),
]

# A customer's Service Management figures (BC FlowFields over service lines, not emulated).
SERVICE_FIGURES = {
    "50000": {
        "Outstanding_Serv_Orders_LCY": 1840.0,
        "Serv_Shipped_Not_Invoiced_LCY": 415.5,
        "Outstanding_Serv_Invoices_LCY": 620.0,
    }
}

# no, description, type, category, base unit, unit price, unit cost, tax group, vendor, vendor item no,
# unit volume, gross weight, net weight, inventory, blocked, gtin
ITEMS = [
    ("1896-S", "ATHENS Desk", "Inventory", "DESK", "PCS", 1000.8, 780.7, "FURNITURE", "30000", "ATH-DSK-01", 0.75, 52.0, 50.0, 48.0, False, "5712345001896"),
    ("1900-S", "PARIS Guest Chair, black", "Inventory", "CHAIR", "PCS", 192.8, 150.4, "FURNITURE", "", "", 0.32, 9.5, 9.0, 120.0, False, "5712345001900"),
    ("1906-S", "ATHENS Mobile Pedestal", "Inventory", "STORAGE", "PCS", 281.4, 219.5, "FURNITURE", "30000", "ATH-PED-02", 0.21, 24.0, 23.0, 35.0, False, ""),
    ("1908-S", "LONDON Swivel Chair, blue", "Inventory", "CHAIR", "PCS", 190.1, 148.3, "FURNITURE", "", "", 0.36, 14.0, 13.2, 64.0, False, ""),
    ("1920-S", "ANTWERP Conference Table", "Inventory", "TABLE", "PCS", 649.4, 506.5, "FURNITURE", "10000", "FAB-ANT-CT", 1.4, 85.0, 82.0, 12.0, False, ""),
    ("1925-W", "Conference Bundle 1-6", "Inventory", "TABLE", "SET", 1219.8, 951.4, "FURNITURE", "", "", 3.3, 142.0, 136.0, 4.0, False, ""),
    ("1928-S", "AMSTERDAM Lamp", "Inventory", "LIGHTING", "PCS", 54.9, 42.8, "FURNITURE", "40000", "WWI-AMS-L1", 0.04, 2.1, 1.8, 210.0, False, ""),
    ("1936-S", "BERLIN Guest Chair, yellow", "Inventory", "CHAIR", "PCS", 192.8, 150.4, "FURNITURE", "", "", 0.32, 9.5, 9.0, 40.0, False, ""),
    ("1953-W", "Guest Section 1", "Inventory", "CHAIR", "SET", 1106.3, 862.9, "FURNITURE", "", "", 1.9, 58.0, 55.0, 6.0, False, ""),
    ("1960-S", "ROME Guest Chair, green", "Inventory", "CHAIR", "PCS", 192.8, 150.4, "FURNITURE", "", "", 0.32, 9.5, 9.0, 22.0, False, ""),
    ("1964-S", "TOKYO Guest Chair, blue", "Inventory", "CHAIR", "PCS", 192.8, 150.4, "FURNITURE", "", "", 0.32, 9.5, 9.0, 18.0, False, ""),
    ("1968-S", "MEXICO Swivel Chair, black", "Inventory", "CHAIR", "PCS", 190.1, 148.3, "FURNITURE", "", "", 0.36, 14.0, 13.2, 30.0, False, ""),
    ("1972-S", "MUNICH Swivel Chair, yellow", "Inventory", "CHAIR", "PCS", 190.1, 148.3, "FURNITURE", "", "", 0.36, 14.0, 13.2, 16.0, False, ""),
    ("1980-S", "MOSCOW Swivel Chair, red", "Inventory", "CHAIR", "PCS", 190.1, 148.3, "FURNITURE", "", "", 0.36, 14.0, 13.2, 0.0, True, ""),
    ("1988-S", "SEOUL Guest Chair, red", "Inventory", "CHAIR", "PCS", 192.8, 150.4, "FURNITURE", "", "", 0.32, 9.5, 9.0, 25.0, False, ""),
    ("1996-S", "ATLANTA Whiteboard, base", "Inventory", "STORAGE", "PCS", 1397.3, 1089.9, "FURNITURE", "", "", 0.9, 31.0, 29.5, 8.0, False, ""),
    ("2000-S", "SYDNEY Swivel Chair, green", "Inventory", "CHAIR", "PCS", 190.1, 148.3, "FURNITURE", "", "", 0.36, 14.0, 13.2, 27.0, False, ""),
    ("2100-S", "Café Tisch Ø80 \u2013 Eiche", "Inventory", "TABLE", "PCS", 459.0, 355.0, "FURNITURE", "40000", "WWI-CAFE-80", 0.5, 21.0, 20.0, 9.0, False, "4012345021000"),
    ("2200-S", "Printer Paper A4, 5 reams", "Non-Inventory", "SUPPLIES", "BOX", 24.5, 17.0, "SUPPLIES", "50000", "NOD-A4-5R", 0.02, 12.5, 12.0, 0.0, False, ""),
    ("8000-S", "Furniture Assembly Service", "Service", "SERVICES", "HOUR", 85.0, 52.0, "LABOR", "", "", 0.0, 0.0, 0.0, 0.0, False, ""),
]
# fmt: on

# no, name, type, base unit, unit price, unit cost, capacity, vendor, job title
RESOURCES = [
    ("LIFT", "Furniture Lift", "Machine", "DAY", 240.0, 150.0, 20.0, "10000", ""),
    ("KATHERINE", "Katherine Hull", "Person", "HOUR", 98.0, 58.0, 160.0, "", "Designer"),
    ("MARTY", "Marty Horst", "Person", "HOUR", 85.0, 49.0, 160.0, "", "Installer"),
    ("TERRY", "Terry Dodds", "Person", "HOUR", 85.0, 49.0, 120.0, "", "Installer"),
    ("LINDA", "Linda Martin", "Person", "DAY", 640.0, 380.0, 20.0, "20000", "Project Consultant"),
]

GL_ACCOUNTS = [
    ("2910", "Bank, Checking", "Posting", "Assets", "Cash", True, "NONTAXABLE"),
    ("6000", "REVENUE", "Heading", "Income", "", False, ""),
    ("6110", "Sales, Retail - Dom.", "Posting", "Income", "Income, Product Sales", True, "FURNITURE"),
    ("6120", "Sales, Retail - EU", "Posting", "Income", "Income, Product Sales", True, "FURNITURE"),
    ("6410", "Consulting Fees - Dom.", "Posting", "Income", "Income, Services", True, "LABOR"),
    ("6620", "Freight Fees Charged", "Posting", "Income", "Income, Services", True, "NONTAXABLE"),
    ("6950", "Other Income, Misc.", "Posting", "Income", "Other Income", True, "NONTAXABLE"),
]

PRICE_GROUPS = [
    ("RETAIL", "Retail customers", False, True, True),
    ("WHOLESALE", "Wholesale and resellers", False, True, False),
    ("EXPORT-EUR", "Export customers in the euro area", False, False, True),
]

# item, sales type, sales code, starting date, currency, unit, minimum quantity, unit price, ending date
SALES_PRICES = [
    ("1896-S", "Customer Price Group", "RETAIL", "2025-01-01", "", "PCS", 0.0, 989.0, ""),
    ("1900-S", "Customer Price Group", "RETAIL", "2025-01-01", "", "PCS", 0.0, 185.0, ""),
    ("1906-S", "Customer Price Group", "RETAIL", "2025-01-01", "", "PCS", 0.0, 270.0, ""),
    ("1920-S", "Customer Price Group", "RETAIL", "2025-01-01", "", "PCS", 0.0, 629.0, ""),
    ("1928-S", "Customer Price Group", "RETAIL", "2025-01-01", "", "PCS", 0.0, 52.5, ""),
    ("1896-S", "Customer Price Group", "WHOLESALE", "2025-01-01", "", "PCS", 5.0, 899.0, ""),
    ("1900-S", "Customer Price Group", "WHOLESALE", "2025-01-01", "", "PCS", 10.0, 169.0, ""),
    ("1908-S", "Customer Price Group", "WHOLESALE", "2025-01-01", "", "PCS", 10.0, 171.0, ""),
    ("1920-S", "Customer Price Group", "WHOLESALE", "2025-01-01", "", "PCS", 2.0, 595.0, ""),
    ("1960-S", "Customer Price Group", "WHOLESALE", "2025-01-01", "", "PCS", 10.0, 172.5, ""),
    ("1896-S", "Customer Price Group", "EXPORT-EUR", "2025-01-01", "EUR", "PCS", 0.0, 915.0, ""),
    ("1900-S", "Customer Price Group", "EXPORT-EUR", "2025-01-01", "EUR", "PCS", 0.0, 176.0, ""),
    ("1906-S", "Customer Price Group", "EXPORT-EUR", "2025-01-01", "EUR", "PCS", 0.0, 257.0, ""),
    ("2100-S", "Customer Price Group", "EXPORT-EUR", "2025-01-01", "EUR", "PCS", 0.0, 419.0, ""),
    ("1968-S", "Customer", "10000", "2025-02-01", "", "PCS", 0.0, 179.0, "2025-12-31"),
    ("1928-S", "All Customers", "", "2025-06-01", "", "PCS", 0.0, 49.9, "2025-08-31"),
    ("1936-S", "Campaign", "CP1001", "2025-03-01", "", "PCS", 0.0, 175.0, "2025-03-31"),
]


def _rows(table: str, rows: Iterable[dict], start: float) -> list[dict]:
    """Give seed rows their fixed ids and timestamps (the store fills in the other defaults)."""
    out = []
    for n, row in enumerate(rows):
        key = row.pop("_key")
        row.setdefault("SystemId", t.record_id(table, key))
        row.setdefault("SystemModifiedAt", stamp(start + n * 7.25))
        row.setdefault("SystemCreatedAt", stamp(start - 60 * 24 * 30))
        out.append(row)
    return out


def _ids(table: str, codes: Iterable[str]) -> dict[str, str]:
    return {c: t.record_id(table, c) for c in codes}


def load_company(store: Store, name: str, local_currency: str) -> None:
    """The company's own information (both seeds): its name and local currency (LCY)."""
    row = {
        "_key": name,
        "Name": name,
        "Address": "5 The Ring",
        "City": "Westminster",
        "Post_Code": "W2 8HG",
        "Country_Region_Code": "GB",
        "Phone_No": "0666-666-6666",
        "E_Mail": "info@cronus.example",
        "Home_Page": "https://cronus.example",
        "Currency_Code": local_currency,
        "Fiscal_Year_Start": "2026-01-01",
    }
    store.insert_many("CompanyInformation", _rows("CompanyInformation", [row], -60 * 24 * 60))


def load(store: Store, seed: str) -> None:
    """Load ``demo`` (the whole demo company) or ``empty`` (number series only) into an empty store."""
    last_used = {code: last for code, _, last in NO_SERIES}
    seed_setup.load(store)
    if seed == "demo":
        _load_demo(store, last_used)
    # The default payment journal exists in every company, as in BC.
    store.insert_many(
        "CustomerPaymentJournal",
        _rows(
            "CustomerPaymentJournal",
            [
                {
                    "_key": "GENERAL",
                    "Code": "GENERAL",
                    "Description": "Payments received",
                    "Bal_Account_No": "2910",
                    "Bal_Account_Id": t.record_id("GLAccount", "2910"),
                }
            ],
            1,
        ),
    )
    store.insert_many(
        "NoSeries",
        _rows(
            "NoSeries",
            (
                {"_key": code, "Code": code, "Description": desc, "Last_No_Used": last_used[code]}
                for code, desc, _ in NO_SERIES
            ),
            0,
        ),
    )


def _load_demo(store: Store, last_used: dict[str, str]) -> None:
    unit_ids = _ids("UnitOfMeasure", (u[0] for u in UNITS))
    category_ids = _ids("ItemCategory", (c[0] for c in CATEGORIES))
    tax_ids = _ids("TaxGroup", (g[0] for g in TAX_GROUPS))
    terms_ids = _ids("PaymentTerms", (p[0] for p in PAYMENT_TERMS))
    shipment_ids = _ids("ShipmentMethod", (s[0] for s in SHIPMENT_METHODS))
    currency_ids = _ids("Currency", (c[0] for c in CURRENCIES))
    put = store.insert_many
    put(
        "UnitOfMeasure",
        _rows(
            "UnitOfMeasure",
            (
                {"_key": c, "Code": c, "Description": d, "International_Standard_Code": iso, "Symbol": s}
                for c, d, iso, s in UNITS
            ),
            0,
        ),
    )
    put(
        "ItemCategory",
        _rows(
            "ItemCategory",
            ({"_key": c, "Code": c, "Description": d, "Parent_Category": p} for c, d, p in CATEGORIES),
            5,
        ),
    )
    put(
        "TaxGroup",
        _rows(
            "TaxGroup",
            ({"_key": c, "Code": c, "Description": d, "Tax_Type": "VAT", "Tax_Percent": p} for c, d, p in TAX_GROUPS),
            8,
        ),
    )
    put(
        "PaymentTerms",
        _rows(
            "PaymentTerms",
            (
                {
                    "_key": c,
                    "Code": c,
                    "Description": d,
                    "Due_Date_Calculation": due,
                    "Discount_Date_Calculation": disc,
                    "Discount_Percent": pct,
                }
                for c, d, due, disc, pct in PAYMENT_TERMS
            ),
            10,
        ),
    )
    put(
        "ShipmentMethod",
        _rows("ShipmentMethod", ({"_key": c, "Code": c, "Description": d} for c, d in SHIPMENT_METHODS), 12),
    )
    put(
        "Currency",
        _rows(
            "Currency",
            (
                {
                    "_key": c,
                    "Code": c,
                    "Description": d,
                    "Symbol": s,
                    "ISO_Code": iso,
                    "Amount_Decimal_Places": places,
                    "Amount_Rounding_Precision": rounding,
                    "Exchange_Rate": rate,
                }
                for c, d, s, iso, places, rounding, rate in CURRENCIES
            ),
            15,
        ),
    )
    # One rate per currency from the start of the year: 1 unit = the standing rate in local currency.
    put(
        "CurrencyExchangeRate",
        _rows(
            "CurrencyExchangeRate",
            (
                {
                    "_key": f"{c}|{EXCHANGE_RATES_FROM}",
                    "Currency_Code": c,
                    "Starting_Date": EXCHANGE_RATES_FROM,
                    "Exchange_Rate_Amount": 1.0,
                    "Adjustment_Exch_Rate_Amount": 1.0,
                    "Relational_Exch_Rate_Amount": rate,
                    "Relational_Adjmt_Exch_Rate_Amt": rate,
                }
                for c, *_, rate in CURRENCIES
            ),
            16,
        ),
    )
    put(
        "SalespersonPurchaser",
        _rows(
            "SalespersonPurchaser",
            (
                {
                    "_key": c,
                    "Code": c,
                    "Name": n,
                    "E_Mail": e,
                    "Phone_No": p,
                    "Job_Title": j,
                    "Commission_Percent": pct,
                    "Blocked": blocked,
                }
                for c, n, e, p, j, pct, blocked in SALESPEOPLE
            ),
            20,
        ),
    )
    put(
        "Vendor",
        _rows(
            "Vendor",
            (
                {
                    "_key": no,
                    "No": no,
                    "Name": name,
                    "Address": addr,
                    "City": city,
                    "County": county,
                    "Country_Region_Code": country,
                    "Post_Code": post,
                    "Currency_Code": cur,
                    "Currency_Id": currency_ids.get(cur, t.EMPTY_GUID),
                    "Payment_Terms_Code": terms,
                    "Payment_Terms_Id": terms_ids[terms],
                    "E_Mail": f"info@{name.split()[0].lower().strip(',')}.example",
                }
                for no, name, addr, city, county, country, post, cur, terms in VENDORS
            ),
            25,
        ),
    )
    put(
        "CustomerPriceGroup",
        _rows(
            "CustomerPriceGroup",
            (
                {
                    "_key": c,
                    "Code": c,
                    "Description": d,
                    "Price_Includes_VAT": inc,
                    "Allow_Invoice_Disc": inv,
                    "Allow_Line_Disc": line,
                }
                for c, d, inc, inv, line in PRICE_GROUPS
            ),
            30,
        ),
    )
    customers = []
    for row in CUSTOMERS:
        (
            no,
            name,
            addr,
            city,
            county,
            country,
            post,
            phone,
            email,
            sp,
            cur,
            terms,
            ship,
            group,
            taxable,
            limit,
            blocked,
            kind,
        ) = row
        customers.append(
            {
                "_key": no,
                "No": no,
                "Name": name,
                "Contact_Type": kind,
                "Address": addr,
                "City": city,
                "County": county,
                "Country_Region_Code": country,
                "Post_Code": post,
                "Phone_No": phone,
                "E_Mail": email,
                "Home_Page": "www." + email.split("@")[1],
                "Salesperson_Code": sp,
                "Credit_Limit_LCY": limit,
                "Tax_Liable": taxable,
                "Tax_Area_Code": "" if not taxable else f"{county or country}-STATE",
                "Tax_Area_Id": t.record_id("Tax_Area_Code", f"{county or country}-STATE") if taxable else t.EMPTY_GUID,
                "Currency_Code": cur,
                "Currency_Id": currency_ids.get(cur, t.EMPTY_GUID),
                "Payment_Terms_Code": terms,
                "Payment_Terms_Id": terms_ids[terms],
                "Shipment_Method_Code": ship,
                "Shipment_Method_Id": shipment_ids[ship],
                "Customer_Price_Group": group,
                "Blocked": blocked,
            }
        )
    for customer in customers:
        customer.update(SERVICE_FIGURES.get(customer["No"], {}))
    put("Customer", _rows("Customer", customers, 40))
    items = []
    for row in ITEMS:
        (
            no,
            desc,
            kind,
            cat,
            unit,
            price,
            cost,
            tax,
            vendor,
            vendor_item,
            volume,
            gross,
            net,
            inventory,
            blocked,
            gtin,
        ) = row
        items.append(
            {
                "_key": no,
                "No": no,
                "Description": desc,
                "Type": kind,
                "Item_Category_Code": cat,
                "Item_Category_Id": category_ids[cat],
                "Base_Unit_of_Measure": unit,
                "Unit_of_Measure_Id": unit_ids[unit],
                "Unit_Price": price,
                "Unit_Cost": cost,
                "Tax_Group_Code": tax,
                "Tax_Group_Id": tax_ids[tax],
                "Gen_Prod_Posting_Group": "RETAIL" if kind != "Service" else "SERVICES",
                "Gen_Prod_Posting_Group_Id": t.record_id(
                    "Gen_Prod_Posting_Group", "RETAIL" if kind != "Service" else "SERVICES"
                ),
                "Inventory_Posting_Group": "RESALE" if kind == "Inventory" else "",
                "Inventory_Posting_Group_Id": t.record_id("Inventory_Posting_Group", "RESALE")
                if kind == "Inventory"
                else t.EMPTY_GUID,
                "Vendor_No": vendor,
                "Vendor_Item_No": vendor_item,
                "Unit_Volume": volume,
                "Gross_Weight": gross,
                "Net_Weight": net,
                "Inventory": inventory,
                "Blocked": blocked,
                "GTIN": gtin,
            }
        )
    put("Item", _rows("Item", items, 60))
    put(
        "Resource",
        _rows(
            "Resource",
            (
                {
                    "_key": no,
                    "No": no,
                    "Name": name,
                    "Search_Name": name.upper(),
                    "Type": kind,
                    "Base_Unit_of_Measure": unit,
                    "Unit_Price": price,
                    "Unit_Cost": cost,
                    "Direct_Unit_Cost": cost,
                    "Capacity": capacity,
                    "Vendor_No": vendor,
                    "Job_Title": title,
                    "Gen_Prod_Posting_Group": "SERVICES",
                    "Tax_Group_Code": "LABOR",
                }
                for no, name, kind, unit, price, cost, capacity, vendor, title in RESOURCES
            ),
            210,
        ),
    )
    put(
        "GLAccount",
        _rows(
            "GLAccount",
            (
                {
                    "_key": no,
                    "No": no,
                    "Name": name,
                    "Account_Type": kind,
                    "Account_Category": cat,
                    "Account_Subcategory": sub,
                    "Direct_Posting": direct,
                    "Tax_Group_Code": tax,
                }
                for no, name, kind, cat, sub, direct, tax in GL_ACCOUNTS
            ),
            230,
        ),
    )
    put(
        "SalesPrice",
        _rows(
            "SalesPrice",
            (
                {
                    "_key": f"{item}/{kind}/{code}/{start}/{cur}/{unit}/{qty:g}",
                    "Item_No": item,
                    "Sales_Type": kind,
                    "Sales_Code": code,
                    "Starting_Date": start,
                    "Currency_Code": cur,
                    "Unit_of_Measure_Code": unit,
                    "Minimum_Quantity": qty,
                    "Unit_Price": price,
                    "Ending_Date": end or t.BLANK_DATE,
                    "Allow_Invoice_Disc": True,
                    "Allow_Line_Disc": True,
                }
                for item, kind, code, start, cur, unit, qty, price, end in SALES_PRICES
            ),
            240,
        ),
    )
    documents = Documents()
    _demo_documents(documents)
    put("SalesHeader", _rows("SalesHeader", documents.headers, 300))
    put("SalesLine", _rows("SalesLine", documents.lines, 300))
    entries = ledger.seed_entries([*documents.headers, *documents.prepayment_invoices], 1)
    put("CustLedgerEntry", _rows("CustLedgerEntry", entries, 300))
    last_used.update(documents.last_used)
    last_used["CONT"] = seed_crm.load(store)
    last_used["OPP"] = seed_crm.OPPORTUNITIES[-1][0]


class Documents:
    """Builds sales documents with BC's amounts, for seeding and generated data."""

    def __init__(self, customers: dict[str, dict] | None = None, items: dict[str, dict] | None = None):
        self.customers = customers or {row[0]: _customer_info(row) for row in CUSTOMERS}
        self.items = items or {row[0]: _item_info(row) for row in ITEMS}
        self.resources = {r[0]: {"Name": r[1], "Unit": r[3], "Price": r[4], "Tax": "LABOR"} for r in RESOURCES}
        self.accounts = {a[0]: {"Name": a[1], "Tax": a[6]} for a in GL_ACCOUNTS}
        self.rates = {c[0]: c[6] for c in CURRENCIES}
        self.taxes = {g[0]: g[2] for g in TAX_GROUPS}
        self.terms = {p[0]: p[2] for p in PAYMENT_TERMS}
        self.headers: list[dict] = []
        self.lines: list[dict] = []
        # Posted prepayment invoices: only their ledger entries exist (the emulator posts none).
        self.prepayment_invoices: list[dict] = []
        self.last_used: dict[str, str] = {}

    def add(
        self,
        kind: str,
        number: str,
        customer_no: str,
        document_date: str,
        lines: list[tuple],
        *,
        posted: bool = False,
        paid: float | None = None,
        status: str | None = None,
        invoice_discount: float = 0.0,
        extra: dict | None = None,
        shipment_no: str = "",
        prepaid_percent: float = 0.0,
    ) -> dict:
        """``lines``: (type, no, quantity, unit price or None, discount percent[, shipped quantity]).

        ``shipment_no``: the lines were taken from that posted shipment (invoices); ``prepaid_percent``:
        this share of each order line was invoiced as a prepayment.
        """
        c = self.customers[customer_no]
        currency = c["Currency_Code"]
        factor = round(1 / self.rates[currency], 6) if currency else 0.0
        doc_id = t.record_id("SalesHeader", f"{kind}/{number}")
        due = ""
        if kind != "Order":
            due = add_formula(
                dt.date.fromisoformat(document_date), self.terms.get(c["Payment_Terms_Code"], "")
            ).isoformat()
        built = []
        for n, spec in enumerate(lines, start=1):
            line_type, no, quantity, price, percent = spec[:5]
            shipped = spec[5] if len(spec) > 5 else (quantity if posted else 0.0)
            if line_type == "Item":
                info = self.items[no]
                description, unit, tax, base_price = info["Description"], info["Unit"], info["Tax"], info["Price"]
                item_id = t.record_id("Item", no)
            elif line_type == "Resource":
                info = self.resources[no]
                description, unit, tax, base_price, item_id = (
                    info["Name"],
                    info["Unit"],
                    info["Tax"],
                    info["Price"],
                    t.EMPTY_GUID,
                )
            else:
                info = self.accounts[no]
                description, unit, tax, base_price, item_id = info["Name"], "", info["Tax"], 0.0, t.EMPTY_GUID
            if price is None:
                price = money(base_price * factor) if factor else base_price
            vat = self.taxes.get(tax, 0.0) if c["Tax_Liable"] else 0.0
            amounts = line_amounts(quantity, price, percent, None, vat)
            built.append(
                {
                    "_key": f"{kind}/{number}/{n}",
                    "Document_Id": doc_id,
                    "Document_Type": kind,
                    "Document_No": number,
                    "Line_No": n * 10000,
                    "Type": line_type,
                    "No": no,
                    "Item_Id": item_id,
                    "Account_Id": t.record_id("GLAccount", no) if line_type == "Account" else t.EMPTY_GUID,
                    "Description": description,
                    "Unit_of_Measure_Code": unit,
                    "Unit_of_Measure_Id": t.record_id("UnitOfMeasure", unit) if unit else t.EMPTY_GUID,
                    "Quantity": quantity,
                    "Unit_Price": price,
                    "Tax_Group_Code": tax,
                    "Quantity_Shipped": shipped,
                    "Quantity_Invoiced": quantity if posted else 0.0,
                    "Qty_to_Ship": quantity - shipped if kind == "Order" else 0.0,
                    "Qty_to_Invoice": quantity if kind == "Order" else 0.0,
                    **amounts,
                }
            )
        nets, totals = spread_discount(built, invoice_discount)
        for line, net in zip(built, nets, strict=True):
            line.update(net)
        self.lines += built
        remaining = totals["Amount_Including_VAT"] if paid is None else money(totals["Amount_Including_VAT"] - paid)
        header = {
            "_key": f"{kind}/{number}",
            "SystemId": doc_id,
            "Document_Type": kind,
            "No": number,
            "Posted": posted,
            "Status": status or ("Draft" if not posted else ("Paid" if remaining == 0 else "Open")),
            "Document_Date": document_date,
            "Posting_Date": document_date if kind != "Quote" else t.BLANK_DATE,
            "Due_Date": due or t.BLANK_DATE,
            "Sell_to_Customer_Id": t.record_id("Customer", customer_no),
            "Sell_to_Customer_No": customer_no,
            "Sell_to_Customer_Name": c["Name"],
            "Bill_to_Customer_Id": t.record_id("Customer", customer_no),
            "Bill_to_Customer_No": customer_no,
            "Bill_to_Name": c["Name"],
            "Ship_to_Name": c["Name"],
            "Phone_No": c["Phone_No"],
            "E_Mail": c["E_Mail"],
            "Currency_Code": currency,
            "Currency_Id": t.record_id("Currency", currency) if currency else t.EMPTY_GUID,
            "Currency_Factor": factor,
            "Payment_Terms_Code": c["Payment_Terms_Code"],
            "Payment_Terms_Id": t.record_id("PaymentTerms", c["Payment_Terms_Code"]),
            "Shipment_Method_Code": c["Shipment_Method_Code"],
            "Shipment_Method_Id": t.record_id("ShipmentMethod", c["Shipment_Method_Code"]),
            "Salesperson_Code": c["Salesperson_Code"],
            "Discount_Applied_Before_Tax": True,
            "Invoice_Discount_Amount": invoice_discount,
            "Remaining_Amount": remaining,
            **totals,
        }
        for column in ("Address", "Address_2", "City", "County", "Country_Region_Code", "Post_Code"):
            for prefix in ("Sell_to_", "Bill_to_", "Ship_to_"):
                header[prefix + column] = c.get(column, "")
        header.update(extra or {})
        for line in built:
            line.update(ledger.line_figures(header, line), Shipment_No=shipment_no)
            if prepaid_percent:
                line["Prepmt_Amount_Inv_LCY"] = ledger.lcy(line["Net_Amount"] * prepaid_percent / 100, factor)
                line["Prepmt_VAT_Amount_Inv_LCY"] = ledger.lcy(line["Net_Tax_Amount"] * prepaid_percent / 100, factor)
        self.headers.append(header)
        return header

    def prepayment_invoice(self, order: dict, number: str, posting_date: str, *, paid: bool = True) -> dict:
        """The posted prepayment invoice of an order's prepaid lines (for its ledger entries)."""
        lines = [line for line in self.lines if line["Document_Id"] == order["SystemId"]]
        amount = money(sum(line.get("Prepmt_Amount_Inv_LCY", 0.0) for line in lines))
        tax = money(sum(line.get("Prepmt_VAT_Amount_Inv_LCY", 0.0) for line in lines))
        invoice = {
            "Document_Type": "Invoice",
            "Posted": True,
            "No": number,
            "Posting_Date": posting_date,
            "Document_Date": posting_date,
            "Due_Date": posting_date,
            "Bill_to_Customer_No": order["Bill_to_Customer_No"],
            "Salesperson_Code": order["Salesperson_Code"],
            "Amount": amount,
            "Amount_Including_VAT": money(amount + tax),
            "Remaining_Amount": 0.0 if paid else money(amount + tax),
        }
        self.prepayment_invoices.append(invoice)
        return invoice


def _customer_info(row: tuple) -> dict:
    _no, name, addr, city, county, country, post, phone, email, sp, cur, terms, ship, _group, taxable = row[:15]
    return {
        "Name": name,
        "Address": addr,
        "City": city,
        "County": county,
        "Country_Region_Code": country,
        "Post_Code": post,
        "Phone_No": phone,
        "E_Mail": email,
        "Salesperson_Code": sp,
        "Currency_Code": cur,
        "Payment_Terms_Code": terms,
        "Shipment_Method_Code": ship,
        "Tax_Liable": taxable,
    }


def _item_info(row: tuple) -> dict:
    return {"Description": row[1], "Unit": row[4], "Price": row[5], "Tax": row[7]}


def _demo_documents(d: Documents) -> None:
    posted = dict(posted=True)
    first = d.add(
        "Invoice",
        "PS-INV103001",
        "10000",
        "2025-01-14",
        [("Item", "1896-S", 2, None, 0), ("Item", "1900-S", 4, None, 0)],
        **posted,
        extra={"External_Document_No": "PO-ADT-4410", "Your_Reference": "Reception refit"},
    )
    first.update(Remaining_Amount=0.0, Status="Paid")  # fully paid
    d.add(
        "Invoice",
        "PS-INV103002",
        "20000",
        "2025-02-03",
        [("Item", "1920-S", 1, None, 0), ("Item", "1908-S", 6, None, 10)],
        **posted,
    )
    d.add(
        "Invoice",
        "PS-INV103003",
        "30000",
        "2025-02-20",
        [("Item", "1906-S", 3, None, 0), ("Item", "1928-S", 10, None, 0)],
        paid=500.0,
        **posted,
    )
    d.add(
        "Invoice",
        "PS-INV103004",
        "60000",
        "2025-03-04",
        [("Item", "1896-S", 1, 915.0, 0), ("Item", "2100-S", 2, 419.0, 0)],
        **posted,
    )
    d.add(
        "Invoice",
        "PS-INV103005",
        "40000",
        "2025-03-18",
        [("Item", "1968-S", 4, None, 0), ("Account", "6410", 1, 1250.0, 0)],
        **posted,
    )
    d.add(
        "Invoice",
        "PS-INV103006",
        "50000",
        "2025-04-07",
        [("Item", "1953-W", 2, None, 5), ("Resource", "KATHERINE", 8, None, 0), ("Resource", "LIFT", 1, None, 0)],
        **posted,
    )
    d.add(
        "Invoice",
        "PS-INV103007",
        "70000",
        "2025-04-22",
        [("Item", "1920-S", 2, 509.0, 0), ("Item", "1936-S", 8, 151.5, 0)],
        **posted,
    )
    d.add(
        "Invoice",
        "PS-INV103008",
        "10000",
        "2025-05-06",
        [("Item", "1996-S", 1, None, 0), ("Item", "1928-S", 6, None, 0), ("Item", "8000-S", 3, None, 0)],
        invoice_discount=100.0,
        **posted,
    )
    d.last_used["PS-INV"] = "PS-INV103008"
    d.add(
        "Invoice",
        "S-INV102201",
        "20000",
        "2025-05-20",
        [("Item", "1900-S", 12, None, 0), ("Item", "1960-S", 6, None, 0)],
    )
    d.add("Invoice", "S-INV102202", "61000", "2025-05-21", [("Item", "1906-S", 2, 257.0, 0)])
    d.add(
        "Order",
        "S-ORD101001",
        "10000",
        "2025-05-12",
        [("Item", "1920-S", 2, None, 0), ("Item", "1900-S", 12, None, 0)],
        status="Open",
        extra={"Requested_Delivery_Date": "2025-06-02", "External_Document_No": "PO-ADT-4502"},
    )
    d.add("Order", "S-ORD101002", "30000", "2025-05-15", [("Item", "1972-S", 5, None, 0)])
    partly_shipped = d.add(
        "Order",
        "S-ORD101003",
        "50000",
        "2025-05-19",
        [("Item", "1896-S", 4, None, 0, 2), ("Item", "1906-S", 4, None, 0, 2)],
        extra={"Partial_Shipping": True},
        prepaid_percent=20.0,
    )
    d.prepayment_invoice(partly_shipped, "PS-PRE1001", "2025-05-20")
    d.last_used["S-ORD"] = "S-ORD101003"
    # Invoicing part of what S-ORD101003 shipped, from its posted shipment (not posted yet).
    d.add(
        "Invoice",
        "S-INV102203",
        "50000",
        "2025-05-27",
        [("Item", "1896-S", 2, None, 0)],
        shipment_no="S-SHP102001",
        extra={"External_Document_No": "RC-SHIP-2001"},
    )
    d.last_used["S-INV"] = "S-INV102203"
    d.add(
        "Quote",
        "S-QUO1001",
        "40000",
        "2025-05-22",
        [("Item", "1925-W", 1, None, 0), ("Item", "1928-S", 4, None, 0)],
        extra={"Valid_Until_Date": "2025-06-21"},
    )
    d.add(
        "Quote",
        "S-QUO1002",
        "20000",
        "2025-05-23",
        [("Item", "1953-W", 3, None, 0)],
        status="Sent",
        extra={"Sent_Date": "2025-05-23", "Valid_Until_Date": "2025-06-22"},
    )
    d.last_used["S-QUO"] = "S-QUO1002"

"""Setup data every company of the sandbox has, demo or empty: countries/regions and business relations."""

from __future__ import annotations

from include.sandbox.bc import crm_tables
from include.sandbox.bc import tables as t
from include.sandbox.store import Store

# code, name, ISO numeric code, EU country/region code, address format
COUNTRIES = [
    ("AT", "Austria", "040", "AT", "Post Code+City"),
    ("AU", "Australia", "036", "", "City+County+Post Code"),
    ("BE", "Belgium", "056", "BE", "Post Code+City"),
    ("CA", "Canada", "124", "", "City+County+Post Code"),
    ("CH", "Switzerland", "756", "", "Post Code+City"),
    ("DE", "Germany", "276", "DE", "Post Code+City"),
    ("DK", "Denmark", "208", "DK", "Post Code+City"),
    ("ES", "Spain", "724", "ES", "Post Code+City"),
    ("FR", "France", "250", "FR", "Post Code+City"),
    ("GB", "United Kingdom", "826", "", "City+Post Code"),
    ("IT", "Italy", "380", "IT", "Post Code+City"),
    ("JP", "Japan", "392", "", "City+Post Code"),
    ("MX", "Mexico", "484", "", "City+County+Post Code"),
    ("NL", "Netherlands", "528", "NL", "Post Code+City"),
    ("NO", "Norway", "578", "", "Post Code+City"),
    ("SE", "Sweden", "752", "SE", "Post Code+City"),
    ("US", "USA", "840", "", "City+County+Post Code"),
]

# code, description: the customers' and vendors' codes are Marketing Setup's "Bus. Rel. Code for ..."
BUSINESS_RELATIONS = [
    (crm_tables.CUSTOMER_RELATION, "Customer"),
    (crm_tables.VENDOR_RELATION, "Vendor"),
    ("BANK", "Bank"),
    ("PROS", "Prospect"),
]

SETUP_TIME = "2025-01-02T08:00:00.000Z"


def load(store: Store) -> None:
    """Countries/regions (what address fields relate to) and business relations."""
    store.insert_many(
        "CountryRegion",
        (
            {
                "SystemId": t.record_id("CountryRegion", code),
                "SystemCreatedAt": SETUP_TIME,
                "SystemModifiedAt": SETUP_TIME,
                "Code": code,
                "Name": name,
                "ISO_Code": code,
                "ISO_Numeric_Code": numeric,
                "EU_Country_Region_Code": eu,
                "Address_Format": address_format,
            }
            for code, name, numeric, eu, address_format in COUNTRIES
        ),
    )
    store.insert_many(
        "BusinessRelation",
        (
            {
                "SystemId": t.record_id("BusinessRelation", code),
                "SystemCreatedAt": SETUP_TIME,
                "SystemModifiedAt": SETUP_TIME,
                "Code": code,
                "Description": description,
            }
            for code, description in BUSINESS_RELATIONS
        ),
    )

"""The default mappings, as BC's "reset to default configuration" writes them (facts §2).

Field names on the BC side are those of the API v2.0 entity or the published web service the
mapping reads; on the Sales side, Dataverse column names. Rules beyond a plain copy (unit group
names, product types, negative values, states, price list items) live in the transforms.
"""

from __future__ import annotations

from include.bc_sales_sync.mappings.model import FieldMap, Mapping, Source, Target

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

RESOURCE_PRODUCT = Mapping(
    name="RESOURCE-PRODUCT",
    task_id="resource_product",
    source=Source("Resources", key="SystemId", modified="SystemModifiedAt", web_service=True),
    target=Target(
        "products", "productid", match_on=("productnumber",), filter=f"producttypecode eq {PRODUCT_TYPE_SERVICES}"
    ),
    transform="include.bc_sales_sync.transforms.products:resources_to_products",
    fields=(
        *_PRODUCT_FIELDS[:4],
        FieldMap("name", source="Name"),
        FieldMap("quantityonhand", source="Capacity"),
        FieldMap("producttypecode", constant=PRODUCT_TYPE_SERVICES),
        _PRODUCT_FIELDS[-1],
    ),
    dependencies=("UNIT OF MEASURE",),
    lookups=("units", "vendors", "local_currency", "default_price_list"),
    inactivity_timeout_minutes=720,
    options={"extra_source_fields": ["Base_Unit_of_Measure", "Blocked", "Vendor_No"]},
)

ITEM_PRODUCT = Mapping(
    name="ITEM-PRODUCT",
    task_id="item_product",
    source=Source("ItemCard", key="SystemId", modified="SystemModifiedAt", web_service=True),
    target=Target(
        "products",
        "productid",
        match_on=("productnumber",),
        filter=f"producttypecode eq {PRODUCT_TYPE_SALES_INVENTORY}",
    ),
    transform="include.bc_sales_sync.transforms.products:items_to_products",
    fields=(
        *_PRODUCT_FIELDS[:5],
        FieldMap("name", source="Description"),
        FieldMap("quantityonhand", source="Inventory"),
        FieldMap("stockvolume", source="Unit_Volume"),
        FieldMap("stockweight", source="Gross_Weight"),
        FieldMap("producttypecode", constant=PRODUCT_TYPE_SALES_INVENTORY),
        _PRODUCT_FIELDS[-1],
    ),
    dependencies=("UNIT OF MEASURE",),
    lookups=("units", "vendors", "local_currency", "default_price_list"),
    inactivity_timeout_minutes=1440,
    options={"extra_source_fields": ["Base_Unit_of_Measure", "Blocked", "Vendor_No"]},
)

DEFAULT_MAPPINGS: tuple[Mapping, ...] = (UNIT_OF_MEASURE, RESOURCE_PRODUCT, ITEM_PRODUCT)

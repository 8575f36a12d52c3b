"""The Business Central tables the emulator keeps, with BC's own field names.

Column names are the field names as BC's OData web services spell them (``No``, ``Unit_Price``,
``Base_Unit_of_Measure``). The API v2.0 entity sets and the published web services are views over
these tables (see :mod:`include.sandbox.bc.views`): one record, two shapes, as in BC.

Every column has a non-null default, because BC never returns null: blank text is ``""``, a blank
date ``0001-01-01``, a blank GUID all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

from include.sandbox.bc.columns import BLANK_DATE as BLANK_DATE
from include.sandbox.bc.columns import EMPTY_GUID as EMPTY_GUID
from include.sandbox.bc.columns import NAMESPACE as NAMESPACE
from include.sandbox.bc.columns import address, boolean, date, decimal, guid, integer, option, table, text
from include.sandbox.bc.columns import record_id as record_id
from include.sandbox.bc.crm_tables import CAPTIONS as CRM_CAPTIONS
from include.sandbox.bc.crm_tables import TABLES as CRM_TABLES
from include.sandbox.store import EntitySet

ITEM_TYPES = ("Inventory", "Service", "Non-Inventory")
RESOURCE_TYPES = ("Person", "Machine")
CUSTOMER_BLOCKED = (" ", "Ship", "Invoice", "All")
VENDOR_BLOCKED = (" ", "Payment", "All")
CONTACT_TYPES = ("Company", "Person")
SALES_TYPES = ("Customer", "Customer Price Group", "All Customers", "Campaign")
LINE_TYPES = ("Comment", "Account", "Item", "Resource", "Value", "Fixed Asset", "Charge")
DOCUMENT_TYPES = ("Quote", "Order", "Invoice")
INVOICE_STATUS = (" ", "Draft", "In Review", "Open", "Paid", "Canceled", "Corrective")
ORDER_STATUS = ("Draft", "In Review", "Open")
QUOTE_STATUS = ("Draft", "Sent", "Accepted", "Expired ")
DOCUMENT_STATUS = tuple(dict.fromkeys((*INVOICE_STATUS, *ORDER_STATUS, *QUOTE_STATUS)))
ACCOUNT_CATEGORIES = (" ", "Assets", "Liabilities", "Equity", "Income", "Cost of Goods Sold", "Expense")
ACCOUNT_TYPES = ("Posting", "Heading", "Total", "Begin-Total", "End-Total")


ADDRESS_FORMATS = ("Post Code+City", "City+Post Code", "City+County+Post Code", "Blank Line+Post Code+City")

COUNTRY_REGION = table(
    "CountryRegion",
    text("Code", 10, required=True),
    text("Name", 50),
    text("ISO_Code", 2),
    text("ISO_Numeric_Code", 3),
    text("EU_Country_Region_Code", 10),
    option("Address_Format", ADDRESS_FORMATS),
    unique=(("Code",),),
)

UNIT_OF_MEASURE = table(
    "UnitOfMeasure",
    text("Code", 10, required=True),
    text("Description", 50),
    text("International_Standard_Code", 10),
    text("Symbol", 10),
    unique=(("Code",),),
)

ITEM_CATEGORY = table(
    "ItemCategory",
    text("Code", 20, required=True),
    text("Description", 100),
    text("Parent_Category", 20),
    unique=(("Code",),),
)

TAX_GROUP = table(
    "TaxGroup",
    text("Code", 20, required=True),
    text("Description", 100),
    option("Tax_Type", ("Sales Tax", "VAT")),
    # The rate lines of this group get on a taxable customer (BC keeps it in Tax Detail).
    decimal("Tax_Percent", minimum=0, maximum=100),
    unique=(("Code",),),
)

PAYMENT_TERMS = table(
    "PaymentTerms",
    text("Code", 10, required=True),
    text("Description", 100),
    # A BC date formula reduced to whole days ("30D") or months ("1M").
    text("Due_Date_Calculation", 32),
    text("Discount_Date_Calculation", 32),
    decimal("Discount_Percent", minimum=0, maximum=100),
    boolean("Calc_Pmt_Disc_on_Cr_Memos"),
    unique=(("Code",),),
)

SHIPMENT_METHOD = table(
    "ShipmentMethod",
    text("Code", 10, required=True),
    text("Description", 100),
    unique=(("Code",),),
)

CURRENCY = table(
    "Currency",
    text("Code", 10, required=True),
    text("Description", 30),
    text("Symbol", 10),
    text("ISO_Code", 3),
    text("Amount_Decimal_Places", 5, default="2:2"),
    decimal("Amount_Rounding_Precision", default=0.01),
    # Local currency per unit: the sandbox's standing rate, used while the currency has no
    # Currency Exchange Rate row in effect (BC would refuse to convert; the sandbox keeps going).
    decimal("Exchange_Rate", default=1.0),
    unique=(("Code",),),
)

CURRENCY_EXCHANGE_RATE = table(
    "CurrencyExchangeRate",
    text("Currency_Code", 10, required=True),
    date("Starting_Date"),
    # Exchange_Rate_Amount units of the currency = Relational_Exch_Rate_Amount units of the
    # relational currency (blank: local currency).
    decimal("Exchange_Rate_Amount", minimum=0),
    decimal("Adjustment_Exch_Rate_Amount", minimum=0),
    text("Relational_Currency_Code", 10),
    decimal("Relational_Exch_Rate_Amount", minimum=0),
    decimal("Relational_Adjmt_Exch_Rate_Amt", minimum=0),
    option("Fix_Exchange_Rate_Amount", ("Currency", "Relational Currency", "Both")),
    unique=(("Currency_Code", "Starting_Date"),),
)

SALESPERSON = table(
    "SalespersonPurchaser",
    text("Code", 20, required=True),
    text("Name", 50),
    text("E_Mail", 80),
    text("E_Mail_2", 80),
    text("Phone_No", 30),
    text("Job_Title", 30),
    decimal("Commission_Percent", minimum=0, maximum=100),
    boolean("Privacy_Blocked"),
    boolean("Blocked"),
    unique=(("Code",),),
)

VENDOR = table(
    "Vendor",
    text("No", 20, required=True),
    text("Name", 100),
    *address(),
    text("Phone_No", 30),
    text("E_Mail", 80),
    text("Home_Page", 80),
    text("VAT_Registration_No", 20),
    text("Currency_Code", 10),
    guid("Currency_Id"),
    text("Payment_Terms_Code", 10),
    guid("Payment_Terms_Id"),
    text("IRS_1099_Code", 10),
    boolean("Tax_Liable"),
    option("Blocked", VENDOR_BLOCKED),
    unique=(("No",),),
)

CUSTOMER = table(
    "Customer",
    text("No", 20, required=True),
    text("Name", 100),
    option("Contact_Type", CONTACT_TYPES),
    *address(),
    text("Phone_No", 30),
    text("E_Mail", 80),
    text("Home_Page", 80),
    text("Salesperson_Code", 20),
    decimal("Credit_Limit_LCY"),
    boolean("Tax_Liable"),
    text("Tax_Area_Code", 20),
    guid("Tax_Area_Id"),
    text("VAT_Registration_No", 20),
    text("Currency_Code", 10),
    guid("Currency_Id"),
    text("Payment_Terms_Code", 10),
    guid("Payment_Terms_Id"),
    text("Shipment_Method_Code", 10),
    guid("Shipment_Method_Id"),
    text("Payment_Method_Code", 10),
    guid("Payment_Method_Id"),
    text("Customer_Price_Group", 10),
    option("Blocked", CUSTOMER_BLOCKED),
    # FlowFields over Service Lines in BC; Service Management is not emulated, so the sandbox keeps
    # them as read-only values (the demo company gives one customer some).
    decimal("Outstanding_Serv_Orders_LCY"),
    decimal("Serv_Shipped_Not_Invoiced_LCY"),
    decimal("Outstanding_Serv_Invoices_LCY"),
    unique=(("No",),),
    indexes=("Salesperson_Code",),
)

ITEM = table(
    "Item",
    text("No", 20, required=True),
    text("Description", 100),
    text("Description_2", 50),
    option("Type", ITEM_TYPES),
    text("Item_Category_Code", 20),
    guid("Item_Category_Id"),
    boolean("Blocked"),
    text("GTIN", 14),
    decimal("Inventory"),
    decimal("Unit_Price", minimum=0),
    boolean("Price_Includes_VAT"),
    decimal("Unit_Cost", minimum=0),
    text("Tax_Group_Code", 20),
    guid("Tax_Group_Id"),
    text("Base_Unit_of_Measure", 10),
    guid("Unit_of_Measure_Id"),
    text("Gen_Prod_Posting_Group", 20),
    guid("Gen_Prod_Posting_Group_Id"),
    text("Inventory_Posting_Group", 20),
    guid("Inventory_Posting_Group_Id"),
    text("Vendor_No", 20),
    text("Vendor_Item_No", 50),
    decimal("Unit_Volume", minimum=0),
    decimal("Gross_Weight", minimum=0),
    decimal("Net_Weight", minimum=0),
    unique=(("No",),),
)

RESOURCE = table(
    "Resource",
    text("No", 20, required=True),
    text("Name", 100),
    text("Search_Name", 100),
    option("Type", RESOURCE_TYPES),
    text("Base_Unit_of_Measure", 10),
    text("Resource_Group_No", 20),
    text("Job_Title", 30),
    decimal("Direct_Unit_Cost", minimum=0),
    decimal("Unit_Cost", minimum=0),
    decimal("Unit_Price", minimum=0),
    # A FlowField in BC (sum of capacity entries); kept as a value here.
    decimal("Capacity"),
    text("Gen_Prod_Posting_Group", 20),
    text("Tax_Group_Code", 20),
    text("Vendor_No", 20),
    boolean("Blocked"),
    boolean("Privacy_Blocked"),
    unique=(("No",),),
)

CUSTOMER_PRICE_GROUP = table(
    "CustomerPriceGroup",
    text("Code", 10, required=True),
    text("Description", 100),
    boolean("Price_Includes_VAT"),
    boolean("Allow_Invoice_Disc"),
    boolean("Allow_Line_Disc"),
    text("VAT_Bus_Posting_Gr_Price", 20),
    unique=(("Code",),),
)

SALES_PRICE_KEY = (
    "Item_No",
    "Sales_Type",
    "Sales_Code",
    "Starting_Date",
    "Currency_Code",
    "Variant_Code",
    "Unit_of_Measure_Code",
    "Minimum_Quantity",
)

SALES_PRICE = table(
    "SalesPrice",
    text("Item_No", 20, required=True),
    option("Sales_Type", SALES_TYPES),
    text("Sales_Code", 20),
    date("Starting_Date"),
    text("Currency_Code", 10),
    text("Variant_Code", 10),
    text("Unit_of_Measure_Code", 10),
    decimal("Minimum_Quantity", minimum=0),
    date("Ending_Date"),
    decimal("Unit_Price", minimum=0),
    boolean("Price_Includes_VAT"),
    boolean("Allow_Invoice_Disc"),
    boolean("Allow_Line_Disc"),
    unique=(SALES_PRICE_KEY,),
    indexes=("Sales_Code",),
)

GL_ACCOUNT = table(
    "GLAccount",
    text("No", 20, required=True),
    text("Name", 100),
    option("Account_Type", ACCOUNT_TYPES),
    option("Account_Category", ACCOUNT_CATEGORIES),
    text("Account_Subcategory", 80),
    boolean("Direct_Posting"),
    boolean("Blocked"),
    text("Tax_Group_Code", 20),
    unique=(("No",),),
)

NO_SERIES = table(
    "NoSeries",
    text("Code", 20, required=True),
    text("Description", 100),
    text("Last_No_Used", 20),
    unique=(("Code",),),
)

# One table for quotes, orders and invoices, draft and posted, like the API's aggregate buffers.
SALES_HEADER = table(
    "SalesHeader",
    option("Document_Type", DOCUMENT_TYPES),
    text("No", 20, required=True),
    boolean("Posted"),
    option("Status", DOCUMENT_STATUS, default="Draft"),
    text("External_Document_No", 35),
    text("Your_Reference", 35),
    date("Document_Date"),
    date("Posting_Date"),
    date("Due_Date"),
    date("Requested_Delivery_Date"),
    date("Valid_Until_Date"),
    date("Sent_Date"),
    date("Accepted_Date"),
    date("Shipment_Date"),
    guid("Sell_to_Customer_Id"),
    text("Sell_to_Customer_No", 20),
    text("Sell_to_Customer_Name", 100),
    text("Sell_to_Contact", 100),
    *address("Sell_to_"),
    guid("Bill_to_Customer_Id"),
    text("Bill_to_Customer_No", 20),
    text("Bill_to_Name", 100),
    *address("Bill_to_"),
    text("Ship_to_Code", 10),
    text("Ship_to_Name", 100),
    text("Ship_to_Contact", 100),
    *address("Ship_to_"),
    text("Phone_No", 30),
    text("E_Mail", 80),
    text("Currency_Code", 10),
    guid("Currency_Id"),
    # Document currency per unit of local currency, as BC stores it (0 for local currency).
    decimal("Currency_Factor"),
    text("Payment_Terms_Code", 10),
    guid("Payment_Terms_Id"),
    text("Shipment_Method_Code", 10),
    guid("Shipment_Method_Id"),
    text("Salesperson_Code", 20),
    text("Shortcut_Dimension_1_Code", 20),
    text("Shortcut_Dimension_2_Code", 20),
    guid("Order_Id"),
    text("Order_No", 20),
    guid("Quote_Id"),
    text("Quote_No", 20),
    boolean("Prices_Including_VAT"),
    boolean("Partial_Shipping"),
    boolean("Fully_Shipped"),
    boolean("Discount_Applied_Before_Tax"),
    decimal("Invoice_Discount_Amount", minimum=0),
    decimal("Amount"),
    decimal("Total_Tax_Amount"),
    decimal("Amount_Including_VAT"),
    decimal("Remaining_Amount"),
    unique=(("Document_Type", "No"),),
    indexes=("Document_Type", "Bill_to_Customer_No", "Sell_to_Customer_No"),
)

SALES_LINE = table(
    "SalesLine",
    guid("Document_Id"),
    option("Document_Type", DOCUMENT_TYPES),
    text("Document_No", 20),
    integer("Line_No"),
    option("Type", LINE_TYPES, default="Item"),
    text("No", 20),
    guid("Item_Id"),
    guid("Account_Id"),
    guid("Item_Variant_Id"),
    text("Description", 100),
    text("Description_2", 50),
    text("Unit_of_Measure_Code", 10),
    guid("Unit_of_Measure_Id"),
    decimal("Quantity"),
    decimal("Unit_Price"),
    decimal("Line_Discount_Amount"),
    decimal("Line_Discount_Percent", minimum=0, maximum=100),
    decimal("Line_Amount"),
    text("Tax_Group_Code", 20),
    decimal("VAT_Percent"),
    decimal("Total_Tax_Amount"),
    decimal("Amount_Including_VAT"),
    decimal("Inv_Discount_Amount"),
    decimal("Net_Amount"),
    decimal("Net_Tax_Amount"),
    decimal("Net_Amount_Including_VAT"),
    date("Shipment_Date"),
    decimal("Quantity_Shipped"),
    decimal("Quantity_Invoiced"),
    decimal("Qty_to_Invoice"),
    decimal("Qty_to_Ship"),
    # What BC stores on a sales line for the customer's statistics (kept up to date by the emulator
    # whenever the line or its document changes; see include.sandbox.bc.ledger).
    text("Sell_to_Customer_No", 20),
    text("Bill_to_Customer_No", 20),
    text("Currency_Code", 10),
    text("Shipment_No", 20),
    decimal("Outstanding_Quantity"),
    decimal("Outstanding_Amount"),
    decimal("Outstanding_Amount_LCY"),
    decimal("Shipped_Not_Invoiced"),
    decimal("Shipped_Not_Invoiced_LCY"),
    # Prepayment invoices are not posted by the emulator: these are seeded values only.
    decimal("Prepmt_Amount_Inv_LCY"),
    decimal("Prepmt_VAT_Amount_Inv_LCY"),
    indexes=("Document_Id", "Bill_to_Customer_No", "Sell_to_Customer_No"),
)

COMPANY_INFORMATION = table(
    "CompanyInformation",
    text("Name", 100, required=True),
    *address(),
    text("Phone_No", 30),
    text("Fax_No", 30),
    text("E_Mail", 80),
    text("Home_Page", 80),
    text("VAT_Registration_No", 20),
    # The local currency (LCY) code; BC keeps it in General Ledger Setup, API v2.0 shows it here.
    text("Currency_Code", 10),
    date("Fiscal_Year_Start"),
)

CUSTOMER_PAYMENT_JOURNAL = table(
    "CustomerPaymentJournal",
    text("Code", 10, required=True),
    text("Description", 100),
    text("Bal_Account_No", 20),
    guid("Bal_Account_Id"),
    unique=(("Code",),),
)

# Lines of a customer payment journal (BC's Gen. Journal Line, account type Customer).
CUSTOMER_PAYMENT = table(
    "CustomerPayment",
    guid("Journal_Id"),
    text("Journal_Code", 10),
    integer("Line_No"),
    guid("Customer_Id"),
    text("Customer_No", 20),
    date("Posting_Date"),
    text("Document_No", 20),
    text("External_Document_No", 35),
    # Negative for a payment received, as the journal shows it.
    decimal("Amount"),
    guid("Applies_to_Invoice_Id"),
    text("Applies_to_Invoice_No", 20),
    text("Description", 100),
    text("Comment", 250),
    indexes=("Journal_Id",),
)

CLE_DOCUMENT_TYPES = (" ", "Payment", "Invoice", "Credit Memo", "Finance Charge Memo", "Reminder", "Refund")

# BC's Cust. Ledger Entry (table 21): one per posted invoice, payment or credit memo, written by
# posting (see include.sandbox.bc.ledger), never by clients. Remaining amounts go down as payments
# are applied; an entry with nothing left is closed.
CUST_LEDGER_ENTRY = table(
    "CustLedgerEntry",
    integer("Entry_No"),
    text("Customer_No", 20),
    date("Posting_Date"),
    date("Document_Date"),
    date("Due_Date"),
    option("Document_Type", CLE_DOCUMENT_TYPES),
    text("Document_No", 20),
    text("External_Document_No", 35),
    text("Description", 100),
    text("Salesperson_Code", 20),
    text("Currency_Code", 10),
    boolean("Open"),
    decimal("Amount"),
    decimal("Amount_LCY"),
    decimal("Remaining_Amount"),
    decimal("Remaining_Amt_LCY"),
    decimal("Original_Amt_LCY"),
    decimal("Sales_LCY"),
    integer("Closed_by_Entry_No"),
    date("Closed_at_Date"),
    unique=(("Entry_No",),),
    indexes=("Customer_No", "Document_No"),
)

TABLES: tuple[EntitySet, ...] = (
    COMPANY_INFORMATION,
    COUNTRY_REGION,
    CUSTOMER_PAYMENT_JOURNAL,
    CUSTOMER_PAYMENT,
    UNIT_OF_MEASURE,
    ITEM_CATEGORY,
    TAX_GROUP,
    PAYMENT_TERMS,
    SHIPMENT_METHOD,
    CURRENCY,
    CURRENCY_EXCHANGE_RATE,
    SALESPERSON,
    VENDOR,
    CUSTOMER,
    ITEM,
    RESOURCE,
    CUSTOMER_PRICE_GROUP,
    SALES_PRICE,
    GL_ACCOUNT,
    NO_SERIES,
    SALES_HEADER,
    SALES_LINE,
    CUST_LEDGER_ENTRY,
    *CRM_TABLES,
)

BY_NAME: dict[str, EntitySet] = {t.name: t for t in TABLES}


@dataclass(frozen=True)
class Relation:
    """A code field that refers to another table, with the GUID field BC keeps beside it.

    Writing either one sets the other; a code that names no record is rejected as BC's table
    relation check does. ``table=None`` means the related table is not emulated: any code is
    accepted and its id is derived from the code.
    """

    code: str
    id: str | None
    table: str | None
    target_code: str = "Code"
    caption: str = ""


COUNTRY = Relation("Country_Region_Code", None, "CountryRegion", caption="Country/Region Code")

RELATIONS: dict[str, tuple[Relation, ...]] = {
    "CompanyInformation": (COUNTRY,),
    "Item": (
        Relation("Base_Unit_of_Measure", "Unit_of_Measure_Id", "UnitOfMeasure", caption="Base Unit of Measure"),
        Relation("Item_Category_Code", "Item_Category_Id", "ItemCategory", caption="Item Category Code"),
        Relation("Tax_Group_Code", "Tax_Group_Id", "TaxGroup", caption="Tax Group Code"),
        Relation("Gen_Prod_Posting_Group", "Gen_Prod_Posting_Group_Id", None),
        Relation("Inventory_Posting_Group", "Inventory_Posting_Group_Id", None),
        Relation("Vendor_No", None, "Vendor", target_code="No", caption="Vendor No."),
    ),
    "Resource": (
        Relation("Base_Unit_of_Measure", None, "UnitOfMeasure", caption="Base Unit of Measure"),
        Relation("Tax_Group_Code", None, "TaxGroup", caption="Tax Group Code"),
        Relation("Vendor_No", None, "Vendor", target_code="No", caption="Vendor No."),
    ),
    "Customer": (
        Relation("Currency_Code", "Currency_Id", "Currency", caption="Currency Code"),
        Relation("Payment_Terms_Code", "Payment_Terms_Id", "PaymentTerms", caption="Payment Terms Code"),
        Relation("Shipment_Method_Code", "Shipment_Method_Id", "ShipmentMethod", caption="Shipment Method Code"),
        Relation("Payment_Method_Code", "Payment_Method_Id", None),
        Relation("Tax_Area_Code", "Tax_Area_Id", None),
        Relation("Salesperson_Code", None, "SalespersonPurchaser", caption="Salesperson Code"),
        Relation("Customer_Price_Group", None, "CustomerPriceGroup", caption="Customer Price Group"),
        COUNTRY,
    ),
    "Vendor": (
        Relation("Currency_Code", "Currency_Id", "Currency", caption="Currency Code"),
        Relation("Payment_Terms_Code", "Payment_Terms_Id", "PaymentTerms", caption="Payment Terms Code"),
        COUNTRY,
    ),
    "SalesHeader": (
        Relation("Currency_Code", "Currency_Id", "Currency", caption="Currency Code"),
        Relation("Payment_Terms_Code", "Payment_Terms_Id", "PaymentTerms", caption="Payment Terms Code"),
        Relation("Shipment_Method_Code", "Shipment_Method_Id", "ShipmentMethod", caption="Shipment Method Code"),
        Relation("Salesperson_Code", None, "SalespersonPurchaser", caption="Salesperson Code"),
    ),
    "SalesLine": (
        Relation("Unit_of_Measure_Code", "Unit_of_Measure_Id", "UnitOfMeasure", caption="Unit of Measure Code"),
        Relation("Tax_Group_Code", None, "TaxGroup", caption="Tax Group Code"),
    ),
    "CurrencyExchangeRate": (
        Relation("Currency_Code", None, "Currency", caption="Currency Code"),
        Relation("Relational_Currency_Code", None, "Currency", caption="Relational Currency Code"),
    ),
    "Contact": (
        Relation("Company_No", None, "Contact", target_code="No", caption="Company No."),
        Relation("Currency_Code", None, "Currency", caption="Currency Code"),
        Relation("Salesperson_Code", None, "SalespersonPurchaser", caption="Salesperson Code"),
        COUNTRY,
    ),
    "ContactBusinessRelation": (
        Relation("Contact_No", None, "Contact", target_code="No", caption="Contact No."),
        Relation("Business_Relation_Code", None, "BusinessRelation", caption="Business Relation Code"),
    ),
    "Opportunity": (
        Relation("Contact_No", None, "Contact", target_code="No", caption="Contact No."),
        Relation("Contact_Company_No", None, "Contact", target_code="No", caption="Contact Company No."),
        Relation("Salesperson_Code", None, "SalespersonPurchaser", caption="Salesperson Code"),
    ),
    "SalesPrice": (
        Relation("Item_No", None, "Item", target_code="No", caption="Item No."),
        Relation("Currency_Code", None, "Currency", caption="Currency Code"),
        Relation("Unit_of_Measure_Code", None, "UnitOfMeasure", caption="Unit of Measure Code"),
    ),
}

CAPTIONS = {
    "CountryRegion": "Country/Region",
    "CompanyInformation": "Company Information",
    "UnitOfMeasure": "Unit of Measure",
    "ItemCategory": "Item Category",
    "TaxGroup": "Tax Group",
    "PaymentTerms": "Payment Terms",
    "ShipmentMethod": "Shipment Method",
    "SalespersonPurchaser": "Salesperson/Purchaser",
    "CurrencyExchangeRate": "Currency Exchange Rate",
    "CustomerPriceGroup": "Customer Price Group",
    "SalesPrice": "Sales Price",
    "GLAccount": "G/L Account",
    "NoSeries": "No. Series",
    "SalesHeader": "Sales Header",
    "SalesLine": "Sales Line",
    "CustomerPaymentJournal": "Gen. Journal Batch",
    "CustomerPayment": "Gen. Journal Line",
    "CustLedgerEntry": "Cust. Ledger Entry",
    **CRM_CAPTIONS,
}


def caption(table_name: str) -> str:
    """The table's caption as BC names it in messages ("Unit of Measure")."""
    return CAPTIONS.get(table_name, table_name)


def field_caption(column: str) -> str:
    """``Base_Unit_of_Measure`` -> ``Base Unit of Measure``; ``No`` -> ``No.``."""
    words = column.split("_")
    return " ".join(w + "." if w == "No" else w for w in words)


_TEXT_NUMBERS = {"Phone_No", "Mobile_Phone_No", "Fax_No", "VAT_Registration_No", "Vendor_Item_No"}
_CODE_COLUMNS = {
    "Code",
    "No",
    "Base_Unit_of_Measure",
    "Customer_Price_Group",
    "Gen_Prod_Posting_Group",
    "Inventory_Posting_Group",
    "Parent_Category",
    "Last_No_Used",
    "VAT_Bus_Posting_Gr_Price",
    "GTIN",
    "Search_Name",
}


def is_code(column: str) -> bool:
    """BC's Code fields are stored in upper case whatever the client sends ("pcs" -> "PCS")."""
    if column in _CODE_COLUMNS:
        return True
    return (column.endswith("_Code") or column.endswith("_No")) and column not in _TEXT_NUMBERS

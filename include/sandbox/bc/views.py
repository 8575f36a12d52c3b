"""The shapes BC exposes its tables in: API v2.0 entity sets and published OData V4 web services.

A view maps public property names to table columns (``number`` -> ``No``), says which properties
a client may write, how records are keyed in URLs and which navigation properties ``$expand``
and nested URLs can follow. Business rules live in :mod:`include.sandbox.bc.logic` and the
modules it calls.
"""

from __future__ import annotations

from include.sandbox.bc import crm_views
from include.sandbox.bc import tables as t
from include.sandbox.bc.shapes import ID, MODIFIED, Nav, Prop, View, api_address, code_view, computed, ro, rw, ws_props
from include.sandbox.bc.shapes import columns_of as _columns

API_VIEWS: list[View] = [
    View(
        "companyInformation",
        "companyInformation",
        "CompanyInformation",
        (
            ID,
            rw("displayName", "Name"),
            *api_address(),
            rw("phoneNumber", "Phone_No"),
            rw("faxNumber", "Fax_No"),
            rw("email", "E_Mail"),
            rw("website", "Home_Page"),
            rw("taxRegistrationNumber", "VAT_Registration_No"),
            ro("currencyCode", "Currency_Code"),
            ro("currentFiscalYearStartDate", "Fiscal_Year_Start"),
            MODIFIED,
        ),
        methods=frozenset({"GET", "PATCH"}),
    ),
    code_view(
        "unitsOfMeasure",
        "unitOfMeasure",
        "UnitOfMeasure",
        rw("internationalStandardCode", "International_Standard_Code"),
        rw("symbol", "Symbol"),
    ),
    View(
        "countriesRegions",
        "countryRegion",
        "CountryRegion",
        (ID, rw("code", "Code"), rw("displayName", "Name"), rw("addressFormat", "Address_Format"), MODIFIED),
    ),
    code_view("itemCategories", "itemCategory", "ItemCategory"),
    code_view("taxGroups", "taxGroup", "TaxGroup", rw("taxType", "Tax_Type")),
    code_view(
        "paymentTerms",
        "paymentTerm",
        "PaymentTerms",
        rw("dueDateCalculation", "Due_Date_Calculation"),
        rw("discountDateCalculation", "Discount_Date_Calculation"),
        rw("discountPercent", "Discount_Percent"),
        rw("calculateDiscountOnCreditMemos", "Calc_Pmt_Disc_on_Cr_Memos"),
    ),
    code_view("shipmentMethods", "shipmentMethod", "ShipmentMethod"),
    code_view(
        "currencies",
        "currency",
        "Currency",
        rw("symbol", "Symbol"),
        rw("amountDecimalPlaces", "Amount_Decimal_Places"),
        rw("amountRoundingPrecision", "Amount_Rounding_Precision"),
    ),
    View(
        "currencyExchangeRates",
        "currencyExchangeRate",
        "CurrencyExchangeRate",
        (
            ID,
            ro("currencyCode", "Currency_Code"),
            ro("startingDate", "Starting_Date"),
            ro("exchangeRateAmount", "Exchange_Rate_Amount"),
            ro("relationalCurrencyCode", "Relational_Currency_Code"),
            ro("relationalExchangeRateAmount", "Relational_Exch_Rate_Amount"),
            MODIFIED,
        ),
        methods=frozenset({"GET"}),
    ),
    View(
        "salespeoplePurchasers",
        "salespersonPurchaser",
        "SalespersonPurchaser",
        (
            ID,
            rw("code", "Code"),
            rw("displayName", "Name"),
            rw("email", "E_Mail"),
            rw("email2", "E_Mail_2"),
            rw("phoneNo", "Phone_No"),
            rw("jobTitle", "Job_Title"),
            rw("commisionPercent", "Commission_Percent"),  # sic, as BC spells it
            rw("privacyBlocked", "Privacy_Blocked"),
            rw("blocked", "Blocked"),
            MODIFIED,
        ),
    ),
    View(
        "vendors",
        "vendor",
        "Vendor",
        (
            ID,
            rw("number", "No"),
            rw("displayName", "Name"),
            *api_address(),
            rw("phoneNumber", "Phone_No"),
            rw("email", "E_Mail"),
            rw("website", "Home_Page"),
            rw("taxRegistrationNumber", "VAT_Registration_No"),
            rw("currencyId", "Currency_Id"),
            rw("currencyCode", "Currency_Code"),
            rw("irs1099Code", "IRS_1099_Code"),
            rw("paymentTermsId", "Payment_Terms_Id"),
            rw("taxLiable", "Tax_Liable"),
            rw("blocked", "Blocked"),
            MODIFIED,
        ),
        navs=(Nav("currency", "currencies", "currencyId", "id"),),
    ),
    View(
        "customers",
        "customer",
        "Customer",
        (
            ID,
            rw("number", "No"),
            rw("displayName", "Name"),
            rw("type", "Contact_Type"),
            *api_address(),
            rw("phoneNumber", "Phone_No"),
            rw("email", "E_Mail"),
            rw("website", "Home_Page"),
            rw("salespersonCode", "Salesperson_Code"),
            computed("balanceDue"),
            rw("creditLimit", "Credit_Limit_LCY"),
            rw("taxLiable", "Tax_Liable"),
            rw("taxAreaId", "Tax_Area_Id"),
            ro("taxAreaDisplayName", "Tax_Area_Code"),
            rw("taxRegistrationNumber", "VAT_Registration_No"),
            rw("currencyId", "Currency_Id"),
            rw("currencyCode", "Currency_Code"),
            rw("paymentTermsId", "Payment_Terms_Id"),
            rw("shipmentMethodId", "Shipment_Method_Id"),
            rw("paymentMethodId", "Payment_Method_Id"),
            rw("blocked", "Blocked"),
            MODIFIED,
        ),
        navs=(
            Nav("customerFinancialDetail", "customerFinancialDetails", "id", "id"),
            Nav("currency", "currencies", "currencyId", "id"),
            Nav("paymentTerm", "paymentTerms", "paymentTermsId", "id"),
            Nav("shipmentMethod", "shipmentMethods", "shipmentMethodId", "id"),
        ),
        compute="customer_balance",
    ),
    View(
        "customerFinancialDetails",
        "customerFinancialDetail",
        "Customer",
        (ID, ro("number", "No"), computed("balance"), computed("totalSalesExcludingTax"), computed("overdueAmount")),
        methods=frozenset({"GET"}),
        compute="customer_financials",
    ),
    View(
        "items",
        "item",
        "Item",
        (
            ID,
            rw("number", "No"),
            rw("displayName", "Description"),
            rw("displayName2", "Description_2"),
            rw("type", "Type"),
            rw("itemCategoryId", "Item_Category_Id"),
            rw("itemCategoryCode", "Item_Category_Code"),
            rw("blocked", "Blocked"),
            rw("gtin", "GTIN"),
            ro("inventory", "Inventory"),
            rw("unitPrice", "Unit_Price"),
            rw("priceIncludesTax", "Price_Includes_VAT"),
            rw("unitCost", "Unit_Cost"),
            rw("taxGroupId", "Tax_Group_Id"),
            rw("taxGroupCode", "Tax_Group_Code"),
            rw("baseUnitOfMeasureId", "Unit_of_Measure_Id"),
            rw("baseUnitOfMeasureCode", "Base_Unit_of_Measure"),
            rw("generalProductPostingGroupId", "Gen_Prod_Posting_Group_Id"),
            rw("generalProductPostingGroupCode", "Gen_Prod_Posting_Group"),
            rw("inventoryPostingGroupId", "Inventory_Posting_Group_Id"),
            rw("inventoryPostingGroupCode", "Inventory_Posting_Group"),
            MODIFIED,
        ),
        navs=(
            Nav("unitOfMeasure", "unitsOfMeasure", "baseUnitOfMeasureId", "id"),
            Nav("itemCategory", "itemCategories", "itemCategoryId", "id"),
        ),
    ),
    View(
        "customerPaymentJournals",
        "customerPaymentJournal",
        "CustomerPaymentJournal",
        (
            ID,
            rw("code", "Code"),
            rw("displayName", "Description"),
            MODIFIED,
            rw("balancingAccountId", "Bal_Account_Id"),
            ro("balancingAccountNumber", "Bal_Account_No"),
        ),
        navs=(Nav("customerPayments", "customerPayments", "id", "journalId", many=True),),
        actions={"post": "post_payments"},
    ),
    View(
        "customerPayments",
        "customerPayment",
        "CustomerPayment",
        (
            ID,
            Prop("journalId", "Journal_Id", create_only=True),
            ro("journalDisplayName", "Journal_Code"),
            rw("lineNumber", "Line_No"),
            rw("customerId", "Customer_Id"),
            rw("customerNumber", "Customer_No"),
            rw("postingDate", "Posting_Date"),
            rw("documentNumber", "Document_No"),
            rw("externalDocumentNumber", "External_Document_No"),
            rw("amount", "Amount"),
            rw("appliesToInvoiceId", "Applies_to_Invoice_Id"),
            rw("appliesToInvoiceNumber", "Applies_to_Invoice_No"),
            rw("description", "Description"),
            rw("comment", "Comment"),
            MODIFIED,
        ),
        navs=(Nav("customer", "customers", "customerId", "id"),),
    ),
    View(
        "accounts",
        "account",
        "GLAccount",
        (
            ID,
            ro("number", "No"),
            ro("displayName", "Name"),
            ro("category", "Account_Category"),
            ro("subCategory", "Account_Subcategory"),
            ro("blocked", "Blocked"),
            ro("accountType", "Account_Type"),
            ro("directPosting", "Direct_Posting"),
            computed("netChange"),
            MODIFIED,
        ),
        methods=frozenset({"GET"}),
        compute="zero_net_change",
    ),
]


def _header_props(kind: str) -> tuple[Prop, ...]:
    """Properties shared by salesInvoices, salesOrders and salesQuotes (B.2)."""
    date_name = {"Invoice": "invoiceDate", "Order": "orderDate", "Quote": "documentDate"}[kind]
    props = [
        ID,
        ro("number", "No"),
        rw("externalDocumentNumber", "External_Document_No"),
        rw(date_name, "Document_Date"),
        rw("postingDate", "Posting_Date"),
    ]
    if kind in ("Invoice", "Quote"):
        props.append(rw("dueDate", "Due_Date"))
    if kind == "Invoice":
        props.append(rw("customerPurchaseOrderReference", "Your_Reference"))
    props += [
        rw("customerId", "Sell_to_Customer_Id"),
        rw("customerNumber", "Sell_to_Customer_No"),
        ro("customerName", "Sell_to_Customer_Name"),
        ro("billToName", "Bill_to_Name"),
        rw("billToCustomerId", "Bill_to_Customer_Id"),
        rw("billToCustomerNumber", "Bill_to_Customer_No"),
        rw("shipToName", "Ship_to_Name"),
        rw("shipToContact", "Ship_to_Contact"),
        *api_address("sellTo", "Sell_to_"),
        *api_address("billTo", "Bill_to_"),
        *api_address("shipTo", "Ship_to_"),
        rw("shortcutDimension1Code", "Shortcut_Dimension_1_Code"),
        rw("shortcutDimension2Code", "Shortcut_Dimension_2_Code"),
        rw("currencyId", "Currency_Id"),
        rw("currencyCode", "Currency_Code"),
    ]
    if kind == "Invoice":
        props += [ro("orderId", "Order_Id"), ro("orderNumber", "Order_No")]
    if kind == "Order":
        props.append(rw("pricesIncludeTax", "Prices_Including_VAT"))
    props += [
        rw("paymentTermsId", "Payment_Terms_Id"),
        rw("shipmentMethodId", "Shipment_Method_Id"),
        rw("salesperson", "Salesperson_Code"),
    ]
    if kind == "Order":
        props += [rw("partialShipping", "Partial_Shipping"), rw("requestedDeliveryDate", "Requested_Delivery_Date")]
    if kind == "Invoice":
        props += [rw("pricesIncludeTax", "Prices_Including_VAT"), ro("remainingAmount", "Remaining_Amount")]
    props += [
        rw("discountAmount", "Invoice_Discount_Amount"),
        ro("discountAppliedBeforeTax", "Discount_Applied_Before_Tax"),
        ro("totalAmountExcludingTax", "Amount"),
        ro("totalTaxAmount", "Total_Tax_Amount"),
        ro("totalAmountIncludingTax", "Amount_Including_VAT"),
    ]
    if kind == "Order":
        props.append(ro("fullyShipped", "Fully_Shipped"))
    props.append(ro("status", "Status"))
    if kind == "Quote":
        props += [ro("sentDate", "Sent_Date"), rw("validUntilDate", "Valid_Until_Date")]
        props.append(ro("acceptedDate", "Accepted_Date"))
    props += [MODIFIED, rw("phoneNumber", "Phone_No"), rw("email", "E_Mail")]
    return tuple(props)


def _line_props(kind: str) -> tuple[Prop, ...]:
    props = [
        ID,
        Prop("documentId", "Document_Id", create_only=True),
        rw("sequence", "Line_No"),
        rw("itemId", "Item_Id"),
        rw("accountId", "Account_Id"),
        rw("lineType", "Type"),
        rw("lineObjectNumber", "No"),
        rw("description", "Description"),
        rw("description2", "Description_2"),
        rw("unitOfMeasureId", "Unit_of_Measure_Id"),
        rw("unitOfMeasureCode", "Unit_of_Measure_Code"),
        rw("quantity", "Quantity"),
        rw("unitPrice", "Unit_Price"),
        rw("discountAmount", "Line_Discount_Amount"),
        rw("discountPercent", "Line_Discount_Percent"),
        ro("discountAppliedBeforeTax", None, "bool"),
        ro("amountExcludingTax", "Line_Amount"),
        rw("taxCode", "Tax_Group_Code"),
        ro("taxPercent", "VAT_Percent"),
        ro("totalTaxAmount", "Total_Tax_Amount"),
        ro("amountIncludingTax", "Amount_Including_VAT"),
        ro("invoiceDiscountAllocation", "Inv_Discount_Amount"),
        ro("netAmount", "Net_Amount"),
        ro("netTaxAmount", "Net_Tax_Amount"),
        ro("netAmountIncludingTax", "Net_Amount_Including_VAT"),
        rw("shipmentDate", "Shipment_Date"),
    ]
    if kind == "Order":
        props += [
            ro("shippedQuantity", "Quantity_Shipped"),
            ro("invoicedQuantity", "Quantity_Invoiced"),
            rw("invoiceQuantity", "Qty_to_Invoice"),
            rw("shipQuantity", "Qty_to_Ship"),
        ]
    props.append(rw("itemVariantId", "Item_Variant_Id"))
    return tuple(props)


def _documents(kind: str, header_set: str, header_type: str, lines_set: str, line_type: str, actions: dict):
    header = View(
        header_set,
        header_type,
        "SalesHeader",
        _header_props(kind),
        where={"Document_Type": kind},
        navs=(
            Nav(lines_set, lines_set, "id", "documentId", many=True),
            Nav("customer", "customers", "customerId", "id"),
            Nav("currency", "currencies", "currencyId", "id"),
            Nav("paymentTerm", "paymentTerms", "paymentTermsId", "id"),
            Nav("shipmentMethod", "shipmentMethods", "shipmentMethodId", "id"),
        ),
        actions=actions,
    )
    lines = View(
        lines_set,
        line_type,
        "SalesLine",
        _line_props(kind),
        where={"Document_Type": kind},
        navs=(Nav("item", "items", "itemId", "id"), Nav("account", "accounts", "accountId", "id")),
        needs_document=True,
        compute="line_discount_flag",
    )
    return [header, lines]


API_VIEWS += _documents(
    "Invoice",
    "salesInvoices",
    "salesInvoice",
    "salesInvoiceLines",
    "salesInvoiceLine",
    {"post": "post_invoice", "postAndSend": "post_invoice", "send": "send_document", "cancel": "cancel_invoice"},
)
API_VIEWS += _documents(
    "Order", "salesOrders", "salesOrder", "salesOrderLines", "salesOrderLine", {"shipAndInvoice": "ship_and_invoice"}
)
API_VIEWS += _documents(
    "Quote",
    "salesQuotes",
    "salesQuote",
    "salesQuoteLines",
    "salesQuoteLine",
    {"makeInvoice": "make_invoice", "makeOrder": "make_order", "send": "send_document"},
)

API_VIEWS += crm_views.API_VIEWS

API: dict[str, View] = {v.name: v for v in API_VIEWS}


# -- published web services (page fields, spaces and dots as underscores) -------------------


SERVICE_FLOWFIELDS = ("Outstanding_Serv_Orders_LCY", "Serv_Shipped_Not_Invoiced_LCY", "Outstanding_Serv_Invoices_LCY")
SALES_LINE_FIELDS = (
    "Document_Type",
    "Document_No",
    "Line_No",
    "Sell_to_Customer_No",
    "Bill_to_Customer_No",
    "Type",
    "No",
    "Description",
    "Unit_of_Measure_Code",
    "Quantity",
    "Unit_Price",
    "Line_Amount",
    "Amount_Including_VAT",
    "Shipment_Date",
    "Shipment_No",
    "Currency_Code",
    "Outstanding_Quantity",
    "Quantity_Shipped",
    "Quantity_Invoiced",
    "Outstanding_Amount",
    "Outstanding_Amount_LCY",
    "Shipped_Not_Invoiced",
    "Shipped_Not_Invoiced_LCY",
    "Prepmt_Amount_Inv_LCY",
    "Prepmt_VAT_Amount_Inv_LCY",
)

WS_VIEWS: list[View] = [
    View(
        "Resources",
        "Resources",
        "Resource",
        ws_props("Resource", _columns("Resource"), read_only=("Capacity",)),
        key=("No",),
        kind="ws",
    ),
    View(
        "ItemCard",
        "ItemCard",
        "Item",
        ws_props(
            "Item",
            (
                "No",
                "Description",
                "Type",
                "Base_Unit_of_Measure",
                "Item_Category_Code",
                "Blocked",
                "GTIN",
                "Inventory",
                "Unit_Price",
                "Price_Includes_VAT",
                "Unit_Cost",
                "Vendor_No",
                "Vendor_Item_No",
                "Unit_Volume",
                "Gross_Weight",
                "Net_Weight",
                "Tax_Group_Code",
                "Gen_Prod_Posting_Group",
                "Inventory_Posting_Group",
            ),
            read_only=("Inventory",),
        ),
        key=("No",),
        kind="ws",
    ),
    View(
        "CustomerPriceGroups",
        "CustomerPriceGroups",
        "CustomerPriceGroup",
        ws_props("CustomerPriceGroup", _columns("CustomerPriceGroup")),
        key=("Code",),
        kind="ws",
    ),
    View(
        "SalesPrices",
        "SalesPrices",
        "SalesPrice",
        ws_props("SalesPrice", _columns("SalesPrice")),
        key=t.SALES_PRICE_KEY,
        kind="ws",
    ),
    View(
        "CurrencyExchangeRates",
        "CurrencyExchangeRates",
        "CurrencyExchangeRate",
        ws_props("CurrencyExchangeRate", _columns("CurrencyExchangeRate")),
        key=("Currency_Code", "Starting_Date"),
        kind="ws",
    ),
    View(
        "Vendors",
        "Vendors",
        "Vendor",
        ws_props("Vendor", _columns("Vendor", exclude=("Currency_Id", "Payment_Terms_Id"))),
        key=("No",),
        kind="ws",
    ),
    View(
        "CustomerCard",
        "CustomerCard",
        "Customer",
        (
            *ws_props(
                "Customer",
                _columns(
                    "Customer",
                    exclude=(
                        "Currency_Id",
                        "Payment_Terms_Id",
                        "Shipment_Method_Id",
                        "Payment_Method_Id",
                        "Tax_Area_Id",
                    ),
                ),
                read_only=SERVICE_FLOWFIELDS,
            ),
            computed("Balance_LCY"),
            computed("Balance_Due_LCY"),
            computed("Sales_LCY"),
            computed("Outstanding_Orders_LCY"),
            computed("Shipped_Not_Invoiced_LCY"),
            computed("Outstanding_Invoices_LCY"),
        ),
        key=("No",),
        kind="ws",
        compute="customer_card",
    ),
    # Page 25 "Customer Ledger Entries" published, with the fields of BC's "Cust. Ledger Entries"
    # query (262) and "Sales (LCY)": entries are written by posting, read-only here as in BC.
    View(
        "CustLedgerEntries",
        "CustLedgerEntries",
        "CustLedgerEntry",
        ws_props("CustLedgerEntry", _columns("CustLedgerEntry"), read_only=_columns("CustLedgerEntry")),
        key=("Entry_No",),
        kind="ws",
        methods=frozenset({"GET"}),
    ),
    # Page 516 "Sales Lines" published: the lines of open documents with the amounts BC stores for
    # the customer statistics (documents are written through the API's document entity sets).
    View(
        "SalesLines",
        "SalesLines",
        "SalesLine",
        ws_props("SalesLine", SALES_LINE_FIELDS, read_only=SALES_LINE_FIELDS),
        key=("Document_Type", "Document_No", "Line_No"),
        kind="ws",
        methods=frozenset({"GET"}),
    ),
]

WS_VIEWS += crm_views.WS_VIEWS

WEB_SERVICES: dict[str, View] = {v.name: v for v in WS_VIEWS}

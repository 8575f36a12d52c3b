"""BC's relationship management tables: contacts, their business relations, and opportunities.

A company contact is linked to a customer (or vendor) by a Contact Business Relation with the
customers' business relation code; person contacts belong to a company contact (``Company_No``).
The FlowFields BC computes here (``Contact_Name``, ``Estimated_Value_LCY``...) are kept as values.
"""

from __future__ import annotations

from include.sandbox.bc.columns import address, boolean, date, decimal, option, table, text

CONTACT_TYPES = ("Company", "Person")
# Enum "Contact Business Relation": what a contact's company is to the business.
RELATION_KINDS = (" ", "Customer", "Vendor", "Bank Account", "Employee", "None", "Other", "Multiple")
LINK_TO_TABLES = (" ", "Customer", "Vendor", "Bank Account", "Employee")
OPPORTUNITY_STATUS = ("Not Started", "In Progress", "Won", "Lost")
# Marketing Setup "Bus. Rel. Code for Customers" / "... for Vendors".
CUSTOMER_RELATION = "CUST"
VENDOR_RELATION = "VEND"

BUSINESS_RELATION = table(
    "BusinessRelation",
    text("Code", 10, required=True),
    text("Description", 100),
    unique=(("Code",),),
)

CONTACT = table(
    "Contact",
    text("No", 20, required=True),
    text("Name", 100),
    text("Search_Name", 100),
    text("Name_2", 50),
    option("Type", CONTACT_TYPES),
    text("Company_No", 20),
    text("Company_Name", 100),
    text("First_Name", 30),
    text("Middle_Name", 30),
    text("Surname", 30),
    text("Job_Title", 30),
    text("Initials", 30),
    *address(),
    text("Phone_No", 30),
    text("Mobile_Phone_No", 30),
    text("Fax_No", 30),
    text("Pager", 30),
    text("E_Mail", 80),
    text("Home_Page", 80),
    text("Currency_Code", 10),
    text("Salesperson_Code", 20),
    text("VAT_Registration_No", 20),
    boolean("Privacy_Blocked"),
    option("Contact_Business_Relation", RELATION_KINDS),
    date("Date_of_Last_Interaction"),
    date("Last_Date_Modified"),
    unique=(("No",),),
    indexes=("Company_No",),
)

CONTACT_BUSINESS_RELATION = table(
    "ContactBusinessRelation",
    text("Contact_No", 20, required=True),
    text("Business_Relation_Code", 10, required=True),
    option("Link_to_Table", LINK_TO_TABLES),
    text("No", 20),
    text("Business_Relation_Description", 100),
    text("Contact_Name", 100),
    unique=(("Contact_No", "Business_Relation_Code"),),
    indexes=("No",),
)

OPPORTUNITY = table(
    "Opportunity",
    text("No", 20, required=True),
    text("Description", 100),
    text("Salesperson_Code", 20),
    text("Campaign_No", 20),
    text("Contact_No", 20),
    text("Contact_Company_No", 20),
    text("Contact_Name", 100),
    text("Contact_Company_Name", 100),
    text("Sales_Cycle_Code", 10),
    date("Creation_Date"),
    option("Status", OPPORTUNITY_STATUS),
    option("Priority", ("Low", "Normal", "High"), default="Normal"),
    boolean("Closed"),
    date("Date_Closed"),
    decimal("Estimated_Value_LCY", minimum=0),
    decimal("Chances_of_Success_Percent", minimum=0, maximum=100),
    decimal("Completed_Percent", minimum=0, maximum=100),
    decimal("Calcd_Current_Value_LCY"),
    date("Estimated_Closing_Date"),
    option("Sales_Document_Type", (" ", "Quote", "Order", "Posted Invoice")),
    text("Sales_Document_No", 20),
    unique=(("No",),),
    indexes=("Contact_Company_No", "Contact_No", "Salesperson_Code"),
)

TABLES = (BUSINESS_RELATION, CONTACT, CONTACT_BUSINESS_RELATION, OPPORTUNITY)

CAPTIONS = {
    "BusinessRelation": "Business Relation",
    "ContactBusinessRelation": "Contact Business Relation",
}

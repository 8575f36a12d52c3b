"""Contacts and opportunities as BC exposes them: API v2.0 ``contacts`` and ``opportunities``, and web services.

The API pages lack what the sync writes (a person's first name and surname, an opportunity's
status and estimated value, business relations), so the web services ``ContactCard``,
``ContactBusinessRelations`` and ``Opportunities`` publish the cards with those fields.
"""

from __future__ import annotations

from include.sandbox.bc.shapes import ID, MODIFIED, View, api_address, columns_of, ro, rw, ws_props

CONTACTS = View(
    "contacts",
    "contact",
    "Contact",
    (
        ID,
        rw("number", "No"),
        rw("type", "Type"),
        rw("displayName", "Name"),
        rw("companyNumber", "Company_No"),
        rw("companyName", "Company_Name"),
        # The older name of the field, still listed by clients written for it.
        ro("businessRelation", "Contact_Business_Relation"),
        ro("contactBusinessRelation", "Contact_Business_Relation"),
        *api_address(),
        rw("phoneNumber", "Phone_No"),
        rw("mobilePhoneNumber", "Mobile_Phone_No"),
        rw("email", "E_Mail"),
        rw("website", "Home_Page"),
        rw("searchName", "Search_Name"),
        rw("privacyBlocked", "Privacy_Blocked"),
        rw("taxRegistrationNumber", "VAT_Registration_No"),
        ro("lastInteractionDate", "Date_of_Last_Interaction"),
        MODIFIED,
    ),
)

# Page 30070: status and amounts are read-only (BC changes them through opportunity entries).
OPPORTUNITIES = View(
    "opportunities",
    "opportunity",
    "Opportunity",
    (
        ID,
        rw("number", "No"),
        rw("contactNumber", "Contact_No"),
        ro("contactName", "Contact_Name"),
        ro("contactCompanyName", "Contact_Company_Name"),
        rw("salespersonCode", "Salesperson_Code"),
        rw("description", "Description"),
        ro("status", "Status"),
        ro("closed", "Closed"),
        ro("creationDate", "Creation_Date"),
        ro("dateClosed", "Date_Closed"),
        ro("calculatedCurrentValue", "Calcd_Current_Value_LCY"),
        ro("chancesOfSuccessPrc", "Chances_of_Success_Percent"),
        ro("completedPrc", "Completed_Percent"),
        ro("estimatedClosingDate", "Estimated_Closing_Date"),
        ro("estimatedValue", "Estimated_Value_LCY"),
        ro("systemCreatedAt", "SystemCreatedAt"),
        MODIFIED,
    ),
)

API_VIEWS = [CONTACTS, OPPORTUNITIES]

OPPORTUNITY_FIELDS = (
    "No",
    "Description",
    "Contact_No",
    "Contact_Company_No",
    "Salesperson_Code",
    "Status",
    "Estimated_Value_LCY",
    "Estimated_Closing_Date",
    "Contact_Name",
    "Contact_Company_Name",
    "Creation_Date",
    "Priority",
    "Closed",
    "Date_Closed",
    "Chances_of_Success_Percent",
    "Completed_Percent",
    "Calcd_Current_Value_LCY",
    "Campaign_No",
    "Sales_Cycle_Code",
    "Sales_Document_Type",
    "Sales_Document_No",
)

WS_VIEWS = [
    View(
        "ContactCard",
        "ContactCard",
        "Contact",
        ws_props(
            "Contact",
            columns_of("Contact"),
            read_only=("Contact_Business_Relation", "Date_of_Last_Interaction", "Last_Date_Modified"),
        ),
        key=("No",),
        kind="ws",
    ),
    View(
        "ContactBusinessRelations",
        "ContactBusinessRelations",
        "ContactBusinessRelation",
        ws_props(
            "ContactBusinessRelation",
            columns_of("ContactBusinessRelation"),
            read_only=("Business_Relation_Description", "Contact_Name"),
        ),
        key=("Contact_No", "Business_Relation_Code"),
        kind="ws",
    ),
    # The opportunity card: the sandbox lets clients set Status, Estimated_Value_LCY and
    # Estimated_Closing_Date directly (BC derives them from opportunity entries).
    View(
        "Opportunities",
        "Opportunities",
        "Opportunity",
        ws_props(
            "Opportunity",
            OPPORTUNITY_FIELDS,
            read_only=("Contact_Name", "Contact_Company_Name", "Closed", "Date_Closed", "Calcd_Current_Value_LCY"),
        ),
        key=("No",),
        kind="ws",
    ),
]

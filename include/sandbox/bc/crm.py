"""BC's relationship management rules: contacts, business relations, opportunities, and customers' contacts.

As in BC, a customer keeps a contact of its own: creating a customer creates its company (or
person) contact with a business relation to it, and changing either one copies the shared
fields to the other (BC's CustCont-Update and CustVendBank-Update). These copies are the
server's own writes: they go straight to the store.
"""

from __future__ import annotations

from include.sandbox.bc import crm_tables as c
from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import dialog, invalid_relation
from include.sandbox.bc.records import Ctx, before_write_master, find_one, next_number

# Fields a customer and its contact share (same column names in both tables).
SHARED = (
    "Name",
    "Address",
    "Address_2",
    "City",
    "County",
    "Country_Region_Code",
    "Post_Code",
    "Phone_No",
    "E_Mail",
    "Home_Page",
    "Currency_Code",
    "Salesperson_Code",
    "VAT_Registration_No",
)
# What a person takes from its company when it leaves them blank: address, communication, defaults.
INHERITED = (
    "Address",
    "Address_2",
    "City",
    "County",
    "Country_Region_Code",
    "Post_Code",
    "Phone_No",
    "Fax_No",
    "Currency_Code",
    "Salesperson_Code",
)
NAME_PARTS = ("First_Name", "Middle_Name", "Surname")
CLOSED = ("Won", "Lost")


def _merged(table: str, values: dict, old: dict | None) -> dict:
    defaults = {f.name: f.default for f in t.BY_NAME[table].fields}
    return {**defaults, **(old or {}), **values}


# -- contacts ----------------------------------------------------------------------------------


def contact_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
    before_write_master(ctx, "Contact", values, old)
    row = _merged("Contact", values, old)
    if old is not None and row["Type"] != old["Type"]:
        _check_type_change(ctx, old)
    if row["Type"] == "Person" and "Name" not in values and any(k in values for k in NAME_PARTS):
        values["Name"] = row["Name"] = " ".join(row[k] for k in NAME_PARTS if row[k])
    if old is None and not row["Name"]:
        raise dialog('A "displayName" must be provided.')
    if old is not None and "Name" in values and not values["Name"]:
        raise dialog('The blank "displayName" is not allowed.')
    _company_of_contact(ctx, values, row, old)
    follows_name = old is None or old["Search_Name"] in ("", old["Name"].upper())
    if "Name" in values and "Search_Name" not in values and follows_name:
        values["Search_Name"] = values["Name"].upper()
    values["Last_Date_Modified"] = ctx.today.isoformat()


def _check_type_change(ctx: Ctx, old: dict) -> None:
    has_relations = find_one(ctx, "ContactBusinessRelation", Contact_No=old["No"]) is not None
    persons = [p for p in ctx.store.find("Contact", Company_No=old["No"]) if p["No"] != old["No"]]
    if has_relations or persons:
        raise dialog(
            f"You cannot change the Type of contact {old['No']} because it has business relations or person contacts."
        )


def _company_of_contact(ctx: Ctx, values: dict, row: dict, old: dict | None) -> None:
    """A company is its own company; a person takes its company's name and business relation."""
    if row["Type"] == "Company":
        values["Company_No"], values["Company_Name"] = row["No"], row["Name"]
        if old is None:
            values["Contact_Business_Relation"] = "None"
        return
    if old is not None and old["Type"] == "Company" and "Company_No" not in values:
        values["Company_No"] = row["Company_No"] = ""
    if "Company_Name" in values and "Company_No" not in values and values["Company_Name"]:
        named = find_one(ctx, "Contact", Name=values["Company_Name"], Type="Company")
        if named is not None:
            values["Company_No"] = row["Company_No"] = named["No"]
    if "Company_No" not in values:
        if old is None:
            values["Contact_Business_Relation"] = "None"
        return
    company = find_one(ctx, "Contact", No=row["Company_No"]) if row["Company_No"] else None
    if row["Company_No"] and (company is None or company["Type"] != "Company"):
        raise invalid_relation("Company No.", "Contact", row["Company_No"], "Contact")
    if company is None:
        values["Company_No"] = values["Company_Name"] = ""
        values["Contact_Business_Relation"] = "None"
        return
    values["Company_Name"] = company["Name"]
    values["Contact_Business_Relation"] = company["Contact_Business_Relation"]
    # A person joining a company inherits what it leaves blank (BC's InheritCompanyToPersonData).
    for column in INHERITED:
        if column not in values and not row[column]:
            values[column] = company[column]


def contact_after_write(ctx: Ctx, row: dict, old: dict | None) -> None:
    if old is None:
        return
    store = ctx.store
    if row["Name"] != old["Name"]:
        for opportunity in store.find("Opportunity", Contact_No=row["No"]):
            store.update("Opportunity", opportunity["SystemId"], {"Contact_Name": row["Name"]}, trusted=True)
    if row["Type"] != "Company":
        return
    if row["Name"] != old["Name"]:
        _rename_company(ctx, row)
    link = find_one(ctx, "ContactBusinessRelation", Contact_No=row["No"], Link_to_Table="Customer")
    customer = find_one(ctx, "Customer", No=link["No"]) if link else None
    if customer is not None:
        changes = {k: row[k] for k in SHARED if row[k] != old[k] and row[k] != customer[k]}
        if changes:
            store.update("Customer", customer["SystemId"], _with_ids(ctx, changes), trusted=True)


def _rename_company(ctx: Ctx, company: dict) -> None:
    store = ctx.store
    for person in store.find("Contact", Company_No=company["No"]):
        if person["SystemId"] != company["SystemId"]:
            store.update("Contact", person["SystemId"], {"Company_Name": company["Name"]}, trusted=True)
    for opportunity in store.find("Opportunity", Contact_Company_No=company["No"]):
        store.update("Opportunity", opportunity["SystemId"], {"Contact_Company_Name": company["Name"]}, trusted=True)


def _with_ids(ctx: Ctx, changes: dict) -> dict:
    """Customer changes with the id fields BC keeps beside their codes."""
    if "Currency_Code" in changes:
        currency = find_one(ctx, "Currency", Code=changes["Currency_Code"]) if changes["Currency_Code"] else None
        changes["Currency_Id"] = currency["SystemId"] if currency else t.EMPTY_GUID
    return changes


def contact_before_delete(ctx: Ctx, row: dict) -> None:
    persons = [p for p in ctx.store.find("Contact", Company_No=row["No"]) if p["No"] != row["No"]]
    if persons:
        raise dialog(f"You cannot delete company contact {row['No']} while person contacts belong to it.")
    if any(not o["Closed"] for o in ctx.store.find("Opportunity", Contact_No=row["No"])):
        raise dialog(f"You cannot delete contact {row['No']} because it has one or more open opportunities.")


def contact_after_delete(ctx: Ctx, row: dict) -> None:
    for link in ctx.store.find("ContactBusinessRelation", Contact_No=row["No"]):
        ctx.store.delete("ContactBusinessRelation", link["SystemId"])


# -- business relations ----------------------------------------------------------------------------


def relation_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
    before_write_master(ctx, "ContactBusinessRelation", values, old)
    row = _merged("ContactBusinessRelation", values, old)
    contact = find_one(ctx, "Contact", No=row["Contact_No"])
    if contact is None or contact["Type"] != "Company":
        raise invalid_relation("Contact No.", "Contact Business Relation", row["Contact_No"], "Contact")
    linked = {"Customer": "Customer", "Vendor": "Vendor"}.get(row["Link_to_Table"])
    if linked and find_one(ctx, linked, No=row["No"]) is None:
        raise invalid_relation("No.", "Contact Business Relation", row["No"], linked)
    if linked:
        for other in ctx.store.find("ContactBusinessRelation", Link_to_Table=row["Link_to_Table"], No=row["No"]):
            if old is None or other["SystemId"] != old["SystemId"]:
                raise dialog(f"{linked} {row['No']} is already linked to contact {other['Contact_No']}.")
    relation = find_one(ctx, "BusinessRelation", Code=row["Business_Relation_Code"])
    values["Business_Relation_Description"] = relation["Description"] if relation else ""
    values["Contact_Name"] = contact["Name"]


def refresh_relation_kind(ctx: Ctx, company_no: str) -> None:
    """A company's "Contact Business Relation" from its links (None, the one linked table, Multiple), and its persons'."""
    links = ctx.store.find("ContactBusinessRelation", Contact_No=company_no)
    if not links:
        kind = "None"
    elif len(links) > 1:
        kind = "Multiple"
    else:
        kind = links[0]["Link_to_Table"].strip() or "Other"
    for contact in ctx.store.find("Contact", Company_No=company_no):
        if contact["Contact_Business_Relation"] != kind:
            ctx.store.update("Contact", contact["SystemId"], {"Contact_Business_Relation": kind}, trusted=True)


# -- customers ---------------------------------------------------------------------------------------


def customer_after_write(ctx: Ctx, row: dict, old: dict | None) -> None:
    """A new customer gets its contact; a changed one passes the shared fields on to it."""
    if old is None:
        _create_customer_contact(ctx, row)
        return
    if row["No"] != old["No"]:
        for link in ctx.store.find("ContactBusinessRelation", Link_to_Table="Customer", No=old["No"]):
            ctx.store.update("ContactBusinessRelation", link["SystemId"], {"No": row["No"]}, trusted=True)
    link = find_one(ctx, "ContactBusinessRelation", Link_to_Table="Customer", No=row["No"])
    contact = find_one(ctx, "Contact", No=link["Contact_No"]) if link else None
    if contact is None:
        return
    changes = {k: row[k] for k in SHARED if row[k] != old[k] and row[k] != contact[k]}
    if not changes:
        return
    if "Name" in changes:
        if contact["Search_Name"] in ("", contact["Name"].upper()):
            changes["Search_Name"] = changes["Name"].upper()
        if contact["Type"] == "Company":
            changes["Company_Name"] = changes["Name"]
    updated = ctx.store.update("Contact", contact["SystemId"], changes, trusted=True)
    if "Name" in changes and updated["Type"] == "Company":
        _rename_company(ctx, updated)


def _create_customer_contact(ctx: Ctx, customer: dict) -> None:
    relation = find_one(ctx, "BusinessRelation", Code=c.CUSTOMER_RELATION)
    if relation is None or find_one(ctx, "NoSeries", Code="CONT") is None:
        return
    number = next_number(ctx, "CONT")
    kind = customer["Contact_Type"]
    contact = {k: customer[k] for k in SHARED}
    contact.update(No=number, Type=kind, Search_Name=customer["Name"].upper(), Last_Date_Modified=ctx.today.isoformat())
    contact.update(Contact_Business_Relation="Customer" if kind == "Company" else "None")
    if kind == "Company":
        contact.update(Company_No=number, Company_Name=customer["Name"])
    ctx.store.insert("Contact", contact, trusted=True)
    if kind == "Company":
        link = {
            "Contact_No": number,
            "Business_Relation_Code": relation["Code"],
            "Link_to_Table": "Customer",
            "No": customer["No"],
            "Business_Relation_Description": relation["Description"],
            "Contact_Name": customer["Name"],
        }
        ctx.store.insert("ContactBusinessRelation", link, trusted=True)


def customer_after_delete(ctx: Ctx, row: dict) -> None:
    for link in ctx.store.find("ContactBusinessRelation", Link_to_Table="Customer", No=row["No"]):
        ctx.store.delete("ContactBusinessRelation", link["SystemId"])
        refresh_relation_kind(ctx, link["Contact_No"])


# -- opportunities -------------------------------------------------------------------------------------


def opportunity_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
    before_write_master(ctx, "Opportunity", values, old)
    changed = {k for k, v in values.items() if old is not None and old.get(k) != v}
    if old is not None and old["Status"] in CLOSED and changed - {"Description"}:
        raise dialog(f"Opportunity {old['No']} is {old['Status'].lower()}: only its description can be changed.")
    row = _merged("Opportunity", values, old)
    if old is None:
        values.setdefault("Creation_Date", ctx.today.isoformat())
    if "Contact_No" in values:
        _opportunity_contact(ctx, values, row)
    elif "Contact_Company_No" in values:
        company = find_one(ctx, "Contact", No=row["Contact_Company_No"]) if row["Contact_Company_No"] else None
        if row["Contact_Company_No"] and (company is None or company["Type"] != "Company"):
            raise invalid_relation("Contact Company No.", "Opportunity", row["Contact_Company_No"], "Contact")
        values["Contact_Company_Name"] = company["Name"] if company else ""
    if "Status" in values:
        closed = values["Status"] in CLOSED
        values["Closed"] = closed
        values["Date_Closed"] = ctx.today.isoformat() if closed else t.BLANK_DATE
        if closed:
            values.setdefault("Chances_of_Success_Percent", 100.0 if values["Status"] == "Won" else 0.0)
            values.setdefault("Completed_Percent", 100.0)
        row = _merged("Opportunity", values, old)
    if {"Estimated_Value_LCY", "Chances_of_Success_Percent"} & set(values):
        values["Calcd_Current_Value_LCY"] = round(
            row["Estimated_Value_LCY"] * row["Chances_of_Success_Percent"] / 100, 2
        )


def _opportunity_contact(ctx: Ctx, values: dict, row: dict) -> None:
    """The contact sets the company, the names and, when none is given, the salesperson."""
    contact = find_one(ctx, "Contact", No=row["Contact_No"]) if row["Contact_No"] else None
    company = find_one(ctx, "Contact", No=contact["Company_No"]) if contact and contact["Company_No"] else None
    values["Contact_Name"] = contact["Name"] if contact else ""
    values["Contact_Company_No"] = company["No"] if company else ""
    values["Contact_Company_Name"] = company["Name"] if company else ""
    if contact and "Salesperson_Code" not in values and not row["Salesperson_Code"]:
        values["Salesperson_Code"] = contact["Salesperson_Code"]

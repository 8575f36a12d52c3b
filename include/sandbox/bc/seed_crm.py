"""The demo company's contacts and opportunities, built from the customers and vendors already loaded.

Every demo customer has its contact (company, or person for a person customer) linked by a
business relation, as BC creates them; some companies have person contacts; Fabrikam, a vendor,
has its company contact; Contoso is a prospect without a business relation. Three opportunities:
in progress, not started and won.
"""

from __future__ import annotations

import datetime as dt

from include.sandbox.bc import crm_tables as c
from include.sandbox.bc import tables as t
from include.sandbox.bc.crm import SHARED
from include.sandbox.store import Store

BASE_TIME = dt.datetime(2025, 3, 3, 15, 0, tzinfo=dt.UTC)

# first name, surname, company's customer no., job title, e-mail, mobile phone
PERSONS = [
    ("Robert", "Townes", "10000", "Purchasing Manager", "robert.townes@adatum.example", "+1 404 555 0111"),
    ("Helen", "Ray", "20000", "Office Manager", "helen.ray@treyresearch.example", "+1 312 555 0121"),
    ("Meagan", "Bond", "30000", "Facilities Coordinator", "meagan.bond@fineartschool.example", "+1 305 555 0131"),
    ("Ian", "Deberry", "40000", "Owner", "ian.deberry@alpineskihouse.example", "+1 303 555 0141"),
    ("Jesse", "Homer", "50000", "Head of Workplace", "jesse.homer@relecloud.example", "+1 206 555 0151"),
    ("Anna", "Weber", "60000", "Einkauf", "anna.weber@cohovineyard.example", "+49 170 555 0161"),
]

# no, description, contact (person's surname or a customer no.), salesperson, status, estimated value,
# closing date, chances of success %, creation date
OPPORTUNITIES = [
    (
        "OP000001",
        "Reception refit, second floor",
        "Townes",
        "JR",
        "In Progress",
        12500.0,
        "2025-07-15",
        60.0,
        "2025-04-02",
    ),
    (
        "OP000002",
        "Lodge furniture for the winter season",
        "40000",
        "JR",
        "Not Started",
        8000.0,
        "2025-09-30",
        25.0,
        "2025-05-06",
    ),
    ("OP000003", "Relecloud office expansion", "Homer", "BC", "Won", 25000.0, "2025-05-01", 100.0, "2025-02-10"),
]


def _at(minutes: float) -> str:
    return (BASE_TIME + dt.timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stamped(table: str, key: str, row: dict, n: int) -> dict:
    return {
        "SystemId": t.record_id(table, key),
        "SystemCreatedAt": _at(-60 * 24 * 30),
        "SystemModifiedAt": _at(n * 3.5),
        **row,
    }


def load(store: Store) -> str:
    """Contacts, business relations and opportunities; returns the last contact number used."""
    contacts, links = [], []
    by_customer: dict[str, dict] = {}
    for customer in sorted(store.iter_rows("Customer"), key=lambda r: r["No"]):
        contact = _contact_of(customer, f"CT{len(contacts) + 1:06d}")
        contacts.append(contact)
        by_customer[customer["No"]] = contact
        if contact["Type"] == "Company":
            links.append(_link(contact, "Customer", customer["No"]))
    persons = {}
    for first, last, customer_no, title, email, mobile in PERSONS:
        person = _person(by_customer[customer_no], f"CT{len(contacts) + 1:06d}", first, last, title, email, mobile)
        contacts.append(person)
        persons[last] = person
    fabrikam = store.find("Vendor", No="10000")[0]
    vendor_contact = _contact_of({**fabrikam, "Contact_Type": "Company", "Salesperson_Code": ""}, "")
    vendor_contact.update(No=f"CT{len(contacts) + 1:06d}", Contact_Business_Relation="Vendor")
    vendor_contact["Company_No"] = vendor_contact["No"]
    contacts.append(vendor_contact)
    links.append(_link(vendor_contact, "Vendor", "10000"))
    prospect = _prospect(f"CT{len(contacts) + 1:06d}")
    contacts.append(prospect)
    store.insert_many("Contact", [_stamped("Contact", row["No"], row, n) for n, row in enumerate(contacts)])
    store.insert_many(
        "ContactBusinessRelation",
        [
            _stamped("ContactBusinessRelation", f"{row['Contact_No']}/{row['Business_Relation_Code']}", row, n)
            for n, row in enumerate(links)
        ],
    )
    opportunities = [_opportunity(spec, persons, by_customer) for spec in OPPORTUNITIES]
    store.insert_many(
        "Opportunity", [_stamped("Opportunity", row["No"], row, 40 + n) for n, row in enumerate(opportunities)]
    )
    return contacts[-1]["No"]


def _contact_of(customer: dict, number: str) -> dict:
    """The contact BC creates for a customer (or vendor)."""
    kind = customer["Contact_Type"]
    row = {k: customer[k] for k in SHARED}
    row.update(No=number, Type=kind, Search_Name=customer["Name"].upper(), Last_Date_Modified="2025-03-03")
    row.update(Contact_Business_Relation="Customer" if kind == "Company" else "None")
    row.update(
        Company_No=number if kind == "Company" else "", Company_Name=customer["Name"] if kind == "Company" else ""
    )
    if kind == "Person":
        first, _, last = customer["Name"].partition(" ")
        row.update(First_Name=first, Surname=last)
    return row


def _person(company: dict, number: str, first: str, last: str, title: str, email: str, mobile: str) -> dict:
    row = {k: company[k] for k in SHARED}
    row.update(
        No=number,
        Type="Person",
        Name=f"{first} {last}",
        Search_Name=f"{first} {last}".upper(),
        First_Name=first,
        Surname=last,
        Job_Title=title,
        E_Mail=email,
        Mobile_Phone_No=mobile,
        Company_No=company["No"],
        Company_Name=company["Name"],
        Contact_Business_Relation=company["Contact_Business_Relation"],
        Last_Date_Modified="2025-03-03",
    )
    return row


def _prospect(number: str) -> dict:
    return {
        "No": number,
        "Type": "Company",
        "Name": "Contoso Pharmaceuticals",
        "Search_Name": "CONTOSO PHARMACEUTICALS",
        "Company_No": number,
        "Company_Name": "Contoso Pharmaceuticals",
        "Address": "400 Lake Avenue",
        "City": "Madison",
        "County": "WI",
        "Country_Region_Code": "US",
        "Post_Code": "53703",
        "Phone_No": "+1 608 555 0170",
        "E_Mail": "purchasing@contoso.example",
        "Salesperson_Code": "PS",
        "Contact_Business_Relation": "None",
        "Last_Date_Modified": "2025-03-03",
    }


def _link(contact: dict, table: str, number: str) -> dict:
    code = c.CUSTOMER_RELATION if table == "Customer" else c.VENDOR_RELATION
    return {
        "Contact_No": contact["No"],
        "Business_Relation_Code": code,
        "Link_to_Table": table,
        "No": number,
        "Business_Relation_Description": table,
        "Contact_Name": contact["Name"],
    }


def _opportunity(spec: tuple, persons: dict[str, dict], by_customer: dict[str, dict]) -> dict:
    number, description, who, salesperson, status, value, closing, chances, created = spec
    contact = persons.get(who) or by_customer[who]
    company = next(row for row in by_customer.values() if row["No"] == contact["Company_No"])
    closed = status in ("Won", "Lost")
    return {
        "No": number,
        "Description": description,
        "Salesperson_Code": salesperson,
        "Contact_No": contact["No"],
        "Contact_Company_No": company["No"],
        "Contact_Name": contact["Name"],
        "Contact_Company_Name": company["Name"],
        "Creation_Date": created,
        "Status": status,
        "Closed": closed,
        "Date_Closed": "2025-05-02" if closed else t.BLANK_DATE,
        "Estimated_Value_LCY": value,
        "Chances_of_Success_Percent": chances,
        "Completed_Percent": 100.0 if closed else 40.0 if status == "In Progress" else 0.0,
        "Calcd_Current_Value_LCY": round(value * chances / 100, 2),
        "Estimated_Closing_Date": closing,
    }

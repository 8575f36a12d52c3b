"""BC's relationship management rules on a store of the demo company, and the sandbox's two identities."""

from __future__ import annotations

import shutil
from pathlib import Path

import jwt
import pytest

from include.sandbox import entra
from include.sandbox.bc import crm, logic, open_store
from include.sandbox.bc import seed as seeding
from include.sandbox.bc.errors import BCError
from include.sandbox.bc.records import Ctx
from include.sandbox.config import SandboxConfig
from include.sandbox.tokens import TokenAuthority, load_signing_key


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> Path:
    """The demo company's store files, built once; each test works on a copy."""
    folder = tmp_path_factory.mktemp("bc-demo")
    config = SandboxConfig(state_dir=folder)
    store = open_store(config)
    seeding.load_company(store, config.company_name, config.local_currency)
    seeding.load(store, "demo")
    store.close()
    return folder


@pytest.fixture
def ctx(demo_files, tmp_path) -> Ctx:
    for name in ("bc.sqlite", "bc.schema"):
        shutil.copy(demo_files / name, tmp_path / name)
    config = SandboxConfig(state_dir=tmp_path)
    store = open_store(config)
    yield Ctx(store, config)
    store.close()


def one(ctx: Ctx, table: str, **values) -> dict:
    rows = ctx.store.find(table, **values)
    assert len(rows) == 1, rows
    return rows[0]


def write(ctx: Ctx, table: str, values: dict, old: dict | None = None) -> dict:
    """A client's write as the engine runs it: the rules before and after, the store between."""
    logic.before_write(ctx, table, values, old)
    if old is None:
        row = ctx.store.insert(table, values, trusted=True)
    else:
        row = ctx.store.update(table, old["SystemId"], values, trusted=True)
    logic.after_write(ctx, table, row, old)
    return row


def test_a_company_with_two_links_is_multiple_and_its_persons_follow(ctx):
    link = {"Contact_No": "CT000001", "Business_Relation_Code": "VEND", "Link_to_Table": "Vendor", "No": "20000"}
    write(ctx, "ContactBusinessRelation", link)
    assert one(ctx, "Contact", No="CT000001")["Contact_Business_Relation"] == "Multiple"
    assert one(ctx, "Contact", No="CT000011")["Contact_Business_Relation"] == "Multiple"
    for row in ctx.store.find("ContactBusinessRelation", Contact_No="CT000001"):
        ctx.store.delete("ContactBusinessRelation", row["SystemId"])
    crm.refresh_relation_kind(ctx, "CT000001")
    assert one(ctx, "Contact", No="CT000011")["Contact_Business_Relation"] == "None"


def test_a_link_without_a_table_is_other(ctx):
    write(ctx, "ContactBusinessRelation", {"Contact_No": "CT000018", "Business_Relation_Code": "PROS"})
    assert one(ctx, "Contact", No="CT000018")["Contact_Business_Relation"] == "Other"


def test_renaming_a_company_renames_it_on_persons_opportunities_and_the_customer(ctx):
    old = one(ctx, "Contact", No="CT000001")
    write(ctx, "Contact", {"Name": "Adatum Corp."}, old)
    assert one(ctx, "Contact", No="CT000011")["Company_Name"] == "Adatum Corp."
    assert one(ctx, "Opportunity", No="OP000001")["Contact_Company_Name"] == "Adatum Corp."
    assert one(ctx, "Customer", No="10000")["Name"] == "Adatum Corp."
    assert one(ctx, "Contact", No="CT000001")["Search_Name"] == "ADATUM CORP."


def test_a_contacts_currency_reaches_the_customer_with_its_id(ctx):
    old = one(ctx, "Contact", No="CT000003")
    write(ctx, "Contact", {"Currency_Code": "EUR"}, old)
    customer = one(ctx, "Customer", No="30000")
    assert customer["Currency_Code"] == "EUR"
    assert customer["Currency_Id"] == one(ctx, "Currency", Code="EUR")["SystemId"]


def test_a_company_with_persons_keeps_its_type_and_is_not_deleted(ctx):
    company = one(ctx, "Contact", No="CT000002")
    with pytest.raises(BCError, match="cannot change the Type"):
        write(ctx, "Contact", {"Type": "Person"}, company)
    with pytest.raises(BCError, match="person contacts belong to it"):
        logic.before_delete(ctx, "Contact", company)


def test_a_person_named_by_its_parts(ctx):
    person = write(ctx, "Contact", {"Type": "Person", "First_Name": "Ana", "Middle_Name": "M.", "Surname": "Lopez"})
    assert (person["No"], person["Name"], person["Contact_Business_Relation"]) == ("CT000019", "Ana M. Lopez", "None")
    moved = write(ctx, "Contact", {"Company_No": "CT000004"}, person)
    assert (moved["Company_Name"], moved["City"], moved["Salesperson_Code"]) == ("Alpine Ski House", "Denver", "JR")
    assert moved["Contact_Business_Relation"] == "Customer"
    left = write(ctx, "Contact", {"Company_No": ""}, moved)
    assert (left["Company_Name"], left["Contact_Business_Relation"]) == ("", "None")


def test_opportunity_value_and_closing(ctx):
    old = one(ctx, "Opportunity", No="OP000002")
    changed = write(ctx, "Opportunity", {"Estimated_Value_LCY": 10000.0, "Chances_of_Success_Percent": 50.0}, old)
    assert changed["Calcd_Current_Value_LCY"] == 5000.0
    lost = write(ctx, "Opportunity", {"Status": "Lost"}, changed)
    assert lost["Closed"] is True and lost["Chances_of_Success_Percent"] == 0.0
    assert lost["Date_Closed"] == ctx.today.isoformat()
    with pytest.raises(BCError, match="is lost"):
        write(ctx, "Opportunity", {"Status": "In Progress"}, lost)
    write(ctx, "Opportunity", {"Status": "Lost", "Description": "Lodge furniture (lost)"}, lost)


# -- identities ------------------------------------------------------------------------------------


def test_the_two_applications_and_their_tokens(tmp_path):
    config = SandboxConfig(state_dir=tmp_path)
    clients = entra.clients(config)
    assert clients[config.client_id] == entra.Client(config.client_secret, config.integration_user_id)
    sales = clients[config.sales_user_client_id]
    assert (sales.secret, sales.object_id, sales.user) == (
        config.sales_user_client_secret,
        config.sales_user_object_id,
        True,
    )
    authority = TokenAuthority(load_signing_key(tmp_path), config.tenant_id)
    app_token, _ = authority.issue("https://x", config.client_id, config.integration_user_id)
    user_token, _ = authority.issue("https://x", sales_id := config.sales_user_client_id, sales.object_id, user=True)
    app_claims = authority.validate(f"Bearer {app_token}", "https://x")
    user_claims = jwt.decode(user_token, options={"verify_signature": False})
    assert app_claims["roles"] and app_claims["idtyp"] == "app" and "scp" not in app_claims
    assert user_claims["scp"] == "user_impersonation" and user_claims["idtyp"] == "user" and "roles" not in user_claims
    assert user_claims["appid"] == sales_id and user_claims["oid"] == config.sales_user_object_id
    endpoints = config.endpoints()
    assert endpoints["sales_user"]["systemuser_id"] == config.sales_user_id
    assert endpoints["client_id"] == config.client_id

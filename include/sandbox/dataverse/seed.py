"""Seed data of the Dataverse emulator and its generated data sets.

``demo``: the Sales organization before any sync. One business unit; the base currency USD
(exchange rate 1, precision 2, symbol $) and no other currency; the users: SYSTEM, the
integration application user (id = ``config.integration_user_id``, ``applicationid`` = the demo
app's client id, non-interactive access mode, ``isintegrationuser`` true, not licensed), five Sales
users whose emails match the BC salespeople (``jr@``, ``ps@``, ``bc@``, ``hr@``, ``jo@cronus.example``),
one Sales user without a BC salesperson and one disabled user (Sales users have Entra object ids
for ``CallerObjectId``; Peter Saddow's ids are ``config.sales_user_id`` / ``sales_user_object_id``,
the user the ``sales_user`` application acts as); two accounts: "Adatum Corporation"
with account number 10000 (a BC customer number, for match-based coupling) and a prospect that
exists only in Sales. ``empty``: the business unit, the organization with its base currency,
SYSTEM and the integration application user.

Ids are uuid5 of a fixed namespace and a readable name; timestamps are fixed, so every fresh
sandbox holds identical data. Generators add rows in bulk with ``Store.insert_many``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

from include.sandbox.config import SandboxConfig
from include.sandbox.dataverse.schema import NAMESPACE
from include.sandbox.store import Store

SEEDED_AT = dt.datetime(2024, 1, 8, 9, 0, tzinfo=dt.UTC)
GENERATORS: frozenset[str] = frozenset({"accounts"})


def seed_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"seed/{kind}/{name}"))


ORGANIZATION_ID = seed_id("organization", "CRONUS")
BUSINESS_UNIT_ID = seed_id("businessunit", "CRONUS")
USD_ID = seed_id("transactioncurrency", "USD")
SYSTEM_USER_ID = seed_id("systemuser", "SYSTEM")

SALES_USERS = (
    # (code, first name, last name, email, disabled)
    ("JR", "John", "Roberts", "jr@cronus.example", False),
    ("PS", "Peter", "Saddow", "ps@cronus.example", False),
    ("BC", "Benjamin", "Chiu", "bc@cronus.example", False),
    ("HR", "Helen", "Ray", "hr@cronus.example", False),
    ("JO", "Jim", "Olive", "jo@cronus.example", False),
    ("AH", "Annette", "Hill", "ah@cronus.example", False),
    ("RM", "Robin", "Moss", "rm@cronus.example", True),
)
# The Sales user the ``sales_user`` application acts as (Peter Saddow): licensed, not an integration user.
SALES_USER_CODE = "PS"


def _stamp(minutes: int, created_by: str = SYSTEM_USER_ID) -> dict:
    at = (SEEDED_AT + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"createdon": at, "modifiedon": at, "_createdby_value": created_by, "_modifiedby_value": created_by}


def load(store: Store, config: SandboxConfig, seed: str) -> None:
    """Load the ``demo`` or ``empty`` seed into an empty store.

    Rows of one ``insert_many`` call must all have the same keys (it is one executemany).
    """
    store.insert_many(
        "businessunits",
        [{"businessunitid": BUSINESS_UNIT_ID, "name": "CRONUS", "isdisabled": False, **_stamp(0)}],
    )
    store.insert_many(
        "transactioncurrencies",
        [
            {
                "transactioncurrencyid": USD_ID,
                "isocurrencycode": "USD",
                "currencyname": "US Dollar",
                "currencysymbol": "$",
                "exchangerate": 1.0,
                "currencyprecision": 2,
                "statecode": 0,
                "statuscode": 1,
                **_stamp(0),
            }
        ],
    )
    store.insert_many(
        "organizations",
        [
            {
                "organizationid": ORGANIZATION_ID,
                "name": "CRONUS Sales",
                "_basecurrencyid_value": USD_ID,
                **_stamp(0),
            }
        ],
    )
    users = [
        _user(SYSTEM_USER_ID, None, "SYSTEM", None, access_mode=0, licensed=False, minutes=0),
        {
            **_user(
                config.integration_user_id,
                None,
                "# Business Central Integration",
                None,
                access_mode=4,
                licensed=False,
                minutes=1,
            ),
            "applicationid": config.client_id,
            "azureactivedirectoryobjectid": config.integration_user_id,
            "isintegrationuser": True,
        },
    ]
    if seed == "demo":
        users += [_sales_user(config, n, *spec) for n, spec in enumerate(SALES_USERS)]
    store.insert_many("systemusers", users)
    if seed == "demo":
        owner = seed_id("systemuser", "JR")
        store.insert_many(
            "accounts",
            [
                _account("10000", "Adatum Corporation", owner, 3, 20),
                _account(None, "Northwind Traders", owner, 8, 21, city="Seattle"),
            ],
        )


def sales_user_ids(config: SandboxConfig, code: str) -> tuple[str, str]:
    """A Sales user's systemuser id and Entra object id; the ``sales_user`` application's come from the config."""
    if code == SALES_USER_CODE:
        return config.sales_user_id, config.sales_user_object_id
    return seed_id("systemuser", code), seed_id("entra-user", code)


def _sales_user(config: SandboxConfig, n: int, code: str, first: str, last: str, email: str, disabled: bool) -> dict:
    user_id, object_id = sales_user_ids(config, code)
    user = _user(user_id, first, last, email, access_mode=0, licensed=True, minutes=2 + n)
    user["isdisabled"] = disabled
    user["title"] = "Salesperson"
    # Their Entra ID object ids: for CallerObjectId impersonation, and the oid of the sales_user app's tokens.
    user["azureactivedirectoryobjectid"] = object_id
    return user


def _user(
    id: str, first: str | None, last: str, email: str | None, *, access_mode: int, licensed: bool, minutes: int
) -> dict:
    return {
        "systemuserid": id,
        "firstname": first,
        "lastname": last,
        "fullname": " ".join(p for p in (first, last) if p),
        "internalemailaddress": email,
        "domainname": email or f"{last.lower().strip('# ').replace(' ', '.')}@cronus.example",
        "isdisabled": False,
        "islicensed": licensed,
        "isintegrationuser": False,
        "accessmode": access_mode,
        "applicationid": None,
        "azureactivedirectoryobjectid": None,
        "title": None,
        "_businessunitid_value": BUSINESS_UNIT_ID,
        **_stamp(minutes),
    }


def _account(
    number: str | None, name: str, owner: str, customer_type: int, minutes: int, city: str = "Atlanta"
) -> dict:
    return {
        "accountid": seed_id("account", name),
        "name": name,
        "accountnumber": number,
        "customertypecode": customer_type,
        "address1_line1": "192 Market Square" if number else "1 Pike Place",
        "address1_city": city,
        "address1_postalcode": "31772" if number else "98101",
        "address1_country": "US",
        "telephone1": "+1 425 555 0100",
        "emailaddress1": f"info@{name.split()[0].lower()}.example",
        "_transactioncurrencyid_value": USD_ID,
        "exchangerate": 1.0,
        "_ownerid_value": owner,
        "owneridtype": "systemuser",
        "_owningbusinessunit_value": BUSINESS_UNIT_ID,
        "statecode": 0,
        "statuscode": 1,
        **_stamp(minutes),
    }


def generate(store: Store, kind: str, count: int) -> int:
    """Add ``count`` generated rows of ``kind`` (see :data:`GENERATORS`); returns how many."""
    if kind == "accounts":
        return store.insert_many("accounts", _generated_accounts(count, store.count("accounts")))
    raise ValueError(f"Unknown Dataverse generator '{kind}'; known: {', '.join(sorted(GENERATORS))}.")


def _generated_accounts(count: int, start: int) -> Iterator[dict]:
    owners = [seed_id("systemuser", code) for code, *_rest, disabled in SALES_USERS if not disabled]
    for i in range(start, start + count):
        stamp = _stamp(60 + i // 100)
        yield {
            "accountid": seed_id("generated-account", str(i)),
            "name": f"Generated Account {i:06d}",
            "accountnumber": f"G{i:06d}",
            "customertypecode": 3 if i % 5 else 8,
            "address1_city": ("Atlanta", "Chicago", "Seattle", "Boston", "Denver")[i % 5],
            "address1_country": "US",
            "telephone1": f"+1 555 {i % 10000:04d}",
            "creditlimit": float((i % 50) * 1000),
            "_transactioncurrencyid_value": USD_ID,
            "exchangerate": 1.0,
            "_ownerid_value": owners[i % len(owners)],
            "owneridtype": "systemuser",
            "_owningbusinessunit_value": BUSINESS_UNIT_ID,
            "statecode": 0,
            "statuscode": 1,
            **stamp,
        }

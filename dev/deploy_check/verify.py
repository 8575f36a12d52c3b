"""What arrived in Dataverse, checked against Business Central through the sandbox's public APIs.

Counts and fields are compared record by record: products against items and resources, accounts against
customers, invoices against posted sales invoices, account statistics against the customers' balances. A BC
record missing in Sales must be one the sync job recorded as failed (the demo company has a few, on purpose:
salespeople without a Sales user, and what depends on them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


class SandboxClient:
    """Business Central and Dataverse of a running sandbox, from its ``endpoints.json``."""

    def __init__(self, state_dir: Path):
        self.endpoints = json.loads((state_dir / "endpoints.json").read_text())
        self.ca = self.endpoints["ca_file"]
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}

    def _token(self, scope: str) -> str:
        if scope not in self._tokens:
            e = self.endpoints
            response = self.session.post(
                e["token_url"],
                data={
                    "grant_type": "client_credentials",
                    "client_id": e["client_id"],
                    "client_secret": e["client_secret"],
                    "scope": scope,
                },
                verify=self.ca,
                timeout=30,
            )
            response.raise_for_status()
            self._tokens[scope] = response.json()["access_token"]
        return self._tokens[scope]

    def _pages(self, url: str, scope: str, params: dict | None = None) -> Iterator[dict]:
        headers = {"Authorization": f"Bearer {self._token(scope)}", "Accept": "application/json"}
        while url:
            response = self.session.get(url, params=params, headers=headers, verify=self.ca, timeout=60)
            response.raise_for_status()
            body = response.json()
            yield from body["value"]
            url, params = body.get("@odata.nextLink"), None

    def web_service(self, name: str, **params: str) -> list[dict]:
        """A published BC web service (OData V4), every page."""
        bc = self.endpoints["business_central"]
        url = f"{bc['odata_v4']}/Company('{quote(bc['company_name'])}')/{name}"
        return list(self._pages(url, bc["scope"], params or None))

    def bc_api(self, entity_set: str, **params: str) -> list[dict]:
        """A BC API v2.0 entity set of the company."""
        bc = self.endpoints["business_central"]
        url = f"{bc['api_v2']}/companies({bc['company_id']})/{entity_set}"
        return list(self._pages(url, bc["scope"], params or None))

    def dataverse(self, entity_set: str, select: list[str], filter: str | None = None) -> list[dict]:
        dv = self.endpoints["dataverse"]
        params = {"$select": ",".join(select), **({"$filter": filter} if filter else {})}
        return list(self._pages(f"{dv['api']}/{entity_set}", dv["scope"], params))

    def stats(self, service: str) -> dict:
        """The request counters of one emulator (``business_central``, ``dataverse``)."""
        url = self.endpoints[service]["url"]
        return self.session.get(f"{url}/_sandbox/stats", verify=self.ca, timeout=10).json()


def _money(value) -> float:
    return round(float(value or 0), 2)


def compare(
    name: str, bc: dict[str, dict], sales: dict[str, dict], fields: dict[str, tuple[str, object]], failed: int
) -> Check:
    """Records keyed by number: each Sales record has its BC record's fields, and BC records missing in Sales
    are exactly the ``failed`` ones the job recorded.

    :param fields: Sales field -> (BC field, a function giving the value Sales must hold).
    """
    missing = sorted(set(bc) - set(sales))
    extra = sorted(set(sales) - set(bc))
    wrong = []
    for number in sorted(set(bc) & set(sales)):
        for sales_field, (bc_field, expected) in fields.items():
            want, got = expected(bc[number][bc_field]), sales[number][sales_field]
            if want != got:
                wrong.append(f"{number}.{sales_field}: Sales {got!r}, BC {bc[number][bc_field]!r} (expected {want!r})")
    ok = not wrong and not extra and len(missing) == failed
    detail = f"{len(sales)} in Sales for {len(bc)} in Business Central"
    if missing:
        detail += f", {len(missing)} not there ({', '.join(missing[:6])}; the job recorded {failed} failed)"
    detail += f"; fields {', '.join(fields)} equal" if not wrong else f"; {len(wrong)} differ: {'; '.join(wrong[:3])}"
    if extra:
        detail += f"; {len(extra)} in Sales only: {', '.join(extra[:6])}"
    return Check(name, ok, detail)


def check_dataverse_against_bc(client: SandboxClient, failed: dict[str, int]) -> list[Check]:
    """The checks of what the sync DAGs and the statistics wrote.

    :param failed: mapping name -> records its job recorded as failed in the run checked.
    """
    products = client.dataverse("products", ["productnumber", "name", "price", "statecode", "producttypecode"])
    checks = []
    for kind, service, type_code, name_field, mapping in (
        ("items", "ItemCard", 1, "Description", "ITEM-PRODUCT"),
        ("resources", "Resources", 3, "Name", "RESOURCE-PRODUCT"),
    ):
        # BC synchronizes unblocked items and resources only (its table filter Blocked = false).
        bc = {r["No"]: r for r in client.web_service(service) if not r["Blocked"]}
        sales = {p["productnumber"]: p for p in products if p["producttypecode"] == type_code}
        fields = {
            "name": (name_field, str),
            "price": ("Unit_Price", lambda v: max(_money(v), 0.0)),
            "statecode": ("Blocked", lambda blocked: 1 if blocked else 0),
        }
        sales = {n: {**p, "price": _money(p["price"])} for n, p in sales.items()}
        checks.append(compare(f"products vs BC {kind}", bc, sales, fields, failed.get(mapping, 0)))

    customers = {c["No"]: c for c in client.web_service("CustomerCard") if c["Blocked"] == " "}
    accounts = {
        a["accountnumber"]: a for a in client.dataverse("accounts", ["accountnumber", "name"]) if a["accountnumber"]
    }
    checks.append(
        compare("accounts vs BC customers", customers, accounts, {"name": ("Name", str)}, failed.get("CUSTOMER", 0))
    )

    posted = {i["number"]: i for i in client.bc_api("salesInvoices") if i["status"] != "Draft"}
    invoices = {
        i["invoicenumber"]: {**i, "totalamount": _money(i["totalamount"])}
        for i in client.dataverse("invoices", ["invoicenumber", "totalamount"])
    }
    checks.append(
        compare(
            "invoices vs BC posted sales invoices",
            posted,
            invoices,
            {"totalamount": ("totalAmountIncludingTax", _money)},
            failed.get("POSTEDSALESINV-INV", 0),
        )
    )

    rows = client.dataverse("nav_accountstatisticses", ["nav_customerno", "nav_balancelcy"])
    statistics = {r["nav_customerno"]: {**r, "nav_balancelcy": _money(r["nav_balancelcy"])} for r in rows}
    coupled = {number: customers[number] for number in accounts if number in customers}
    checks.append(
        compare(
            "account statistics vs BC customers with an account",
            coupled,
            statistics,
            {"nav_balancelcy": ("Balance_LCY", _money)},
            failed.get("CUSTOMER STATISTICS", 0),
        )
    )
    return checks


def dataverse_writes(before: dict, after: dict) -> int:
    """Writes between two readings of the Dataverse counters: POST, PATCH and DELETE requests and ``$batch``
    operations (a ``$batch`` request itself is a POST that only carries them)."""

    def count(stats: dict) -> int:
        batch = stats.get("by_entity", {}).get("$batch", {})
        writes = sum(stats.get("by_method", {}).get(m, 0) - batch.get(m, 0) for m in ("POST", "PATCH", "DELETE"))
        operations = stats.get("batch_operations", {}).values()
        return writes + sum(n for by_method in operations for m, n in by_method.items() if m != "GET")

    return count(after) - count(before)

"""``sandbox``: the emulators are not the bottleneck.

Lists generated Business Central items (and Dataverse rows, when Dataverse can generate them) in
pages of 5,000 over HTTPS with a plain ``requests.Session`` (TLS verified with the sandbox CA, a
token from the Entra ID emulator), and times one Dataverse ``$batch`` of 1,000 ``PATCH`` upserts.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from urllib.parse import quote

import requests

from bench.harness import BC_CONN_ID, BenchSandbox, bench_sandbox, generator_kinds
from bench.report import Figure, within
from include.bc_sales_sync.odata import odata_string

PAGE = 5000
LIST_BUDGET_SECONDS = 1.0
BATCH_BUDGET_SECONDS = 1.0
# Dataverse kinds worth listing, best first, with their entity set and a $select such as a sync
# sends; the first kind the emulator can generate is used.
DATAVERSE_KINDS = {
    "products": ("products", "productid,productnumber,name,price,modifiedon"),
    "accounts": ("accounts", "accountid,accountnumber,name,statecode,modifiedon"),
    "contacts": ("contacts", "contactid,fullname,emailaddress1,statecode,modifiedon"),
}
BATCH_ENTITY_SET = "accounts"
# What ITEM-PRODUCT asks the ItemCard web service for.
ITEM_CARD_SELECT = (
    "SystemId,SystemModifiedAt,No,Description,Unit_Price,Unit_Cost,Vendor_Item_No,Inventory,"
    "Unit_Volume,Gross_Weight,Base_Unit_of_Measure,Blocked,Vendor_No"
)


def list_all(session: requests.Session, url: str, *, page_size: int = PAGE, params: dict | None = None) -> dict:
    """Follow ``@odata.nextLink`` from ``url``; the seconds, pages and records it took."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}", "Accept": "application/json"}
    started = time.perf_counter()
    pages = records = size = 0
    parsing = 0.0
    next_url: str | None = url
    while next_url:
        response = session.get(next_url, headers=headers, params=params if pages == 0 else None, timeout=300)
        response.raise_for_status()
        parse_started = time.perf_counter()
        payload = response.json()
        parsing += time.perf_counter() - parse_started
        pages += 1
        size += len(response.content)
        records += len(payload["value"])
        next_url = payload.get("@odata.nextLink")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "pages": pages, "records": records, "bytes": size, "client_json_seconds": parsing}


def timed_listing(session: requests.Session, url: str, repeat: int, params: dict | None = None) -> dict:
    """The median of ``repeat`` full listings (the first one warms the emulator's caches too)."""
    runs = [list_all(session, url, params=params) for _ in range(repeat)]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "all_seconds": [round(r["seconds"], 4) for r in runs],
        "client_json_seconds": round(statistics.median(r["client_json_seconds"] for r in runs), 4),
        "pages": runs[-1]["pages"],
        "records": runs[-1]["records"],
        "megabytes": round(runs[-1]["bytes"] / 1e6, 1),
    }


def timed_hook_listing(entity_set: str, repeat: int, *, select: str | None = None, web_service: bool = False) -> dict:
    """The median of ``repeat`` listings through the sync's own ``BusinessCentralHook.iter_pages``
    (pages decoded with msgspec), after one unmeasured listing that also fetches the token."""
    from include.bc_sales_sync.hooks import BusinessCentralHook

    hook = BusinessCentralHook(BC_CONN_ID)
    hook.log.setLevel("WARNING")  # one INFO line per page is not what is measured

    def once() -> dict:
        started = time.perf_counter()
        pages = records = 0
        for page in hook.iter_pages(entity_set, select=select, page_size=PAGE, web_service=web_service):
            pages += 1
            records += len(page)
        return {"seconds": time.perf_counter() - started, "pages": pages, "records": records}

    once()
    runs = [once() for _ in range(repeat)]
    hook.close()
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "all_seconds": [round(r["seconds"], 4) for r in runs],
        "pages": runs[-1]["pages"],
        "records": runs[-1]["records"],
    }


class VerifiedSession(requests.Session):
    """A session that passes its CA file on every request: a session-level ``verify`` alone loses
    against ``REQUESTS_CA_BUNDLE`` when that is set."""

    def __init__(self, ca: str):
        super().__init__()
        self.ca = ca

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("verify", self.ca)
        return super().request(method, url, **kwargs)


def session_for(sandbox: BenchSandbox, resource: str) -> requests.Session:
    session = VerifiedSession(sandbox.ca)
    session.headers["Authorization"] = f"Bearer {sandbox.token(resource)}"
    session.headers["OData-Version"] = "4.0"
    return session


def batch_body(api: str, entity_set: str, ids: list[str], boundary: str, round_: int) -> bytes:
    """A multipart ``$batch`` body of one ``PATCH {entity_set}({id})`` upsert per id."""
    parts = []
    for number, record_id in enumerate(ids):
        body = json.dumps(
            {
                "name": f"Bench account {number} ({round_})",
                "accountnumber": f"BENCH-{number:05d}",
                "creditlimit": number,
            }
        )
        parts.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"PATCH {api}/{entity_set}({record_id}) HTTP/1.1\r\n"
            "Content-Type: application/json; type=entry\r\n\r\n"
            f"{body}\r\n"
        )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode()


def time_batch(session: requests.Session, api: str, ids: list[str], round_: int) -> dict:
    """POST one ``$batch`` of ``len(ids)`` upserts; seconds, and how many operations succeeded."""
    boundary = f"batch_{uuid.uuid4()}"
    body = batch_body(api, BATCH_ENTITY_SET, ids, boundary, round_)
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}", "Prefer": "odata.continue-on-error"}
    started = time.perf_counter()
    response = session.post(f"{api}/$batch", data=body, headers=headers, timeout=300)
    seconds = time.perf_counter() - started
    text = response.text
    ok = sum(text.count(f"HTTP/1.1 {s}") for s in (200, 201, 204))
    return {"seconds": seconds, "status": response.status_code, "succeeded": ok, "bytes_sent": len(body)}


def run(items: int = 100_000, dataverse_rows: int = 100_000, repeat: int = 3, batch_size: int = 1000) -> list[Figure]:
    """Measure listing and ``$batch`` speed on a private sandbox.

    :param items: generated Business Central items to list.
    :param dataverse_rows: generated Dataverse rows to list (when Dataverse has a generator).
    :param repeat: listings per figure (the median is reported).
    :param batch_size: upserts in the timed ``$batch``.
    """
    figures: list[Figure] = []
    kinds = generator_kinds()
    generate: dict[str, int] = {}
    if "items" in kinds["bc"]:
        generate["items"] = items
    dv_kind = next((k for k in DATAVERSE_KINDS if k in kinds["dataverse"]), None)
    if dv_kind and dataverse_rows:
        generate[dv_kind] = dataverse_rows
    if "items" not in generate:
        figures.append(
            Figure(
                "sandbox",
                "BC items listing: not measured (the BC emulator cannot generate items yet)",
                0,
                "",
                detail={"generators": {k: sorted(v) for k, v in kinds.items()}},
            )
        )

    with bench_sandbox(generate, process=True) as sandbox:
        c = sandbox.config
        figures.append(
            Figure(
                "sandbox",
                f"start-up with {', '.join(f'{n:,} {k}' for k, n in generate.items()) or 'no generated data'}",
                round(sandbox.started_in, 3),
                "s",
                detail={"generate": generate},
            )
        )
        if "items" in generate:
            bc = session_for(sandbox, c.bc_resource)
            api = f"{c.bc_api_root}/api/v2.0/companies({c.company_id})"
            listing = timed_listing(bc, f"{api}/items", repeat)
            figures.append(_listing_figure(f"BC API items: list {listing['records']:,} in pages of {PAGE:,}", listing))
            company = quote(odata_string(c.company_name), safe="'")
            card = timed_listing(
                bc, f"{c.bc_api_root}/ODataV4/Company({company})/ItemCard", repeat, {"$select": ITEM_CARD_SELECT}
            )
            figures.append(
                _listing_figure(
                    f"BC ItemCard web service ($select of ITEM-PRODUCT): list {card['records']:,} in pages of {PAGE:,}",
                    card,
                )
            )
            hooked = timed_hook_listing("items", repeat)
            figures.append(
                _listing_figure(f"BC API items through BusinessCentralHook: list {hooked['records']:,}", hooked)
            )
            hooked = timed_hook_listing("ItemCard", repeat, select=ITEM_CARD_SELECT, web_service=True)
            figures.append(
                _listing_figure(
                    f"BC ItemCard through BusinessCentralHook, as ITEM-PRODUCT reads it: list {hooked['records']:,}",
                    hooked,
                )
            )
        dv = session_for(sandbox, c.dataverse_url)
        dv_api = f"{c.dataverse_url}/api/data/v9.2"
        dv.get(f"{dv_api}/WhoAmI", timeout=60)  # opens the TLS connection outside the timed batch
        if dv_kind and dataverse_rows:
            entity_set, select = DATAVERSE_KINDS[dv_kind]
            listing = timed_listing(dv, f"{dv_api}/{entity_set}", repeat)
            # Context, not a budget: 126 MB of JSON take a Python client alone 0.5-0.8 s to decode.
            figures.append(
                _listing_figure(
                    f"Dataverse {dv_kind}, every column: list {listing['records']:,} in pages of {PAGE:,}",
                    listing,
                    budget=False,
                )
            )
            listing = timed_listing(dv, f"{dv_api}/{entity_set}", repeat, {"$select": select})
            figures.append(
                _listing_figure(
                    f"Dataverse {dv_kind}, $select of {select.count(',') + 1} columns: "
                    f"list {listing['records']:,} in pages of {PAGE:,}",
                    listing,
                )
            )
        ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-account-{n}")) for n in range(batch_size)]
        for round_, what in ((1, "creating"), (2, "updating")):
            result = time_batch(dv, dv_api, ids, round_)
            passed = within(result["seconds"], BATCH_BUDGET_SECONDS) and result["succeeded"] == batch_size
            figures.append(
                Figure(
                    "sandbox",
                    f"Dataverse $batch of {batch_size:,} PATCH upserts ({what} {BATCH_ENTITY_SET})",
                    round(result["seconds"], 4),
                    "s",
                    f"< {BATCH_BUDGET_SECONDS:g} s, all succeed",
                    passed,
                    detail=result,
                )
            )
    return figures


def _listing_figure(name: str, listing: dict, *, budget: bool = True) -> Figure:
    return Figure(
        "sandbox",
        name,
        round(listing["seconds"], 4),
        "s",
        f"< {LIST_BUDGET_SECONDS:g} s" if budget else "",
        within(listing["seconds"], LIST_BUDGET_SECONDS) if budget else None,
        detail={**listing, "records_per_second": round(listing["records"] / max(listing["seconds"], 1e-9))},
    )

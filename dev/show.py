"""What a developer run shows: the run's sync jobs, the requests served, and what arrived in Sales."""

from __future__ import annotations

import json


def show_jobs(run_ids: list[str]) -> None:
    from include.bc_sales_sync.reporting import DIRECTION_LABELS, format_summaries
    from include.bc_sales_sync.state import StateStore

    state = StateStore.from_airflow("bc_sync_state")
    jobs = state.jobs(limit=200)
    jobs = jobs[jobs["run_id"].isin(run_ids)].iloc[::-1]
    counters = ("inserted", "modified", "unchanged", "skipped", "failed")
    summaries = []
    for job in jobs.itertuples():
        counts = {c: int(getattr(job, c)) for c in counters}
        name = job.mapping + DIRECTION_LABELS.get(job.direction, "")
        summaries.append({"mapping": name, "read": sum(counts.values()), **counts})
    print("\nSync jobs of this run (counters as Business Central shows them):")
    print(format_summaries(summaries))
    show_errors(state, jobs)


def show_errors(state, jobs) -> None:
    """The per-record errors of the run's jobs, a few per job."""
    shown = False
    for job in jobs.itertuples():
        if not job.failed:
            continue
        if not shown:
            print("\nRecords that failed (each is retried on the next run; the same error twice skips it):")
            shown = True
        errors = state.errors(job_id=job.id, limit=50)
        print(f"  {job.mapping}:")
        for message in errors["message"].head(4):
            print(f"    - {message}")
        if len(errors) > 4:
            print(f"    ... and {len(errors) - 4} more")


def show_dataverse() -> None:
    from include.bc_sales_sync.hooks import DataverseHook

    hook = DataverseHook("dataverse_default")

    def rows(entity_set: str, select: list[str], filter: str | None = None) -> list[dict]:
        return [r for page in hook.iter_pages(entity_set, select=select, filter=filter) for r in page]

    groups = {g["uomscheduleid"]: g["name"] for g in rows("uomschedules", ["uomscheduleid", "name"])}
    units = rows("uoms", ["uomid", "name", "quantity", "_uomscheduleid_value"])
    unit_names = {u["uomid"]: u["name"] for u in units}
    print(f"\nDataverse now holds {len(groups)} unit groups and {len(units)} units:")
    per_group: dict[str, list[str]] = {}
    for u in units:
        per_group.setdefault(u["_uomscheduleid_value"], []).append(u["name"])
    for gid, name in sorted(groups.items(), key=lambda kv: kv[1]):
        print(f"  {name:<20} units: {', '.join(per_group.get(gid, [])) or '-'}")
    products = rows(
        "products",
        ["productnumber", "name", "producttypecode", "statecode", "price", "quantityonhand", "_defaultuomid_value"],
    )
    types = {1: "Sales Inventory", 3: "Services"}
    states = {0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"}
    print(f"\n{len(products)} products:")
    print(f"  {'number':<12} {'name':<34} {'type':<16} {'state':<8} {'price':>10} {'on hand':>8} unit")
    for p in sorted(products, key=lambda p: (p["producttypecode"], p["productnumber"])):
        print(
            f"  {p['productnumber']:<12} {p['name'][:34]:<34} {types.get(p['producttypecode'], p['producttypecode']):<16} "
            f"{states.get(p['statecode'], p['statecode']):<8} {p['price'] or 0:>10.2f} {p['quantityonhand'] or 0:>8g} "
            f"{unit_names.get(p['_defaultuomid_value'], '-')}"
        )
    show_sales_documents(rows)


def show_sales_documents(rows) -> None:
    """Currencies, accounts and contacts with their owners, price lists with their item counts, invoices with lines."""
    users = {u["systemuserid"]: u["fullname"] for u in rows("systemusers", ["systemuserid", "fullname"])}
    currencies = rows(
        "transactioncurrencies", ["transactioncurrencyid", "isocurrencycode", "currencyname", "exchangerate"]
    )
    iso = {c["transactioncurrencyid"]: c["isocurrencycode"] for c in currencies}
    print(f"\n{len(currencies)} currencies (units per unit of the base currency):")
    for c in sorted(currencies, key=lambda c: c["isocurrencycode"]):
        print(f"  {c['isocurrencycode']:<5} {c['currencyname'][:28]:<28} {c['exchangerate']:>14.6f}")

    accounts = rows(
        "accounts",
        ["accountid", "accountnumber", "name", "address1_city", "_ownerid_value", "_transactioncurrencyid_value"],
    )
    names = {a["accountid"]: a["name"] for a in accounts}
    print(f"\n{len(accounts)} accounts:")
    print(f"  {'number':<8} {'name':<30} {'city':<14} {'currency':<8} owner")
    for a in sorted(accounts, key=lambda a: (a["accountnumber"] or "~", a["name"])):
        print(
            f"  {a['accountnumber'] or '-':<8} {a['name'][:30]:<30} {(a['address1_city'] or '')[:14]:<14} "
            f"{iso.get(a['_transactioncurrencyid_value'], '-'):<8} {users.get(a['_ownerid_value'], '-')}"
        )

    contacts = rows("contacts", ["fullname", "_parentcustomerid_value", "_ownerid_value"])
    print(f"\n{len(contacts)} contacts:")
    for c in sorted(contacts, key=lambda c: c["fullname"] or ""):
        account = names.get(c["_parentcustomerid_value"], "-")
        print(f"  {(c['fullname'] or '-')[:24]:<24} {account[:30]:<30} {users.get(c['_ownerid_value'], '-')}")

    price_lists = rows("pricelevels", ["pricelevelid", "name", "_transactioncurrencyid_value"])
    items = rows("productpricelevels", ["productpricelevelid", "_pricelevelid_value"])
    print(f"\n{len(price_lists)} price lists:")
    for pl in sorted(price_lists, key=lambda pl: pl["name"]):
        count = sum(1 for i in items if i["_pricelevelid_value"] == pl["pricelevelid"])
        print(f"  {pl['name'][:38]:<38} {iso.get(pl['_transactioncurrencyid_value'], '-'):<5} {count:>4} items")

    products = {p["productid"]: p["productnumber"] for p in rows("products", ["productid", "productnumber"])}
    invoices = rows(
        "invoices",
        [
            "invoiceid",
            "invoicenumber",
            "_customerid_value",
            "_ownerid_value",
            "_transactioncurrencyid_value",
            "totalamount",
            "statecode",
            "statuscode",
        ],
    )
    lines = rows(
        "invoicedetails",
        [
            "_invoiceid_value",
            "lineitemnumber",
            "_productid_value",
            "productdescription",
            "quantity",
            "priceperunit",
            "extendedamount",
        ],
    )
    states = {(0, 4): "Active / Billed", (2, 100001): "Paid / Complete", (2, 100002): "Paid / Partial"}
    print(f"\n{len(invoices)} invoices with {len(lines)} lines:")
    for inv in sorted(invoices, key=lambda i: i["invoicenumber"]):
        state = states.get((inv["statecode"], inv["statuscode"]), f"{inv['statecode']} / {inv['statuscode']}")
        print(
            f"  {inv['invoicenumber']:<14} {names.get(inv['_customerid_value'], '-')[:26]:<26} "
            f"{iso.get(inv['_transactioncurrencyid_value'], '-'):<4} {inv['totalamount'] or 0:>10.2f}  {state:<16} "
            f"owner {users.get(inv['_ownerid_value'], '-')}"
        )
        for line in sorted(
            (x for x in lines if x["_invoiceid_value"] == inv["invoiceid"]), key=lambda x: x["lineitemnumber"]
        ):
            what = products.get(line["_productid_value"]) or f"write-in: {line['productdescription']}"
            print(
                f"      {line['lineitemnumber']:>6}  {what[:40]:<40} {line['quantity']:>6g} x "
                f"{line['priceperunit']:>9.2f} = {line['extendedamount']:>10.2f} incl. tax"
            )


def show_statistics() -> None:
    """Each account's Business Central Account Statistics, as a Sales user sees them."""
    from include.bc_sales_sync.hooks import DataverseHook

    hook = DataverseHook("dataverse_default")
    figures = [
        ("nav_balancelcy", "balance"),
        ("nav_overdueamountslcy", "overdue"),
        ("nav_outstandingorderslcy", "orders"),
        ("nav_shippednotinvoicedlcy", "shipped"),
        ("nav_outstandinginvoiceslcy", "invoices"),
        ("nav_outstandingserviceorderslcy", "serv.ord"),
        ("nav_servshippednotinvoicedlcy", "serv.shp"),
        ("nav_outstandingservinvoiceslcy", "serv.inv"),
        ("nav_invoicedprepaymentamountlcy", "prepaid"),
        ("nav_totallcy", "total"),
        ("nav_creditlimitlcy", "credit"),
        ("nav_totalsaleslcy", "sales"),
    ]
    stats = {
        r["nav_accountstatisticsid"]: r
        for page in hook.iter_pages(
            "nav_accountstatisticses",
            select=["nav_accountstatisticsid", "nav_customerno", "nav_overdueamountsasof", *(c for c, _ in figures)],
        )
        for r in page
    }
    accounts = [
        a
        for page in hook.iter_pages("accounts", select=["name", "_nav_accountstatisticsid_value"])
        for a in page
        if a["_nav_accountstatisticsid_value"] in stats
    ]
    print(f"\nBusiness Central Account Statistics of {len(accounts)} accounts (local currency):")
    print(f"  {'account':<22} {'no.':<6}" + "".join(f"{label:>10}" for _, label in figures) + "  overdue as of")
    for account in sorted(accounts, key=lambda a: stats[a["_nav_accountstatisticsid_value"]]["nav_customerno"]):
        row = stats[account["_nav_accountstatisticsid_value"]]
        print(
            f"  {account['name'][:22]:<22} {row['nav_customerno']:<6}"
            + "".join(f"{row[c] or 0:>10.2f}" for c, _ in figures)
            + f"  {row['nav_overdueamountsasof']}"
        )


def sandbox_stats(config) -> dict[str, dict]:
    import requests

    urls = {"Business Central": config.bc_url, "Dataverse": config.dataverse_url, "Entra ID": config.entra_url}
    return {
        name: requests.get(f"{url}/_sandbox/stats", verify=str(config.ca_file), timeout=10).json()
        for name, url in urls.items()
    }


def show_requests(before: dict[str, dict], after: dict[str, dict]) -> None:
    """The requests the sandbox served between two readings of its statistics."""
    print("\nHTTP requests the sandbox served for the sync:")
    for name, now in after.items():
        then = before.get(name, {})
        methods = {
            m: n - then.get("by_method", {}).get(m, 0)
            for m, n in now["by_method"].items()
            if n - then.get("by_method", {}).get(m, 0)
        }
        operations = now.get("batch_operations_total", 0) - then.get("batch_operations_total", 0)
        extra = f" ({operations} operations inside $batch)" if operations else ""
        print(f"  {name:<17} {now['total'] - then.get('total', 0):>6} requests {json.dumps(methods)}{extra}")

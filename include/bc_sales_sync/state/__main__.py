"""Look at and act on the sync state, as BC's integration pages let an administrator do.

    python -m include.bc_sales_sync.state jobs [--mapping M] [--limit N]
    python -m include.bc_sales_sync.state errors [--job ID] [--mapping M] [--limit N]
    python -m include.bc_sales_sync.state skipped --mapping M
    python -m include.bc_sales_sync.state restore --mapping M BC_ID [BC_ID ...]
    python -m include.bc_sales_sync.state uncouple --mapping M BC_ID [BC_ID ...]
    python -m include.bc_sales_sync.state couple --mapping M BC_ID CRM_ID
    python -m include.bc_sales_sync.state reset-watermark --mapping M
    python -m include.bc_sales_sync.state deleted [--mapping M]
    python -m include.bc_sales_sync.state restore-deleted --mapping M (--all | BC_ID [BC_ID ...])
    python -m include.bc_sales_sync.state remove-coupling --mapping M (--all | BC_ID [BC_ID ...])

The database is the one of the Airflow connection ``bc_sync_state`` (``--conn-id``), else
``BC_SYNC_STATE_URL``, else the default SQLite file (see ``state/README.md``). A restored record is
retried first on the next run; a coupling made by hand is synchronized on the next run.

A record coupled to a record deleted on the other side is never re-created silently: ``deleted`` lists
these deletion conflicts, ``restore-deleted`` lets the next write of the record re-create the deleted side,
and ``remove-coupling`` uncouples them, leaving both sides as they are.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from include.bc_sales_sync.state import StateStore, StateStoreError


def _print(frame: pd.DataFrame, columns: list[str]) -> None:
    if frame.empty:
        print("(none)")
        return
    with pd.option_context("display.max_colwidth", 160, "display.width", 250):
        print(frame[[c for c in columns if c in frame]].to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.bc_sales_sync.state", description=__doc__.split("\n")[0])
    parser.add_argument("--conn-id", default="bc_sync_state")
    sub = parser.add_subparsers(dest="command", required=True)
    jobs = sub.add_parser("jobs", help="recent sync jobs with their counters")
    jobs.add_argument("--mapping")
    jobs.add_argument("--limit", type=int, default=20)
    errors = sub.add_parser("errors", help="per-record errors")
    errors.add_argument("--job")
    errors.add_argument("--mapping")
    errors.add_argument("--limit", type=int, default=50)
    for name, text in (("skipped", "couplings marked skipped"), ("reset-watermark", "read everything next run")):
        sub.add_parser(name, help=text).add_argument("--mapping", required=True)
    for name, text in (("restore", "retry skipped records"), ("uncouple", "remove couplings")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--mapping", required=True)
        p.add_argument("bc_ids", nargs="+")
    couple = sub.add_parser("couple", help="couple one BC record to one Sales row by hand")
    couple.add_argument("--mapping", required=True)
    couple.add_argument("bc_id")
    couple.add_argument("crm_id")
    deleted = sub.add_parser("deleted", help="records coupled to a record deleted on the other side")
    deleted.add_argument("--mapping", help="only this mapping (default: every mapping)")
    resolutions = {
        "restore-deleted": "re-create the deleted side of deletion conflicts on the next write",
        "remove-coupling": "uncouple deletion conflicts, leaving both sides as they are",
    }
    for name, text in resolutions.items():
        p = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}.")
        p.add_argument("--mapping", required=True)
        p.add_argument("--all", action="store_true", help="every deletion conflict of the mapping")
        p.add_argument("bc_ids", nargs="*", metavar="BC_ID", help="the BC records to resolve")
    args = parser.parse_args(argv)
    if args.command in resolutions and args.all == bool(args.bc_ids):
        parser.error(f"{args.command}: give either --all or one or more BC ids")

    try:
        store = StateStore.from_airflow(args.conn_id)
        if args.command == "jobs":
            _print(
                store.jobs(args.mapping, limit=args.limit),
                [
                    "started_at",
                    "mapping",
                    "status",
                    "inserted",
                    "modified",
                    "unchanged",
                    "skipped",
                    "failed",
                    "run_id",
                    "id",
                ],
            )
        elif args.command == "errors":
            _print(
                store.errors(args.job, args.mapping, limit=args.limit),
                ["created_at", "mapping", "source_id", "field", "message"],
            )
        elif args.command == "skipped":
            _print(store.skipped(args.mapping), ["bc_id", "crm_id", "last_error", "skipped_at"])
        elif args.command == "restore":
            print(f"Restored {store.restore(args.mapping, args.bc_ids)} coupling(s); they are retried on the next run.")
        elif args.command == "uncouple":
            print(f"Removed {store.uncouple(args.mapping, args.bc_ids)} coupling(s).")
        elif args.command == "couple":
            store.couple(args.mapping, args.bc_id, args.crm_id)
            print(f"Coupled {args.bc_id} to {args.crm_id}; the next run of {args.mapping} synchronizes it.")
        elif args.command == "deleted":
            columns = ["bc_id", "crm_id", "side", "message"]
            frame = store.deleted(args.mapping).rename(columns={"deleted_side": "side"})
            _print(frame, columns if args.mapping else ["mapping", *columns])
        elif args.command == "restore-deleted":
            count = store.resolve_deleted(args.mapping, None if args.all else args.bc_ids, action="restore")
            print(f"Restored {count} coupling(s); the next write of each re-creates its deleted record.")
        elif args.command == "remove-coupling":
            count = store.resolve_deleted(args.mapping, None if args.all else args.bc_ids, action="remove")
            print(f"Removed {count} coupling(s) to a deleted record; both sides stay as they are, uncoupled.")
        else:
            store.reset_watermark(args.mapping)
            print(f"{args.mapping} reads every record on its next run.")
    except StateStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

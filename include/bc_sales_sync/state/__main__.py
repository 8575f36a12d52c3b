"""Look at and act on the sync state, as BC's integration pages let an administrator do.

    python -m include.bc_sales_sync.state jobs [--mapping M] [--limit N]
    python -m include.bc_sales_sync.state errors [--job ID] [--mapping M] [--limit N]
    python -m include.bc_sales_sync.state skipped --mapping M
    python -m include.bc_sales_sync.state restore --mapping M BC_ID [BC_ID ...]
    python -m include.bc_sales_sync.state uncouple --mapping M BC_ID [BC_ID ...]
    python -m include.bc_sales_sync.state couple --mapping M BC_ID CRM_ID
    python -m include.bc_sales_sync.state reset-watermark --mapping M

The database is the one of the Airflow connection ``bc_sync_state`` (``--conn-id``), else
``BC_SYNC_STATE_URL``, else the default SQLite file (see ``state/README.md``). A restored record is
retried first on the next run; a coupling made by hand is synchronized on the next run.
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
    args = parser.parse_args(argv)

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
        else:
            store.reset_watermark(args.mapping)
            print(f"{args.mapping} reads every record on its next run.")
    except StateStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

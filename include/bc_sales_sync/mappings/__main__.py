"""``python -m include.bc_sales_sync.mappings show|defaults|reset``.

``show`` prints the effective mappings (defaults plus the overrides in the Airflow Variable
``bc_sales_sync_mappings``), ``defaults`` the catalogue alone, ``reset`` deletes the Variable so
every mapping is back to its default (BC's "use default synchronization setup").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from include.bc_sales_sync.mappings.registry import OVERRIDES_VARIABLE, default_mappings, load_mappings


def describe(mappings) -> str:
    return json.dumps([dataclasses.asdict(m) for m in mappings.values()], indent=2, default=str)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.bc_sales_sync.mappings", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("show", "defaults", "reset"))
    args = parser.parse_args(argv)
    if args.command == "show":
        print(describe(load_mappings()))
    elif args.command == "defaults":
        print(describe(default_mappings()))
    else:
        airflow = str(Path(sys.executable).with_name("airflow"))
        result = subprocess.run([airflow, "variables", "delete", OVERRIDES_VARIABLE], capture_output=True, text=True)
        if result.returncode != 0 and "not found" not in (result.stdout + result.stderr).lower():
            print(result.stderr or result.stdout, file=sys.stderr)
            return result.returncode
        print(f"Deleted the Variable {OVERRIDES_VARIABLE}: every mapping uses its default again.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load ``airflow_settings.yaml`` (the Astro CLI format) into plain Airflow.

``airflow connections import`` cannot read the Astro file, so this converts it to the files the
three import commands take and runs them::

    python -m include.bc_sales_sync.settings load [--file airflow_settings.yaml]
    python -m include.bc_sales_sync.settings env          # AIRFLOW_CONN_*/AIRFLOW_VAR_* lines

Relative paths in a connection's ``ca_bundle`` (which may also hold the CA's PEM text), and a
SQLite connection's host, are resolved against the project root, so the settings work from any
working directory.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = PROJECT_ROOT / "airflow_settings.yaml"


class SettingsError(ValueError):
    """The settings file is malformed; the message names the entry and the key."""


def read(path: Path = DEFAULT_FILE) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"Cannot read {path}: {exc}") from exc
    airflow = data.get("airflow") or {}
    if not isinstance(airflow, dict):
        raise SettingsError(f"{path}: 'airflow' must be a mapping with connections, pools and variables.")
    return airflow


def _absolute(value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (PROJECT_ROOT / path).resolve())


def connections(airflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``conn_id -> fields`` as ``airflow connections import`` reads them."""
    out: dict[str, dict[str, Any]] = {}
    for n, entry in enumerate(airflow.get("connections") or [], start=1):
        conn_id = entry.get("conn_id")
        if not conn_id or not (entry.get("conn_type") or entry.get("conn_uri")):
            raise SettingsError(f"Connection #{n} needs 'conn_id' and 'conn_type' (or 'conn_uri').")
        if entry.get("conn_uri"):
            out[conn_id] = {"uri": entry["conn_uri"]}
            continue
        extra = entry.get("conn_extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        if "ca_bundle" in extra and "-----BEGIN" not in str(extra["ca_bundle"]):
            # A path; the PEM text itself stays as it is.
            extra = {**extra, "ca_bundle": _absolute(extra["ca_bundle"])}
        host = entry.get("conn_host")
        if entry["conn_type"] == "sqlite" and host:
            host = _absolute(host)
        fields = {
            "conn_type": entry["conn_type"],
            "host": host,
            "login": entry.get("conn_login"),
            "password": entry.get("conn_password"),
            "schema": entry.get("conn_schema"),
            "port": entry.get("conn_port"),
            "extra": json.dumps(extra) if extra else None,
        }
        out[conn_id] = {k: v for k, v in fields.items() if v not in (None, "")}
    return out


def pools(airflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        p["pool_name"]: {"slots": int(p.get("pool_slot", 0)), "description": p.get("pool_description", "")}
        for p in airflow.get("pools") or []
        if int(p.get("pool_slot", 0)) > 0
    }


def variables(airflow: dict[str, Any]) -> dict[str, str]:
    return {v["variable_name"]: str(v.get("variable_value", "")) for v in airflow.get("variables") or []}


def environment(airflow: dict[str, Any]) -> dict[str, str]:
    """The connections and variables as ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment variables."""
    env = {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(fields) for cid, fields in connections(airflow).items()}
    env.update({f"AIRFLOW_VAR_{name.upper()}": value for name, value in variables(airflow).items()})
    return env


def load(path: Path = DEFAULT_FILE, airflow_bin: str = "airflow") -> None:
    """Import everything into the Airflow metadata database (overwriting what is there)."""
    airflow = read(path)
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "connections": (Path(tmp) / "connections.json", connections(airflow)),
            "variables": (Path(tmp) / "variables.json", variables(airflow)),
            "pools": (Path(tmp) / "pools.json", pools(airflow)),
        }
        for file, content in files.values():
            file.write_text(json.dumps(content, indent=2))
        commands = [
            [airflow_bin, "connections", "import", "--overwrite", str(files["connections"][0])],
            [airflow_bin, "variables", "import", "-a", "overwrite", str(files["variables"][0])],
            [airflow_bin, "pools", "import", str(files["pools"][0])],
        ]
        for command in commands:
            if files[command[1]][1]:
                subprocess.run(command, check=True)
    print(
        f"Loaded {len(files['connections'][1])} connections, {len(files['variables'][1])} variables and "
        f"{len(files['pools'][1])} pools from {path}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.bc_sales_sync.settings", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("load", "env"))
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    try:
        if args.command == "load":
            load(args.file, airflow_bin=str(Path(sys.executable).with_name("airflow")))
        else:
            for key, value in environment(read(args.file)).items():
                print(f"export {key}={shlex.quote(value)}")
    except SettingsError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())

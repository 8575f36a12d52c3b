"""``python -m include.sandbox serve [--seed demo|empty] [--generate items=100000] [--reset]``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from include.sandbox.config import DEFAULT_STATE_DIR, SandboxConfig
from include.sandbox.emulator import parse_generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve Business Central, Dataverse and Entra ID over HTTPS")
    serve.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="certificates, keys and data (default .sandbox)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--bc-port", type=int, default=8441)
    serve.add_argument("--dataverse-port", type=int, default=8442)
    serve.add_argument("--entra-port", type=int, default=8443)
    serve.add_argument("--seed", choices=("demo", "empty"), default="demo", help="data loaded into a new state folder")
    serve.add_argument("--generate", default="", help="extra generated records, e.g. items=100000,invoices=20000")
    serve.add_argument("--reset", action="store_true", help="start from clean data (keeps certificates)")
    serve.add_argument(
        "--dataverse-request-limit", type=int, default=0, help="service protection: requests per window (0 = off)"
    )
    serve.add_argument("--dataverse-window-seconds", type=int, default=300)
    args = parser.parse_args(argv)

    if args.command == "serve":
        from include.sandbox.server import Sandbox
        from include.sandbox.server import serve as run

        config = SandboxConfig(
            state_dir=args.state_dir,
            host=args.host,
            bc_port=args.bc_port,
            dataverse_port=args.dataverse_port,
            entra_port=args.entra_port,
            dataverse_request_limit=args.dataverse_request_limit,
            dataverse_window_seconds=args.dataverse_window_seconds,
        )
        try:
            sandbox = Sandbox(config, seed=args.seed, generate=parse_generate(args.generate), reset=args.reset)
        except ValueError as exc:
            parser.error(str(exc))
        with contextlib.suppress(KeyboardInterrupt):
            run(sandbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())

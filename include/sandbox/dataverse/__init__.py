"""Dataverse Web API v9.2 emulator (Dynamics 365 Sales), faithful enough for Microsoft's own clients.

Serves ``/api/data/v9.2/`` over the sandbox's HTTPS: the tables the sync reads and writes
(:mod:`.schema`), create/update/upsert/delete with the platform's validation and rules
(:mod:`.records`), queries with server-driven paging (:mod:`.reading`), ``$batch``
(:mod:`.batch`, :mod:`.service`), ``WhoAmI``, ``EntityDefinitions`` and ``$metadata``
(:mod:`.metadata`), bearer-token checks and service protection (:mod:`.app`). Data lives in
``<state_dir>/dataverse.sqlite``; a new file gets the seed of :mod:`.seed`. Text compares without
regard to case (filters, alternate keys, uniqueness), as Dataverse's SQL collation does.
"""

from __future__ import annotations

from include.sandbox.config import SandboxConfig
from include.sandbox.control import Controls, SandboxMiddleware
from include.sandbox.dataverse import errors
from include.sandbox.dataverse import seed as seeding
from include.sandbox.dataverse.app import DataverseApp, protection_error
from include.sandbox.dataverse.schema import store_schema
from include.sandbox.dataverse.service import Service
from include.sandbox.dataverse.urls import split_path, split_segment
from include.sandbox.emulator import Emulator
from include.sandbox.store import Store
from include.sandbox.tokens import TokenAuthority

GENERATORS: frozenset[str] = seeding.GENERATORS
API_ROOT = "/api/data/v9.2/"


def entity_of(path: str) -> str | None:
    """The entity set (or function, ``$batch``...) a request path addresses, for statistics."""
    if not path.startswith(API_ROOT):
        return None
    segments = split_path(path[len(API_ROOT) :])
    return split_segment(segments[0])[0] if segments else None


def fault_response(status: int, retry_after: float | None) -> tuple[dict, dict[str, str]]:
    """The body of an injected fault, shaped like the service's own errors."""
    if status == 429:
        limit_error = protection_error(6000, 300, int(retry_after or 1))
        return limit_error.body(), {}
    if status == 401:
        return {"error": {"code": errors.AUTHENTICATION, "message": "The access token has expired."}}, {}
    return {
        "error": {
            "code": errors.UNEXPECTED,
            "message": f"An unexpected error occurred (injected fault, HTTP {status}). Retry the request.",
        }
    }, {}


def create_emulator(
    config: SandboxConfig, authority: TokenAuthority, *, seed: str = "demo", generate: dict[str, int] | None = None
) -> Emulator:
    """The Dataverse emulator of one state folder.

    :param seed: ``demo`` (the Sales organization before any sync) or ``empty``; used when
        ``dataverse.sqlite`` holds no data yet and on every reset.
    :param generate: extra generated rows per kind, added with the seed; kinds not in
        :data:`GENERATORS` are ignored.
    """
    store = Store(
        store_schema(), config.state_dir / "dataverse.sqlite", datetime_precision="seconds", case_insensitive=True
    )
    generated = {kind: count for kind, count in (generate or {}).items() if kind in GENERATORS and count > 0}
    if store.count("organizations") == 0:
        _load(store, config, seed, generated)
    organization_id = store.page("organizations", page_size=1).rows[0]["organizationid"]
    api_url = f"{config.dataverse_url.rstrip('/')}/api/data/v9.2"
    controls = Controls(name="dataverse", entity_of=entity_of, fault_response=fault_response, authority=authority)
    service = Service(store, api_url, organization_id, count_operation=controls.count_operation)
    app = DataverseApp(service, config, authority)

    def reset() -> None:
        with service.lock:
            store.reset()
            _load(store, config, seed, generated)
            service.forget_caches()
        app.clear()

    controls.on_reset = reset
    return Emulator("dataverse", SandboxMiddleware(app, controls), controls, store, workers=(app.reader,))


def _load(store: Store, config: SandboxConfig, seed: str, generated: dict[str, int]) -> None:
    seeding.load(store, config, seed)
    for kind, count in generated.items():
        seeding.generate(store, kind, count)

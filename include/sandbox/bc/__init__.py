"""Business Central emulator: API v2.0 and published OData V4 web services over a demo company.

URLs, as on the real service (``{tenant}`` is the sandbox tenant id, ``{env}`` its environment)::

    /v2.0/{tenant}/{env}/api/v2.0/companies({id})/items?$filter=lastModifiedDateTime gt 2025-01-01T00:00:00Z
    /v2.0/{tenant}/{env}/api/v2.0/$batch
    /v2.0/{tenant}/{env}/ODataV4/Company('CRONUS%20International%20Ltd.')/Resources('LIFT')

Web services are keyed by their page's primary key: ``Resources('LIFT')``, ``ItemCard('1896-S')``,
``CustomerPriceGroups('RETAIL')``, ``CustomerCard('10000')``, ``Vendors('10000')``,
``ContactCard('CT000001')``, ``Opportunities('OP000001')``,
``ContactBusinessRelations(Contact_No='CT000001',Business_Relation_Code='CUST')`` and
``SalesPrices(Item_No='1896-S',Sales_Type='Customer Price Group',Sales_Code='RETAIL',
Starting_Date=2025-01-01,Currency_Code='',Variant_Code='',Unit_of_Measure_Code='PCS',Minimum_Quantity=0)``.
Every record also carries its ``SystemId`` for ``$filter``. ``CustomerCard`` adds the customer
statistics BC computes (``Balance_LCY``, ``Outstanding_Orders_LCY``, ...).

Behaviour worth knowing, as BC has it:

- Flat line sets (``salesInvoiceLines``, ...) need ``$filter=documentId eq <id>``; read lines through
  their document or with ``$expand`` otherwise.
- Drafts are posted with ``salesInvoices({id})/Microsoft.NAV.post`` (a ``PS-INV`` number, status
  ``Open``); orders with ``Microsoft.NAV.shipAndInvoice``; quotes become orders or invoices with
  ``makeOrder``/``makeInvoice``. Posted documents are read-only.
- Payments: lines in ``customerPaymentJournals({id})/customerPayments`` (negative amounts), then
  ``customerPaymentJournals({id})/Microsoft.NAV.post`` closes the invoice applied to, or the
  customer's oldest open ones; balances and ``customerFinancialDetails`` follow.
- Documents can be created with their lines in one POST (deep insert).
- Only the integration application's tokens are accepted (the ``sales_user`` app gets 401).
- A new customer gets its contact and business relation; a customer and its company contact copy
  their shared fields to each other.
- Data persists in ``state_dir/bc.sqlite`` between runs; ``--generate`` applies only to a new store
  (or after ``POST /_sandbox/reset``).
"""

from __future__ import annotations

import hashlib
import json

from include.sandbox.bc import errors, odata, tables
from include.sandbox.bc import generate as generator
from include.sandbox.bc import seed as seeding
from include.sandbox.bc.app import BusinessCentralApp
from include.sandbox.bc.engine import Engine
from include.sandbox.config import SandboxConfig
from include.sandbox.control import Controls, SandboxMiddleware
from include.sandbox.emulator import Emulator
from include.sandbox.store import Store
from include.sandbox.tokens import TokenAuthority

GENERATORS: frozenset[str] = frozenset(generator.GENERATORS)


def _schema_fingerprint() -> str:
    described: list = [
        [es.name, [[f.name, f.type, f.max_length] for f in es.fields], es.alternate_keys] for es in tables.TABLES
    ]
    described.append("rows keep their ETag; decimals to 15 significant digits")
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def open_store(config: SandboxConfig) -> Store:
    """The store in ``state_dir/bc.sqlite``; a file written by another version of the tables is replaced."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    path = config.state_dir / "bc.sqlite"
    marker = config.state_dir / "bc.schema"
    fingerprint = _schema_fingerprint()
    if path.exists() and (not marker.exists() or marker.read_text().strip() != fingerprint):
        for stale in config.state_dir.glob("bc.sqlite*"):
            stale.unlink()
    store = Store(tables.TABLES, path, datetime_precision="milliseconds", etag=odata.etag)
    marker.write_text(fingerprint + "\n")
    return store


def has_data(store: Store) -> bool:
    return any(store.count(es.name) for es in tables.TABLES)


def create_emulator(
    config: SandboxConfig, authority: TokenAuthority, *, seed: str = "demo", generate: dict[str, int] | None = None
) -> Emulator:
    """The BC emulator over ``state_dir/bc.sqlite``; data already there is kept (``on_reset`` reloads).

    :param seed: ``demo`` (the CRONUS-like company) or ``empty`` (the company with its number series).
    :param generate: extra records per kind of :data:`GENERATORS`; other kinds are ignored.
    """
    counts = {kind: n for kind, n in (generate or {}).items() if kind in GENERATORS}
    store = open_store(config)

    def load() -> None:
        seeding.load_company(store, config.company_name, config.local_currency)
        seeding.load(store, seed)
        generator.generate(store, counts)

    if not has_data(store):
        load()
    engine = Engine(config, store, authority)

    def on_reset() -> None:
        engine.reset(load)

    controls = Controls(
        name="business_central",
        entity_of=engine.entity_of,
        fault_response=errors.fault_response,
        on_reset=on_reset,
        authority=authority,
    )
    engine.controls = controls
    app = BusinessCentralApp(engine)
    return Emulator("business_central", SandboxMiddleware(app, controls), controls, store, workers=(app.worker,))

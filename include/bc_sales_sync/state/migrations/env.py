"""Alembic environment of the sync state database.

Run programmatically by ``StateStore.migrate()``, which passes an open connection (inside the transaction that
serialises concurrent migrations) and the target metadata in ``config.attributes``. Offline mode (``--sql``)
renders the DDL for the URL in the ``sqlalchemy.url`` option.
"""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "sync_alembic_version"

config = context.config


def _target_metadata():
    metadata = config.attributes.get("target_metadata")
    if metadata is None:
        from include.bc_sales_sync.state.models import Base

        metadata = Base.metadata
    return metadata


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=_target_metadata(),
        version_table=VERSION_TABLE,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the state store migrations through StateStore.migrate(), which passes a connection")
    context.configure(
        connection=connection,
        target_metadata=_target_metadata(),
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things in place: later migrations use batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

"""The building blocks of the BC tables: field kinds with BC's blank defaults, the system fields, record ids."""

from __future__ import annotations

import hashlib
import uuid

from include.sandbox.store import EntitySet, Field

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
BLANK_DATE = "0001-01-01"
# Fixed namespace: record ids are uuid5(namespace, "<table>/<key>"), the same on every run.
NAMESPACE = uuid.UUID("0b6f4c1e-5d2a-4c3b-9e8f-7a6b5c4d3e2f")
_NAMESPACE_BYTES = NAMESPACE.bytes


def record_id(table: str, key: str) -> str:
    """The deterministic SystemId of a seeded or generated record: uuid5(NAMESPACE, "<table>/<key>")."""
    # Same value as uuid.uuid5, built without the uuid module's per-call checks (bulk loads call it a lot).
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{table}/{key}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def text(name: str, length: int, default: str = "", **kw) -> Field:
    return Field(name, "string", max_length=length, default=default, **kw)


def option(name: str, options: tuple[str, ...], default: str | None = None) -> Field:
    return Field(name, "string", options=options, default=options[0] if default is None else default)


def decimal(name: str, default: float = 0.0, **kw) -> Field:
    return Field(name, "decimal", default=default, **kw)


def integer(name: str, **kw) -> Field:
    return Field(name, "int", default=0, **kw)


def boolean(name: str) -> Field:
    return Field(name, "bool", default=False)


def guid(name: str) -> Field:
    return Field(name, "guid", default=EMPTY_GUID)


def date(name: str) -> Field:
    return Field(name, "date", default=BLANK_DATE)


def system_fields() -> tuple[Field, ...]:
    return (
        Field("SystemId", "guid"),
        Field("SystemCreatedAt", "datetime"),
        Field("SystemModifiedAt", "datetime"),
    )


def table(name: str, *fields: Field, unique: tuple[tuple[str, ...], ...] = (), indexes: tuple[str, ...] = ()):
    return EntitySet(
        name,
        key="SystemId",
        fields=(*system_fields(), *fields),
        alternate_keys=unique,
        modified_field="SystemModifiedAt",
        created_field="SystemCreatedAt",
        indexes=indexes,
    )


def address(prefix: str = "") -> tuple[Field, ...]:
    return (
        text(f"{prefix}Address", 100),
        text(f"{prefix}Address_2", 50),
        text(f"{prefix}City", 30),
        text(f"{prefix}County", 30),
        text(f"{prefix}Country_Region_Code", 10),
        text(f"{prefix}Post_Code", 20),
    )

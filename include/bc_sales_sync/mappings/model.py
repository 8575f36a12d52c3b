"""The mapping model: a source in Business Central, a target table in Dataverse, field maps."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any


class MappingError(ValueError):
    """A mapping or a mapping override is invalid; the message says which key and why."""


class Direction(enum.StrEnum):
    TO_CRM = "to_crm"  # Business Central -> Sales
    FROM_CRM = "from_crm"
    BIDIRECTIONAL = "bidirectional"


class ConflictPolicy(enum.StrEnum):
    """What a bidirectional mapping does when both sides changed since the last sync."""

    FAIL = "fail"  # BC's default: fail the record, log it, retry next run
    BC_WINS = "bc_wins"
    SALES_WINS = "sales_wins"


@dataclass(frozen=True)
class Source:
    """Where records come from in Business Central.

    :param entity_set: an API v2.0 entity set (``unitsOfMeasure``) or, with ``web_service``,
        the name of a published OData V4 web service (``Resources``).
    :param key: the property holding the record's stable id (``id`` / ``SystemId``).
    :param modified: the property holding the last-modified time.
    :param filter: an OData ``$filter`` always applied (BC's "table filter").
    :param expand: navigation properties read with each record (e.g. an invoice's lines).
    """

    entity_set: str
    key: str = "id"
    modified: str = "lastModifiedDateTime"
    web_service: bool = False
    filter: str | None = None
    expand: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """Where records go in Dataverse.

    :param entity_set: the Web API entity set name (``products``).
    :param key: the primary id column (``productid``).
    :param match_on: columns that identify an existing, uncoupled row (match-based coupling).
    :param filter: an OData ``$filter`` that rows of this mapping satisfy (e.g. product type).
    """

    entity_set: str
    key: str
    match_on: tuple[str, ...] = ()
    modified: str = "modifiedon"
    filter: str | None = None


@dataclass(frozen=True)
class WriteBack:
    """Where Sales → Business Central writes go, for mappings that synchronize that way.

    :param entity_set: an API v2.0 entity set (``customers``) or, with ``web_service``, a published
        web service (``Resources``) where the API has no such entity.
    :param names: ``(source field, property written)`` pairs where the written entity names a field
        otherwise than the source the mapping reads (``Name`` → ``displayName``); others keep their name.
    :param key: the property the record is addressed by in a write (``id`` for the API; a web
        service's page key, e.g. ``No``).
    :param id_field: the property holding the record's SystemId (the coupled BC id).
    :param modified: the written entity's last-modified property, returned by a write.
    """

    entity_set: str
    names: tuple[tuple[str, str], ...] = ()
    key: str = "id"
    id_field: str = "id"
    web_service: bool = False
    modified: str = "lastModifiedDateTime"

    def name_of(self, source_field: str) -> str:
        return dict(self.names).get(source_field, source_field)


@dataclass(frozen=True)
class FieldMap:
    """One field: ``source`` (a BC property) or ``constant`` -> ``target`` (a Dataverse column).

    Fields marked ``insert_only`` are written when the row is created and never updated
    (e.g. a unit group's base unit name).
    """

    target: str
    source: str | None = None
    constant: Any = None
    direction: Direction = Direction.TO_CRM
    insert_only: bool = False


@dataclass(frozen=True)
class Mapping:
    """One integration table mapping (one sync job).

    :param name: BC's mapping name, e.g. ``ITEM-PRODUCT``.
    :param task_id: the Airflow task that runs it.
    :param transform: dotted path of the pure function that turns a source DataFrame into target rows.
    :param fields: the simple field maps (business rules beyond them live in the transform).
    :param dependencies: mappings whose couplings this one looks up (BC's dependency filter).
    :param lookups: the lookup frames and constants the transform needs, loaded once per run
        (see :mod:`include.bc_sales_sync.sync.lookups`).
    :param sync_only_coupled: update coupled records only; never create new ones.
    :param couple_only: never write to Sales: records are only coupled to existing rows with the
        same ``target.match_on`` values (e.g. salespeople to Sales users by e-mail); a record
        without a match fails with a message saying so.
    :param interval_minutes: how often the job runs; ``inactivity_timeout_minutes`` as BC sets it.
    :param write_back: where Sales → BC writes go (mappings whose direction includes ``from_crm``).
    :param reverse_transform: dotted path of the pure function turning Sales rows into BC values
        (Sales → BC); the default copies the fields mapped that way.
    """

    name: str
    task_id: str
    source: Source
    target: Target
    transform: str
    fields: tuple[FieldMap, ...] = ()
    direction: Direction = Direction.TO_CRM
    conflict_policy: ConflictPolicy = ConflictPolicy.FAIL
    sync_only_coupled: bool = False
    couple_only: bool = False
    dependencies: tuple[str, ...] = ()
    lookups: tuple[str, ...] = ()
    interval_minutes: int = 30
    inactivity_timeout_minutes: int = 1440
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    write_back: WriteBack | None = None
    reverse_transform: str = "include.bc_sales_sync.transforms.reverse:copy_fields"

    @property
    def from_crm_fields(self) -> tuple[FieldMap, ...]:
        """The field maps Sales → BC writes: bidirectional or from Sales, with a BC field."""
        return tuple(
            f for f in self.fields if f.source and f.direction in (Direction.BIDIRECTIONAL, Direction.FROM_CRM)
        )

    @property
    def syncs_to_crm(self) -> bool:
        return self.direction in (Direction.TO_CRM, Direction.BIDIRECTIONAL)

    @property
    def syncs_from_crm(self) -> bool:
        return self.direction in (Direction.FROM_CRM, Direction.BIDIRECTIONAL) and self.write_back is not None

    @property
    def excludes_own_changes(self) -> bool:
        """Whether Sales → BC reads leave out rows last modified by the integration user (BC's
        loop prevention): only for bidirectional mappings without a field mapped from Sales only;
        the others rely on the coupling timestamps."""
        return self.direction is Direction.BIDIRECTIONAL and not any(
            f.direction is Direction.FROM_CRM for f in self.fields if f.source
        )

    @property
    def source_fields(self) -> list[str]:
        """The BC properties to ``$select``: the key, the modified time and every mapped source."""
        names = [self.source.key, self.source.modified]
        names += [f.source for f in self.fields if f.source]
        names += list(self.options.get("extra_source_fields", ()))
        return list(dict.fromkeys(names))

    def with_overrides(self, overrides: dict[str, Any]) -> Mapping:
        """A copy with user overrides applied; unknown keys and bad values raise :class:`MappingError`."""
        allowed = {
            "fields",
            "source_filter",
            "target_filter",
            "direction",
            "conflict_policy",
            "sync_only_coupled",
            "enabled",
            "options",
        }
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise MappingError(f"Mapping {self.name}: unknown override key(s) {unknown}; allowed: {sorted(allowed)}.")
        changes: dict[str, Any] = {}
        try:
            if "direction" in overrides:
                changes["direction"] = Direction(overrides["direction"])
            if "conflict_policy" in overrides:
                changes["conflict_policy"] = ConflictPolicy(overrides["conflict_policy"])
        except ValueError as exc:
            raise MappingError(f"Mapping {self.name}: {exc}.") from exc
        for flag in ("sync_only_coupled", "enabled"):
            if flag in overrides:
                if not isinstance(overrides[flag], bool):
                    raise MappingError(f"Mapping {self.name}: '{flag}' must be true or false.")
                changes[flag] = overrides[flag]
        if "source_filter" in overrides:
            changes["source"] = dataclasses.replace(self.source, filter=overrides["source_filter"] or None)
        if "target_filter" in overrides:
            changes["target"] = dataclasses.replace(self.target, filter=overrides["target_filter"] or None)
        if "options" in overrides:
            if not isinstance(overrides["options"], dict):
                raise MappingError(f"Mapping {self.name}: 'options' must be an object.")
            changes["options"] = {**self.options, **overrides["options"]}
        if "fields" in overrides:
            changes["fields"] = _override_fields(self, overrides["fields"])
        result = dataclasses.replace(self, **changes)
        if result.direction is not Direction.TO_CRM and self.write_back is None:
            raise MappingError(
                f"Mapping {self.name}: direction '{result.direction}' is not available; this mapping "
                "synchronizes Business Central -> Sales only (direction 'to_crm')."
            )
        return result


def _override_fields(mapping: Mapping, spec: Any) -> tuple[FieldMap, ...]:
    """``{"<target>": {"source": ...} | {"constant": ...} | null}``: change, add or remove field maps."""
    if not isinstance(spec, dict):
        raise MappingError(f"Mapping {mapping.name}: 'fields' must be an object keyed by target column.")
    fields = {f.target: f for f in mapping.fields}
    for target, value in spec.items():
        if value is None:
            fields.pop(target, None)
            continue
        if not isinstance(value, dict) or not ({"source", "constant"} & set(value)):
            raise MappingError(
                f"Mapping {mapping.name}: field '{target}' needs {{\"source\": <BC property>}} or "
                '{"constant": <value>}, or null to remove it.'
            )
        extra = sorted(set(value) - {"source", "constant", "insert_only"})
        if extra:
            raise MappingError(f"Mapping {mapping.name}: field '{target}' has unknown key(s) {extra}.")
        fields[target] = FieldMap(
            target=target,
            source=value.get("source"),
            constant=value.get("constant"),
            insert_only=bool(value.get("insert_only", False)),
        )
    return tuple(fields.values())

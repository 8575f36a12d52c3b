"""OData as the hooks and jobs write it into URLs: literals, ``$filter`` conditions, record keys and
query strings.

The rules, kept in one place: strings are quoted with ``'`` doubled; GUIDs, numbers and dates are
bare; times are UTC with milliseconds and ``Z`` (a time without a zone is taken as UTC). A list of
values goes into ``$filter`` as an ``or`` list of at most :data:`MAX_OR_VALUES`, so URLs stay short.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

T = TypeVar("T")

#: Values in one ``or`` list of a ``$filter``: keeps URLs short (a GUID condition is ~50 characters).
MAX_OR_VALUES = 40

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Characters left as they are in OData query option values: readable, and unambiguous for parsers.
# '+', '&', '#' and spaces are encoded ('+' would otherwise be read as a space).
_QUERY_SAFE = "$'(),/:=@!*;"
_KEY_SAFE = "'(),=:@!*;-._~"


# ---------------------------------------------------------------------- literals


def odata_string(value: str) -> str:
    """A quoted OData string literal: ``O'Neil`` -> ``'O''Neil'``."""
    return "'" + value.replace("'", "''") + "'"


def odata_time(value: dt.datetime) -> str:
    """A UTC timestamp literal (milliseconds, ``Z``); a time without a zone is taken as UTC."""
    value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def odata_literal(value: Any) -> str:
    """An OData literal for ``value``: strings quoted (``'`` doubled); ``null``, booleans, numbers,
    :class:`uuid.UUID`, dates (``2025-01-31``) and times (:func:`odata_time`) bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return odata_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return odata_string(str(value))


def id_literal(value: str) -> str:
    """A record id compared in a ``$filter``: a GUID bare (in :class:`uuid.UUID`'s lower-case form),
    any other id a quoted string."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return odata_string(value)


# ---------------------------------------------------------------------- $filter conditions


def any_of(column: str, values: Iterable[str], *, guid: bool = False) -> str:
    """``(column eq 'a' or column eq 'b')``; with ``guid=True`` the values are GUIDs, written as given.

    Keep ``values`` to :data:`MAX_OR_VALUES` (see :func:`chunked`).
    """
    literal = str if guid else odata_string
    return "(" + " or ".join(f"{column} eq {literal(v)}" for v in values) + ")"


def between(column: str, low: str, high: str) -> str:
    """``(column ge 'low' and column le 'high')``."""
    return f"({column} ge {odata_string(low)} and {column} le {odata_string(high)})"


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items, taken lazily so a long input never sits in memory at once."""
    if size < 1:
        raise ValueError("The chunk size must be at least 1.")
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# ---------------------------------------------------------------------- keys and query strings


def format_key(key: Any) -> str:
    """The part inside ``entityset(...)`` for a record key, percent-encoded for a URL path.

    :param key: a GUID (``str`` or :class:`uuid.UUID`) -> bare; an ``int`` -> bare; another string ->
        quoted (``ItemCard('1906-S')``); a mapping -> an alternate or composite key
        (``accountnumber='A1'``, ``Document_Type='Order',No='101005'``), each value a literal as
        :func:`odata_literal` writes it (GUID strings bare).
    """
    if isinstance(key, Mapping):
        if not key:
            raise ValueError("A composite key needs at least one field.")
        text = ",".join(f"{name}={odata_literal(_guid_or(value))}" for name, value in key.items())
    elif isinstance(key, uuid.UUID):
        text = str(key)
    elif isinstance(key, bool):
        raise ValueError(f"{key!r} is not a record key.")
    elif isinstance(key, int):
        text = str(key)
    elif isinstance(key, str):
        if not key:
            raise ValueError("The record key is empty.")
        text = key if _GUID.match(key) else odata_literal(key)
    else:
        raise ValueError(f"Cannot use a {type(key).__name__} as a record key; pass a GUID, a string or a mapping.")
    return quote(text, safe=_KEY_SAFE)


def _guid_or(value: Any) -> Any:
    if isinstance(value, str) and _GUID.match(value):
        return uuid.UUID(value)
    return value


def comma_list(value: Iterable[str] | str | None) -> str | None:
    """The value of ``$select``, ``$expand`` or ``$orderby``: names joined with commas, ``None`` for none."""
    if value is None or isinstance(value, str):
        return value
    return ",".join(value) or None


def build_query(params: Mapping[str, Any] | None) -> str:
    """An OData query string: ``None`` values skipped, lists joined with commas, ``$`` kept readable."""
    if not params:
        return ""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{quote(str(name), safe='$')}={quote(str(value), safe=_QUERY_SAFE)}")
    return "&".join(parts)

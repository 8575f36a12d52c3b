"""OData plumbing of the BC emulator: URL segments and key predicates, query options, ETags, skip tokens.

``$filter`` expressions are never parsed here: the store hands them to ``odata-query``. This
module only splits a URL into segments and reads the small key syntax inside parentheses.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote

from include.sandbox.bc.errors import BCError, bad_request
from include.sandbox.store import is_guid

QUERY_OPTIONS = {
    "$filter",
    "$select",
    "$orderby",
    "$top",
    "$skip",
    "$count",
    "$expand",
    "$skiptoken",
    "$format",
    "$schemaversion",
}
MAX_PAGE_SIZE = 20_000
SYNTAX_ERROR = "Bad Request - Error in query syntax."


@dataclass(frozen=True)
class KeyPart:
    """One value of a key predicate: ``name`` is None for ``items(<guid>)``."""

    name: str | None
    value: object
    kind: str  # "string", "guid", "int", "decimal", "bool", "date", "datetime"


@dataclass(frozen=True)
class Segment:
    name: str
    key: tuple[KeyPart, ...] | None = None
    text: str = ""


def split_path(raw_path: str) -> list[str]:
    """Split a still percent-encoded path into decoded segments (an encoded ``/`` stays inside its segment)."""
    return [unquote(part) for part in raw_path.split("/") if part != ""]


def parse_segment(text: str) -> Segment:
    """``items(5a3e...)`` -> name ``items`` and one key part; ``SalesPrices(Item_No='1896-S',...)`` -> named parts."""
    if "(" not in text:
        return Segment(text, None, text)
    name, _, rest = text.partition("(")
    if not rest.endswith(")") or not name:
        raise bad_request(SYNTAX_ERROR, "BadRequest_NotFound")
    return Segment(name, _parse_key(rest[:-1]), text)


def _parse_key(body: str) -> tuple[KeyPart, ...]:
    parts: list[KeyPart] = []
    i, n = 0, len(body)
    while i < n:
        name = None
        # a name is an identifier followed by '=' (outside quotes)
        j = i
        while j < n and (body[j].isalnum() or body[j] == "_"):
            j += 1
        if j < n and body[j] == "=" and j > i:
            name, i = body[i:j], j + 1
        if i < n and body[i] == "'":
            chars, i = [], i + 1
            while True:
                if i >= n:
                    raise bad_request(SYNTAX_ERROR, "BadRequest_NotFound")
                if body[i] == "'":
                    if i + 1 < n and body[i + 1] == "'":
                        chars.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(body[i])
                i += 1
            parts.append(KeyPart(name, "".join(chars), "string"))
        else:
            j = i
            while j < n and body[j] != ",":
                j += 1
            parts.append(_literal(name, body[i:j].strip()))
            i = j
        if i < n:
            if body[i] != "," or i == n - 1:
                raise bad_request(SYNTAX_ERROR, "BadRequest_NotFound")
            i += 1
    if not parts:
        raise bad_request(SYNTAX_ERROR, "BadRequest_NotFound")
    return tuple(parts)


def _literal(name: str | None, token: str) -> KeyPart:
    if is_guid(token):
        return KeyPart(name, token.lower(), "guid")
    if token in ("true", "false"):
        return KeyPart(name, token == "true", "bool")
    try:
        return KeyPart(name, int(token), "int")
    except ValueError:
        pass
    try:
        return KeyPart(name, dt.date.fromisoformat(token).isoformat(), "date")
    except ValueError:
        pass
    try:
        return KeyPart(name, float(token), "decimal")
    except ValueError:
        pass
    raise bad_request(SYNTAX_ERROR, "BadRequest_NotFound")


def format_key(values: list[tuple[str, object, str]], named: bool) -> str:
    """The key predicate of a record's URL (``'LIFT'``, ``No='LIFT'``, a bare GUID)."""
    out = []
    for name, value, kind in values:
        if kind == "string":
            literal = "'" + str(value).replace("'", "''") + "'"
        elif kind == "bool":
            literal = "true" if value else "false"
        elif kind == "decimal":
            literal = f"{value:g}"
        else:
            literal = str(value)
        out.append(f"{name}={literal}" if named else literal)
    return "(" + quote(",".join(out), safe="'=,()-_.:") + ")"


# -- query options -----------------------------------------------------------------------------


@dataclass
class Options:
    filter: str | None = None
    select: list[str] | None = None
    orderby: str | None = None
    top: int | None = None
    skip: int = 0
    count: bool = False
    expand: list[tuple[str, Options]] = field(default_factory=list)
    skiptoken: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse_query(query_string: str) -> tuple[Options, list[tuple[str, str]]]:
    """Read the system query options; return them and the raw pairs (for next links)."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name.startswith("$"):
            if name not in QUERY_OPTIONS:
                raise bad_request(f"The query parameter '{name}' is not supported.")
            if name in seen:
                raise bad_request(
                    f"Query option '{name}' was specified more than once, but it must be specified at most once."
                )
        seen[name] = value
    return options_from(seen), pairs


def options_from(values: dict[str, str]) -> Options:
    opts = Options(extra={k: v for k, v in values.items() if not k.startswith("$")})
    if values.get("$filter", "").strip():
        opts.filter = values["$filter"]
    if "$select" in values and values["$select"].strip():
        opts.select = [s.strip() for s in values["$select"].split(",") if s.strip()]
    if values.get("$orderby", "").strip():
        opts.orderby = values["$orderby"].strip()
    for name in ("$top", "$skip"):
        if name in values:
            raw = values[name].strip()
            if not raw.isdigit():
                raise bad_request(
                    f"Invalid value '{raw}' for {name} query option found. The {name} query option requires a non-negative integer value."
                )
            if name == "$top":
                opts.top = int(raw)
            else:
                opts.skip = int(raw)
    if "$count" in values:
        raw = values["$count"].strip().lower()
        if raw not in ("true", "false"):
            raise bad_request(f"'{values['$count']}' is not a valid count option.")
        opts.count = raw == "true"
    if values.get("$expand", "").strip():
        opts.expand = parse_expand(values["$expand"])
    if "$skiptoken" in values:
        opts.skiptoken = values["$skiptoken"]
    return opts


def _split_top(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, []
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                raise bad_request(f"Invalid $expand '{text}': unbalanced parentheses.")
        if ch == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0 or quoted:
        raise bad_request(f"Invalid $expand '{text}': unbalanced parentheses or quotes.")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_expand(text: str) -> list[tuple[str, Options]]:
    """``lines($select=a,b;$filter=x eq 1),customer`` -> [("lines", Options(...)), ("customer", Options())]."""
    out = []
    for item in _split_top(text, ","):
        name, _, rest = item.partition("(")
        inner: dict[str, str] = {}
        if rest:
            if not rest.endswith(")"):
                raise bad_request(f"Invalid $expand '{text}'.")
            for option in _split_top(rest[:-1], ";"):
                key, sep, value = option.partition("=")
                key = key.strip()
                if not sep or key not in ("$select", "$filter", "$orderby", "$top", "$skip"):
                    raise bad_request(
                        f"The option '{key}' is not supported inside $expand; use $select, $filter, $orderby, $top or $skip."
                    )
                inner[key] = value
        out.append((name.strip(), options_from(inner)))
    return out


def max_page_size(prefer: str | None) -> tuple[int, bool]:
    """The page size from ``Prefer: odata.maxpagesize=N`` (capped at BC's 20,000) and whether it applied."""
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit() and int(value) > 0:
            return min(int(value), MAX_PAGE_SIZE), True
    return MAX_PAGE_SIZE, False


# -- ETags and skip tokens ---------------------------------------------------------------------


def etag(version: int) -> str:
    """A weak ETag shaped like BC's: base64 of ``'<version>;<hash>;00;'``; it changes with every write."""
    mixed = (version * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF  # a cheap, stable scramble of the version
    # bytes formatting: this runs once per row of every page
    return 'W/"' + base64.b64encode(b"'%d;%016X;00;'" % (version, mixed)).decode() + '"'


def etag_matches(header: str, current: str) -> bool:
    def bare(value: str) -> str:
        value = value.strip()
        if value.startswith("W/"):
            value = value[2:]
        return value.strip('"')

    return any(part.strip() == "*" or bare(part) == bare(current) for part in header.split(","))


def query_fingerprint(path: str, pairs: list[tuple[str, str]]) -> str:
    kept = sorted((k, v) for k, v in pairs if k != "$skiptoken")
    return hashlib.sha256(json.dumps([path, kept]).encode()).hexdigest()[:16]


def encode_token(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, fingerprint: str) -> dict:
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(state, dict):
            raise ValueError
    except (ValueError, json.JSONDecodeError) as exc:
        raise bad_request("The $skiptoken is not valid. Follow the @odata.nextLink exactly as returned.") from exc
    if state.get("h") != fingerprint:
        raise BCError(
            400,
            "BadRequest",
            "The $skiptoken belongs to another query. Follow the @odata.nextLink without changing its other options.",
        )
    return state

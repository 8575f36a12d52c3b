"""Resource paths, key segments, Prefer headers and paging cookies of the Web API.

Paths are split on ``/`` outside single-quoted key values (``products(productnumber='A/B')``)
before percent-decoding, so a key value may contain any character. Key segments are either a
bare GUID or ``name=value`` pairs with OData literals (``'text'`` with ``''`` for a quote,
numbers, GUIDs, ``true``/``false``/``null``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote

from include.sandbox.dataverse.errors import odata_error

MAX_PAGE_SIZE = 5000


def split_path(raw: str) -> list[str]:
    """Split a raw (still percent-encoded) path into decoded segments."""
    segments, current, quoted = [], [], False
    decoded = raw
    # Quotes may themselves arrive percent-encoded; decode them first so splitting sees them.
    if "%27" in decoded or "%2527" in decoded:
        decoded = decoded.replace("%27", "'")
    for ch in decoded:
        if ch == "'":
            quoted = not quoted
        if ch == "/" and not quoted:
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
    segments.append("".join(current))
    return [unquote(s) for s in segments if s != ""]


def split_segment(segment: str) -> tuple[str, str | None]:
    """``accounts(key)`` -> (``accounts``, ``key``); ``accounts`` -> (``accounts``, None)."""
    if segment.endswith(")") and "(" in segment:
        name, _, rest = segment.partition("(")
        return name, rest[:-1]
    return segment, None


def _literal(text: str, where: str):
    text = text.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        inner = text[1:-1]
        if "'" in inner.replace("''", ""):
            raise odata_error(f"Bad Request - Error in query syntax: unbalanced quote in key '{where}'.")
        return inner.replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise odata_error(f"Bad Request - Error in query syntax: '{text}' is not a valid key value.") from None


def parse_key(text: str) -> str | dict[str, object]:
    """A key segment's content: a GUID string, or ``{name: value}`` for an alternate key."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        stripped = stripped[1:-1]
    try:
        return str(uuid.UUID(stripped))
    except ValueError:
        pass
    pairs: dict[str, object] = {}
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise odata_error(
                f"Bad Request - Error in query syntax: '{text}' is neither a GUID nor a list of key=value pairs."
            )
        pairs[name.strip()] = _literal(value, text)
    return pairs


def format_key(values: dict[str, object]) -> str:
    """The inverse of :func:`parse_key` for alternate keys (used in OData-EntityId headers)."""
    parts = []
    for name, value in values.items():
        if isinstance(value, str):
            parts.append(f"{name}='{value.replace(chr(39), chr(39) * 2)}'")
        elif isinstance(value, bool):
            parts.append(f"{name}={'true' if value else 'false'}")
        else:
            parts.append(f"{name}={value}")
    return ",".join(parts)


@dataclass
class Prefer:
    """The parts of a ``Prefer`` header the service honours."""

    return_representation: bool = False
    max_page_size: int | None = None
    annotations: str | None = None
    continue_on_error: bool = False
    track_changes: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        prefer = cls()
        for raw in _split_preferences(header or ""):
            item = raw.strip()
            name, _, value = item.partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"')
            if name == "return" and value.lower() == "representation":
                prefer.return_representation = True
            elif name == "odata.maxpagesize":
                try:
                    size = int(value)
                except ValueError:
                    continue
                # Larger requests are ignored (the default page of 5,000 applies).
                if 0 < size <= MAX_PAGE_SIZE:
                    prefer.max_page_size = size
            elif name in ("odata.include-annotations", "include-annotations"):
                prefer.annotations = value
            elif name == "odata.continue-on-error":
                prefer.continue_on_error = value.lower() != "false"
            elif name == "odata.track-changes":
                prefer.track_changes = True
        return prefer

    def wants(self, annotation: str) -> bool:
        """Whether the requested annotation filter (``*``, ``a.b.*``, ``a.b.c``) covers ``annotation``."""
        if not self.annotations:
            return False
        for pattern in self.annotations.split(","):
            pattern = pattern.strip()
            if pattern.startswith("-"):
                continue
            if pattern == "*" or pattern == annotation:
                return True
            if pattern.endswith(".*") and annotation.startswith(pattern[:-1]):
                return True
        return False


def _split_preferences(header: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


# -- paging cookies ------------------------------------------------------------------------------


def paging_cookie(page: int, primary_id: str, first: str, last: str, position: str) -> str:
    """A ``$skiptoken`` value shaped like Dataverse's (XML whose pagingcookie is url-encoded twice).

    ``position`` is the sandbox's own continuation point; clients treat the token as opaque.
    """
    inner = (
        f'<cookie page="{page - 1}" position="{position}">'
        f'<{primary_id} last="{{{last.upper()}}}" first="{{{first.upper()}}}" /></cookie>'
    )
    # Dataverse writes the escapes in lower case (%253ccookie...).
    encoded_inner = _lower_escapes(quote(_lower_escapes(quote(inner, safe="")), safe=""))
    return f'<cookie pagenumber="{page}" pagingcookie="{encoded_inner}" istracking="False" />'


def _lower_escapes(text: str) -> str:
    parts = text.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


@dataclass
class Cookie:
    page: int
    position: str


def read_paging_cookie(token: str) -> Cookie:
    """Parse a ``$skiptoken`` made by :func:`paging_cookie` (already url-decoded once)."""
    try:
        outer = token.strip()
        page = int(_attribute(outer, "pagenumber"))
        inner = unquote(unquote(_attribute(outer, "pagingcookie")))
        position = _attribute(inner, "position")
        return Cookie(page=page, position=position)
    except (ValueError, KeyError):
        raise odata_error(
            "The $skiptoken is not a valid paging cookie. Follow @odata.nextLink exactly as returned."
        ) from None


def _attribute(xml: str, name: str) -> str:
    marker = f'{name}="'
    start = xml.find(marker)
    if start < 0:
        raise KeyError(name)
    start += len(marker)
    end = xml.find('"', start)
    if end < 0:
        raise KeyError(name)
    return xml[start:end]

"""HTTP Range and conditional-request rules (RFC 9110 §13–§14), as pure functions.

Nothing here does I/O, so every rule is testable without a server and the same rules hold
whatever backend the bytes come from.

Decisions (see also ``docs``/the serve module docstring):

- Only single ranges are honoured. A multi-range request (``bytes=0-1,5-6``) is *ignored* and
  answered ``200`` with the whole object, which RFC 9110 §14.2 permits; multipart/byteranges
  responses are a rarely-used, easy-to-get-wrong feature that no zarr client sends.
- A Range header that does not parse (unknown unit, ``bytes=5-2``, junk) is likewise ignored:
  ``200`` with the whole object.
- A well-formed single range that selects no byte of the object (``bytes=size-``, ``bytes=-0``,
  any range on an empty object) is ``416`` with ``Content-Range: bytes */size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

# Digits beyond this are not a byte offset anyone means; refusing them keeps int() cheap.
_MAX_DIGITS = 19


@dataclass(frozen=True, slots=True)
class ByteSpan:
    """A half-open byte interval ``[start, stop)`` of an object."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self, size: int | None) -> str:
        """``bytes a-b/size``; ``bytes a-b/*`` when the object's size is not known."""
        return f"bytes {self.start}-{self.stop - 1}/{'*' if size is None else size}"


class Unsatisfiable:
    """Marker: the Range header was valid but selects nothing (→ 416)."""

    __slots__ = ()


UNSATISFIABLE = Unsatisfiable()


def _parse_int(text: str) -> int | None:
    if not text or len(text) > _MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def parse_range(header: str, size: int) -> ByteSpan | Unsatisfiable | None:
    """The span a ``Range`` header selects from an object of ``size`` bytes.

    Returns ``None`` when the header is to be ignored (malformed, not bytes, several ranges),
    :data:`UNSATISFIABLE` when it is valid but selects nothing, else the clamped span.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        return None
    first_text, dash, last_text = spec.partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not first_text:
        # Suffix form "-n": the last n bytes.
        suffix = _parse_int(last_text)
        if suffix is None:
            return None
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return ByteSpan(max(0, size - suffix), size)
    first = _parse_int(first_text)
    if first is None:
        return None
    if last_text:
        last = _parse_int(last_text)
        if last is None or last < first:
            return None
    else:
        last = size - 1
    if first >= size:
        return UNSATISFIABLE
    return ByteSpan(first, min(last, size - 1) + 1)


_UNBOUNDED = 10**_MAX_DIGITS + 1  # larger than any offset parse_range accepts


def closed_range(header: str) -> ByteSpan | None:
    """The span of a single closed range (``bytes=a-b``), which needs no object size.

    None for every other form (``a-``, ``-n``, several ranges, malformed): those can only be
    answered once the size is known. A proxy uses this to read just the requested bytes.
    """
    chosen = parse_range(header, _UNBOUNDED)
    if isinstance(chosen, ByteSpan) and chosen.stop < _UNBOUNDED:
        return chosen
    return None


def http_date(timestamp: float) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for a POSIX timestamp."""
    return formatdate(timestamp, usegmt=True)


def parse_http_date(text: str) -> float | None:
    """The POSIX timestamp of an HTTP date, or ``None`` if it does not parse."""
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        # RFC 9110 dates are always GMT; a zone-less one is read as such.
        return parsed.replace(tzinfo=UTC).timestamp()
    return parsed.timestamp()


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches_weak(header: str, etag: str) -> bool:
    """``If-None-Match`` comparison: weak, over a list or ``*``."""
    if header.strip() == "*":
        return True
    ours = _opaque(etag)
    return any(_opaque(part.strip()) == ours for part in header.split(","))


def not_modified(
    *, etag: str, mtime: float | None, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether a GET/HEAD is answered ``304 Not Modified`` (RFC 9110 §13.2.2 order)."""
    if if_none_match is not None:
        # If-Modified-Since is ignored when If-None-Match is present.
        return etag_matches_weak(if_none_match, etag)
    if if_modified_since is not None and mtime is not None:
        since = parse_http_date(if_modified_since)
        # Last-Modified has one-second resolution; compare at that resolution.
        return since is not None and int(mtime) <= since
    return False


def if_range_allows(if_range: str | None, *, etag: str, mtime: float | None) -> bool:
    """Whether the Range header may be honoured given ``If-Range`` (strong comparison)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('"'):
        return value == etag and not etag.startswith("W/")
    if value.startswith("W/"):
        return False
    if mtime is None:
        return False
    when = parse_http_date(value)
    return when is not None and when == float(int(mtime))


__all__ = [
    "UNSATISFIABLE",
    "ByteSpan",
    "Unsatisfiable",
    "closed_range",
    "etag_matches_weak",
    "http_date",
    "if_range_allows",
    "not_modified",
    "parse_http_date",
    "parse_range",
]

"""From a request's raw path to a store key, refusing anything that could leave the root.

The HTTP layer works on the *raw* request target, not on a decoded path: decoding first would
turn ``%2f`` into a separator and ``%2e%2e`` into ``..`` after the point where they could be
seen. Every refusal becomes a plain 404 so that a probe learns nothing about what exists.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

# Zarr v2 metadata keys are dotfiles; every other dotfile (.git, .env, .DS_Store, ...) stays private.
ZARR_DOTFILES = frozenset({".zarray", ".zattrs", ".zgroup", ".zmetadata"})

# Encoded separators and NUL, matched case-insensitively on the raw bytes.
_FORBIDDEN_ENCODINGS = (b"%2f", b"%5c", b"%00")


def is_served_name(name: str) -> bool:
    """Whether one path segment may be served: no dotfiles except zarr v2 metadata."""
    if not name or "/" in name or "\\" in name or "\x00" in name:
        return False
    return not name.startswith(".") or name in ZARR_DOTFILES


def key_from_raw_path(raw_path: bytes) -> str | None:
    """The store key (``"a/b/c"``; ``""`` for the root) of a raw request path, or None.

    None means "answer 404": the path is not origin-form, contains an encoded slash,
    backslash or NUL, does not decode as UTF-8, or has a segment that is ``.``, ``..``,
    a hidden file, or otherwise not servable. Empty segments (``a//b``) collapse, as they
    would on a file system.
    """
    if not raw_path.startswith(b"/"):
        return None
    lowered = raw_path.lower()
    if any(bad in lowered for bad in _FORBIDDEN_ENCODINGS):
        return None
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\\" in decoded or "\x00" in decoded:
        return None
    segments = [s for s in decoded.split("/") if s]
    if not all(is_served_name(s) for s in segments):
        return None
    return "/".join(segments)


def is_directory_path(raw_path: bytes) -> bool:
    """Whether the request names a directory explicitly (trailing slash)."""
    return raw_path.endswith(b"/")


__all__ = ["ZARR_DOTFILES", "is_directory_path", "is_served_name", "key_from_raw_path"]

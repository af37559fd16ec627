"""Parsing the option values commands share. CLI triples are x,y,z; the library is z,y,x.

Each parser raises ``typer.BadParameter`` naming the option, so a bad value is a usage
error (exit 2) that says which option is wrong and what it should look like.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Annotated, Any

import typer

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=option)


def parse_xyz(option: str, text: str, *, integer: bool = True) -> tuple[float, ...]:
    """``X,Y,Z`` or one number for all three, returned in z,y,x order."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts *= 3
    try:
        values = [int(p) if integer else float(p) for p in parts]
    except ValueError:
        kind = "whole numbers" if integer else "numbers"
        raise _bad(option, f"{text!r} is not one or three {kind} (X,Y,Z order)") from None
    if len(values) != 3:
        raise _bad(option, f"{text!r} needs one number or three (X,Y,Z), got {len(values)}")
    if any(not v > 0 for v in values):
        raise _bad(option, f"{text!r}: every value must be positive")
    x, y, z = values
    return (z, y, x)


def parse_xyz_shape(option: str, text: str) -> tuple[int, int, int]:
    z, y, x = (int(v) for v in parse_xyz(option, text))
    return z, y, x


def parse_ranges(option: str, text: str) -> tuple[tuple[int | None, int | None], ...]:
    """``XMIN:XMAX,YMIN:YMAX,ZMIN:ZMAX`` (open ends allowed, like Python slices), as z,y,x."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise _bad(option, f"{text!r} needs three ranges XMIN:XMAX,YMIN:YMAX,ZMIN:ZMAX")
    out: list[tuple[int | None, int | None]] = []
    for axis, part in zip("xyz", parts, strict=True):
        if part in ("", ":"):
            out.append((None, None))
            continue
        bits = part.split(":")
        if len(bits) != 2:
            raise _bad(option, f"range {part!r} for {axis} must be START:STOP (step 1)")
        try:
            start = int(bits[0]) if bits[0].strip() else None
            stop = int(bits[1]) if bits[1].strip() else None
        except ValueError:
            raise _bad(option, f"range {part!r} for {axis} must be whole numbers") from None
        if start is not None and stop is not None and start >= 0 and stop >= 0 and stop <= start:
            raise _bad(option, f"range {part!r} for {axis} is empty (STOP must exceed START)")
        out.append((start, stop))
    x, y, z = out
    return (z, y, x)


def parse_names(option: str, text: str) -> tuple[str, ...]:
    """``DAPI,GFP,RFP`` -> names (none empty)."""
    names = tuple(p.strip() for p in text.split(","))
    if any(not n for n in names):
        raise _bad(option, f"{text!r}: give comma-separated names, none of them empty")
    return names


def parse_size(option: str, text: str) -> int:
    """``512M``, ``2G``, ``1.5GiB``, ``4000000000`` → bytes (K/M/G/T are powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise _bad(option, f"{text!r} is not a size such as 512M, 2G or 1.5GiB")
    number, prefix = float(match.group(1)), match.group(2).lower()
    power = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}[prefix]
    return int(number * (1024**power))


def parse_window(option: str, text: str) -> tuple[float, float] | str:
    """``LO:HI`` (or ``LO,HI``) or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    bits = text.replace(",", ":").split(":")
    try:
        lo, hi = (float(b) for b in bits)
    except ValueError:
        raise _bad(option, f"{text!r} must be MIN:MAX (numbers) or auto") from None
    if not hi > lo:
        raise _bad(option, f"{text!r}: MAX must be greater than MIN")
    return (lo, hi)


def parse_levels(option: str, text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise _bad(option, f"{text!r} must be a whole number of levels or auto") from None
    if value < 1:
        raise _bad(option, f"{text!r}: at least 1 level (level 0 only)")
    return value


# -- options every command shares: how to reach remote stores ---------------------------------

_STORAGE_HELP = {
    "header": "HTTP header 'Name: value' sent to http(s):// servers, e.g. 'Authorization: "
    "Bearer TOKEN' (repeatable; env NGFFKIT_HTTP_HEADERS, one per line). Never "
    "printed.",
    "s3_endpoint": "S3-compatible server for s3:// URLs (MinIO, Ceph), e.g. "
    "http://127.0.0.1:9000 (env NGFFKIT_S3_ENDPOINT or AWS_ENDPOINT_URL).",
    "aws_profile": "AWS credentials profile for s3:// URLs (env AWS_PROFILE).",
    "anonymous": "Send no credentials to s3:// (public buckets).",
    "cache_size": "Chunk cache for reads, e.g. 512M (env NGFFKIT_CACHE_SIZE; default 256M).",
    "retries": "Retries after HTTP 429/5xx or network errors, with backoff (env "
    "NGFFKIT_RETRIES; default 6).",
    "timeout": "Seconds to connect, and seconds a transfer may stall, before a remote request "
    "fails (env NGFFKIT_TIMEOUT; default 30).",
}


def _storage_parameters() -> list[inspect.Parameter]:
    def opt(
        name: str, annotation: Any, default: Any, *decls: str, metavar: str | None = None
    ) -> inspect.Parameter:
        info = typer.Option(*decls, help=_STORAGE_HELP[name], show_default=False, metavar=metavar)
        return inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default,
            annotation=Annotated[annotation, info],
        )

    return [
        opt("header", list[str] | None, None, "--header", "-H", metavar="'NAME: VALUE'"),
        opt("s3_endpoint", str | None, None, "--s3-endpoint", metavar="URL"),
        opt("aws_profile", str | None, None, "--aws-profile", metavar="NAME"),
        opt("anonymous", bool, False, "--anonymous"),
        opt("cache_size", str | None, None, "--cache-size", metavar="SIZE"),
        opt("retries", int | None, None, "--retries", metavar="N"),
        opt("timeout", float | None, None, "--timeout", metavar="SECONDS"),
    ]


def apply_storage_options(
    *,
    header: list[str] | None = None,
    s3_endpoint: str | None = None,
    aws_profile: str | None = None,
    anonymous: bool = False,
    cache_size: str | None = None,
    retries: int | None = None,
    timeout: float | None = None,
) -> None:
    """Make the command line's storage options the process default (over the environment)."""
    from ngffkit.storage import StorageOptions, configure

    base = StorageOptions.from_env()
    if retries is not None and retries < 0:
        raise _bad("--retries", f"{retries} must not be negative")
    if timeout is not None and not timeout > 0:
        raise _bad("--timeout", f"{timeout} must be a positive number of seconds")
    options = base.updated(
        headers=(*base.headers, *(header or ())) if header else None,
        s3_endpoint=s3_endpoint,
        aws_profile=aws_profile,
        anonymous=True if anonymous else None,
        cache_bytes=parse_size("--cache-size", cache_size) if cache_size else None,
        retries=retries,
        timeout=timeout,
    )
    configure(options)


def with_storage_options(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` with the shared storage options added to its parameters.

    The wrapper takes them out, applies them (:func:`apply_storage_options`) and calls the
    command with the rest, so a command module never declares them itself.
    """
    signature = inspect.signature(callback, eval_str=True)
    own = set(signature.parameters)
    extra = [p for p in _storage_parameters() if p.name not in own]
    names = [p.name for p in extra]

    def command(**kwargs: Any) -> Any:
        apply_storage_options(**{n: kwargs.pop(n) for n in names if n in kwargs})
        return callback(**kwargs)

    params = list(signature.parameters.values()) + extra
    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = callback.__name__
    command.__qualname__ = callback.__qualname__
    command.__doc__ = callback.__doc__
    command.__module__ = callback.__module__
    command.storage_options = True  # type: ignore[attr-defined]
    return command


__all__ = [
    "apply_storage_options",
    "parse_levels",
    "parse_ranges",
    "parse_size",
    "parse_window",
    "parse_xyz",
    "parse_xyz_shape",
    "with_storage_options",
]

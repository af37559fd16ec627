"""Parsing the option values commands share. CLI triples are x,y,z; the library is z,y,x.

Each parser raises ``typer.BadParameter`` naming the option, so a bad value is a usage
error (exit 2) that says which option is wrong and what it should look like.
"""

from __future__ import annotations

import re

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


def parse_size(option: str, text: str) -> int:
    """``512M``, ``2G``, ``1.5GiB``, ``4000000000`` → bytes (K/M/G/T are powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise _bad(option, f"{text!r} is not a size such as 512M, 2G or 1.5GiB")
    number, prefix = float(match.group(1)), match.group(2).lower()
    power = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}[prefix]
    return int(number * (1024**power))


def parse_window(option: str, text: str) -> tuple[float, float] | str:
    """``MIN:MAX`` or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    bits = text.split(":")
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


__all__ = ["parse_levels", "parse_ranges", "parse_size", "parse_window", "parse_xyz",
           "parse_xyz_shape"]

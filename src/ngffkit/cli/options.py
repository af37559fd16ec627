"""Parsing the option values every command shares. CLI triples are x,y,z; the library is z,y,x."""

from __future__ import annotations

import typer


def parse_xyz_shape(option: str, text: str) -> tuple[int, int, int]:
    """``X,Y,Z`` (or one number for all three) as a z,y,x tuple of positive integers."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts *= 3
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not X,Y,Z whole numbers (x,y,z order)", param_hint=option
        ) from None
    if len(values) != 3 or any(v < 1 for v in values):
        raise typer.BadParameter(
            f"{text!r} must be one positive number or three (X,Y,Z)", param_hint=option
        )
    x, y, z = values
    return z, y, x


__all__ = ["parse_xyz_shape"]

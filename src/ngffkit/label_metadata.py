"""The ``image-label`` metadata of a label image: colours and properties, from the values
found, a CSV file or a mapping. Pure but for reading the CSV files it is given."""

from __future__ import annotations

import colorsys
import csv
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ngffkit.errors import InputError, OptionError
from ngffkit.metadata import ImageLabel, LabelColor
from ngffkit.metadata.models import LabelProperty, LabelSource


def auto_colors(values: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
    """A distinct colour per label value (0, the background, gets none): hues step by
    the golden ratio from one value to the next in order, so any two neighbours differ
    widely; saturation and brightness vary too, so a few thousand stay distinct."""
    out: dict[int, tuple[int, int, int, int]] = {}
    used: set[tuple[int, int, int]] = set()
    for rank, value in enumerate(v for v in sorted(values) if v != 0):
        hue = (rank * 0.618033988749895) % 1.0
        for attempt in range(64):
            sat = 0.55 + 0.4 * (((rank >> 2) + attempt) % 4) / 3
            bright = 0.75 + 0.25 * (((rank >> 4) + attempt) % 3) / 2
            rgb = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, sat, bright))
            if rgb not in used:
                break
            hue = (hue + 0.0031) % 1.0
        used.add(rgb)  # type: ignore[arg-type]
        out[value] = (*rgb, 255)  # type: ignore[assignment]
    return out


def _number(text: str, path: Path, line: int, column: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path} line {line}: {column} {text!r} is not a number") from None
    return int(value) if value.is_integer() else value


def read_colors_csv(path: str | os.PathLike[str]) -> dict[int, tuple[int, int, int, int]]:
    """``label-value,r,g,b[,a]`` rows (0-255; a header line is allowed)."""
    file = Path(path)
    out: dict[int, tuple[int, int, int, int]] = {}
    try:
        rows = list(csv.reader(file.read_text().splitlines()))
    except OSError as exc:
        raise InputError(f"cannot read the colours file {file}: {exc.strerror}") from None
    for line, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if line == 1 and not re.fullmatch(r"-?\d+(\.\d*)?", cells[0]):
            continue  # a header
        if len(cells) not in (4, 5):
            raise InputError(
                f"{file} line {line}: expected label-value,r,g,b[,a]; got {len(cells)} values"
            )
        value = _number(cells[0], file, line, "label-value")
        rgba = [_number(c, file, line, "colour") for c in cells[1:]] + [255] * (5 - len(cells))
        if not float(value).is_integer() or value < 0:
            raise InputError(f"{file} line {line}: label-value {cells[0]} is not a label")
        if any(not float(c).is_integer() or not 0 <= c <= 255 for c in rgba):
            raise InputError(f"{file} line {line}: colours are whole numbers from 0 to 255")
        if int(value) in out:
            raise InputError(f"{file} line {line}: label-value {int(value)} is listed twice")
        out[int(value)] = tuple(int(c) for c in rgba)  # type: ignore[assignment]
    if not out:
        raise InputError(f"{file} holds no colours: expected rows of label-value,r,g,b[,a] (0-255)")
    return out


def read_properties_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a CSV with a ``label-value`` column and any others (numbers kept as numbers)."""
    file = Path(path)
    try:
        reader = csv.DictReader(file.read_text().splitlines())
        rows = list(reader)
    except OSError as exc:
        raise InputError(f"cannot read the properties file {file}: {exc.strerror}") from None
    fields = [f.strip() for f in reader.fieldnames or ()]
    if "label-value" not in fields:
        raise InputError(
            f"{file} has no 'label-value' column (found: {', '.join(fields) or 'nothing'}); "
            "its first line must name the columns, one of them label-value"
        )
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for line, row in enumerate(rows, start=2):
        entry: dict[str, Any] = {}
        for key, text in row.items():
            if key is None:
                raise InputError(f"{file} line {line}: more values than column names")
            key, text = key.strip(), (text or "").strip()
            try:
                entry[key] = _number(text, file, line, key)
            except InputError:
                if key == "label-value":
                    raise
                entry[key] = text
        value = entry["label-value"]
        if not isinstance(value, int) or value < 0:
            raise InputError(f"{file} line {line}: label-value {value} is not a label")
        if value in seen:
            raise InputError(f"{file} line {line}: label-value {value} is listed twice")
        seen.add(value)
        out.append(entry)
    return out


ColorsArg = str | os.PathLike[str] | Mapping[int, Sequence[int]] | None
PropertiesArg = str | os.PathLike[str] | Sequence[Mapping[str, Any]] | None


def explicit_colors(colors: ColorsArg) -> dict[int, tuple[int, int, int, int]] | str:
    """``"auto"``/``"none"``, or the colours a file or mapping gives."""
    if colors is None:
        return "none"
    if isinstance(colors, str) and colors in ("auto", "none"):
        return colors
    if isinstance(colors, Mapping):
        out = {}
        for value, rgba in colors.items():
            parts = [int(c) for c in rgba]
            if len(parts) == 3:
                parts.append(255)
            if len(parts) != 4 or any(not 0 <= c <= 255 for c in parts):
                raise OptionError("colors", f"{value}: {list(rgba)} is not r,g,b[,a] in 0-255")
            out[int(value)] = tuple(parts)
        return out  # type: ignore[return-value]
    return read_colors_csv(colors)


def image_label(
    found: Sequence[int] | None,
    colors: dict[int, tuple[int, int, int, int]] | str,
    properties: Sequence[Mapping[str, Any]] | None,
    *,
    too_many: int | None = None,
) -> tuple[ImageLabel, str | None]:
    """The ``image-label`` block, and a note when colours were left out.

    ``found``: the distinct label values (None: not known, or more than ``too_many``).
    """
    note = None
    table: dict[int, tuple[int, int, int, int]] | None
    if colors == "none":
        table = None
    elif colors == "auto":
        if found is None:
            table = None
            if too_many is not None:
                note = (
                    f"more than {too_many} distinct label values: no colours are listed "
                    "(viewers colour labels by value); give --colors FILE to list some"
                )
        else:
            table = auto_colors(found)
    else:
        assert isinstance(colors, dict)
        table = colors
    return (
        ImageLabel(
            colors=tuple(LabelColor(label_value=v, rgba=rgba) for v, rgba in sorted(table.items()))
            if table
            else None,
            properties=tuple(LabelProperty(**dict(p)) for p in properties) if properties else None,
            source=LabelSource(image="../../"),
        ),
        note,
    )


def label_properties(properties: PropertiesArg) -> list[dict[str, Any]] | None:
    if properties is None:
        return None
    if isinstance(properties, (str, os.PathLike)):
        return read_properties_csv(properties)
    out = [dict(p) for p in properties]
    for p in out:
        if "label-value" not in p:
            raise OptionError("properties", f"{p} has no 'label-value'")
    return out


__all__ = [
    "ColorsArg",
    "PropertiesArg",
    "auto_colors",
    "explicit_colors",
    "image_label",
    "label_properties",
    "read_colors_csv",
    "read_properties_csv",
]

"""A folder holding a whole t,c,z series, read through a file-name pattern.

``--pattern 'img_t{t}_c{c}_z{z}.tif'`` names where each axis's value sits in a file name
(``*`` matches anything; other characters match themselves). Values are numbers or words
(``c{c}`` matches ``cDAPI`` and ``c488``). Each axis is ordered by value: numerically
when every value is a number, else alphabetically. Numbered t and z must run in one step
(``0,1,2`` or ``0,30,60``); numbers missing from that run are gaps.

With ``{z}`` each file is one 2-D slice (its first page, as in a folder of slices);
without it each file is a z-stack (a multi-page TIFF). Every combination of the values
found must have its file: missing ones are an error that names them, unless
``allow_gaps`` (then they read as the fill value). Channels are named after their values.
Files that do not match the pattern are ignored, as junk is in a folder of slices.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path
from typing import Any

from ngffkit.errors import InputError, NotFoundError, OptionError
from ngffkit.sources.base import SourceBase, SourceSpec, local_path
from ngffkit.sources.channels import StackedSource
from ngffkit.sources.slice_folder import slice_family
from ngffkit.sources.tiff_folder import TiffFolderSource

_TAG = re.compile(r"\{([^{}]*)\}")
_AXES = ("t", "c", "z")


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """The regular expression of ``pattern`` and the axes it tags, in the order given."""
    if "/" in pattern or os.sep in pattern:
        raise OptionError(
            "pattern", f"{pattern!r}: name files of the INPUT folder only (no folders)"
        )
    parts: list[str] = []
    tags: list[str] = []
    pos = 0
    for m in _TAG.finditer(pattern):
        parts.append(_literal(pattern[pos : m.start()]))
        name = m.group(1).strip().lower()
        if name not in _AXES:
            raise OptionError(
                "pattern",
                f"{pattern!r}: unknown tag {{{m.group(1)}}}; the tags are {{t}}, {{c}} and {{z}}",
            )
        if name in tags:
            raise OptionError("pattern", f"{pattern!r}: tag {{{name}}} appears twice")
        tags.append(name)
        parts.append(f"(?P<{name}>[^/]+?)")
        pos = m.end()
    parts.append(_literal(pattern[pos:]))
    if not tags:
        raise OptionError(
            "pattern",
            f"{pattern!r} has no tag; mark where the values sit with {{t}}, {{c}} and/or {{z}}, "
            "e.g. 'img_t{t}_c{c}_z{z}.tif'",
        )
    if "{" in "".join(_TAG.split(pattern)[::2]) or "}" in "".join(_TAG.split(pattern)[::2]):
        raise OptionError("pattern", f"{pattern!r}: an unmatched {{ or }}")
    return re.compile("".join(parts), re.IGNORECASE), tuple(tags)


def _literal(text: str) -> str:
    return ".*?".join(re.escape(piece) for piece in text.split("*"))


def _is_number(value: str) -> bool:
    return value.isdigit()


def _order(axis: str, values: set[str], allow_gaps: bool, where: str) -> list[str | None]:
    """The positions along ``axis``: its values by value; ``None`` where a number is missing
    from a numbered run (a gap: an error unless ``allow_gaps``)."""
    if not all(_is_number(v) for v in values):
        words: list[str | None] = [*sorted(values, key=str.lower)]
        return words
    by_number: dict[int, str] = {}
    for v in values:
        if int(v) in by_number:
            raise InputError(
                f"{where}: {axis} values {by_number[int(v)]!r} and {v!r} are the same number; "
                "name each one once"
            )
        by_number[int(v)] = v
    numbers = sorted(by_number)
    if axis == "c" or len(numbers) < 2:
        return [by_number[n] for n in numbers]
    step = math.gcd(*(b - a for a, b in itertools.pairwise(numbers)))
    run = range(numbers[0], numbers[-1] + 1, step)
    missing = [n for n in run if n not in by_number]
    if missing and not allow_gaps:
        shown = ", ".join(map(str, missing[:12])) + (" …" if len(missing) > 12 else "")
        raise InputError(
            f"{where}: {axis} runs from {numbers[0]} to {numbers[-1]} in steps of {step} but "
            f"{len(missing)} value(s) have no files ({axis} = {shown}). Add them, or pass "
            "[[allow_gaps=True]] to read them as the fill value."
        )
    return [by_number.get(n) for n in run]


class _ListedSlices(TiffFolderSource):
    """The z slices of one (t, c): a given list of files (``None``: a gap)."""

    def __init__(self, folder: Path, slots: list[Path | None], allow_gaps: bool) -> None:
        self.path = folder
        self.allow_gaps = allow_gaps
        self._take_slots(slots)


class PatternSource(StackedSource):
    """A folder's files as t,c,z by the tags of a file-name pattern."""

    def __init__(
        self, folder: str | os.PathLike[str], pattern: str, *, allow_gaps: bool = False
    ) -> None:
        self.path = local_path(folder)
        self.pattern = pattern
        self.allow_gaps = allow_gaps
        if not self.path.exists():
            raise NotFoundError(f"{self.path}: no such folder.")
        if not self.path.is_dir():
            raise InputError(
                f"{self.path}: [[pattern]] reads the files of a folder; give the folder that "
                "holds them."
            )
        regex, tags = compile_pattern(pattern)
        where = f"{self.path} (pattern {pattern})"
        found: dict[tuple[str, ...], Path] = {}
        names = sorted(os.listdir(self.path))
        for name in names:
            m = regex.fullmatch(name)
            if m is None or name.startswith("."):
                continue
            key = tuple(m.group(a) for a in tags)
            if key in found:
                raise InputError(
                    f"{where}: {found[key].name} and {name} give the same "
                    f"{', '.join(f'{a}={v}' for a, v in zip(tags, key, strict=True))}; "
                    "make the pattern tell them apart"
                )
            if slice_family(name) != "tiff":
                raise InputError(
                    f"{where}: {name} matches but is not a .tif/.tiff file; [[pattern]] reads "
                    "TIFF files only"
                )
            found[key] = self.path / name
        if not found:
            shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "") or "nothing"
            raise InputError(
                f"{where}: no file matches the pattern (the folder holds {shown}). Check the "
                "pattern against a file name: {t}, {c}, {z} mark the values, * matches anything."
            )
        values = {a: {k[i] for k in found} for i, a in enumerate(tags)}
        order = {a: _order(a, values[a], allow_gaps, where) for a in tags}
        lead: tuple[str, ...] = tuple(a for a in ("t", "c") if a in tags)
        has_z = "z" in tags
        missing: list[str] = []
        parts: list[SourceBase | None] = []
        opened: list[SourceBase] = []
        try:
            for lead_values in itertools.product(*(order[a] for a in lead)):
                at: dict[str, str | None] = dict(zip(lead, lead_values, strict=True))
                zs = order["z"] if has_z else [None]
                files: list[Path | None] = []
                for z in zs:
                    combo = {**at, "z": z} if has_z else at
                    key = tuple(combo[a] or "" for a in tags)
                    gap = any(combo[a] is None for a in tags)  # a number allowed to be missing
                    path = None if gap else found.get(key)
                    if path is None and not gap:
                        missing.append(_name(pattern, tags, combo))
                    files.append(path)
                if missing and not allow_gaps:
                    continue
                part: SourceBase | None = None
                if all(f is None for f in files):
                    part = None
                elif has_z:
                    part = _ListedSlices(self.path, files, allow_gaps)
                else:
                    from ngffkit.sources.tiff_file import TiffFileSource

                    assert files[0] is not None
                    part = TiffFileSource(files[0])
                if part is not None:
                    opened.append(part)
                parts.append(part)
            if missing and not allow_gaps:
                shown = ", ".join(missing[:8]) + (
                    f" … ({len(missing)} in all)" if len(missing) > 8 else ""
                )
                raise InputError(
                    f"{where}: {len(missing)} combination(s) of the values found have no file: "
                    f"{shown}. Add them, or pass [[allow_gaps=True]] to read them as the fill value."
                )
            super().__init__(
                "pattern",
                parts,
                lead,
                tuple(len(order[a]) for a in lead),
                names=[v for v in order["c"]] if "c" in order else (),
                describe=lambda i: self._describe_part(i, lead, order),
            )
        except BaseException:
            for part in opened:
                part.close()
            raise
        self.input_axes = f"files named {pattern} in {self.path}: " + "; ".join(
            f"{a} = {_values(order[a])}" for a in tags
        )

    def _describe_part(self, index: int, lead: tuple[str, ...], order: dict[str, Any]) -> str:
        values = list(itertools.product(*(order[a] for a in lead)))[index]
        return (
            f"{self.path} ("
            + ", ".join(f"{a}={v}" for a, v in zip(lead, values, strict=True))
            + ")"
        )

    def spec(self) -> SourceSpec:
        """Reopened by listing the folder again (the shape check catches a changed one)."""
        return SourceSpec(
            kind="pattern",
            path=str(self.path),
            pattern=self.pattern,
            allow_gaps=self.allow_gaps,
            shape=self.shape,
            dtype=self.dtype.str,
        )


def _values(values: list[str | None]) -> str:
    shown = [v if v is not None else "(gap)" for v in values]
    if len(shown) > 6:
        return f"{shown[0]} … {shown[-1]} ({len(shown)})"
    return ",".join(shown) + f" ({len(shown)})"


def _name(pattern: str, tags: tuple[str, ...], values: dict[str, Any]) -> str:
    """The file name a combination of values would have (``*`` left as it is)."""
    return _TAG.sub(lambda m: str(values[m.group(1).strip().lower()]), pattern)


def open_pattern(
    folder: str | os.PathLike[str], pattern: str, *, allow_gaps: bool = False
) -> PatternSource:
    """Open ``folder``'s files as t,c,z by ``pattern`` (see the module's docs)."""
    return PatternSource(folder, pattern, allow_gaps=allow_gaps)


__all__ = ["PatternSource", "compile_pattern", "open_pattern"]

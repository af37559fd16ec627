"""What every folder-of-slices source shares: discovery, ordering, gaps, lazy checks.

A folder holds one 2-D image per z. Files are ordered by the number in their name: the
*last* run of digits in the stem, compared as an integer (``z0001.tif``, ``slice_12.tiff``,
``07000.tif``, ``img-3.png``), so padding does not matter and the first number may be
anything. Without ``allow_gaps`` the numbers must be consecutive and z is the position in
that sequence; with it, a missing number reads as zeros and z is ``number - first number``.

Hidden files (``.DS_Store``, ``._x.tif``) and files with other suffixes (``notes.txt``,
``Thumbs.db``) are ignored. Slice shape and dtype are taken from the first slice when the
folder is opened, because a 10k-slice stack is too many headers to open for a dry run;
:meth:`SliceFolderSource.check_all` (run before anything is written) reads every header and
names the slices that differ from the majority. Every read checks its slice too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np

from ngffkit.error_mapping import os_error
from ngffkit.errors import InputError, NotFoundError
from ngffkit.sources._majority import majority, odd_ones
from ngffkit.sources.base import (
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    check_local_folder,
    spatial_slice_bytes,
)

#: Suffix -> family; one folder may hold one family only.
SLICE_SUFFIXES: dict[str, str] = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
}

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class SliceInfo:
    """One slice's header: shape ((c, y, x) or (y, x)), dtype and how it decodes."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    window_cheap: bool
    rows_per_block: int | None


def slice_family(name: str) -> str | None:
    """The family of a file named ``name`` ("tiff", "png", "jpeg"), None for others and
    hidden files."""
    if name.startswith("."):
        return None
    return SLICE_SUFFIXES.get(os.path.splitext(name)[1].lower())


def slice_files(folder: Path) -> dict[str, list[Path]]:
    """Image files of ``folder`` grouped by family ("tiff", "png", "jpeg"); junk ignored."""
    families: dict[str, list[Path]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            family = slice_family(entry.name)
            if family is not None and entry.is_file():
                families.setdefault(family, []).append(Path(entry.path))
    return families


def _ranges(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``, at most a dozen parts."""
    parts: list[str] = []
    run: list[int] = []
    for n in sorted(numbers):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [n]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    if len(parts) > 12:
        return ", ".join(parts[:12]) + f", … ({len(parts) - 12} more)"
    return ", ".join(parts)


_P = TypeVar("_P", bound=PurePath)


def order_slices(files: list[_P], *, allow_gaps: bool, where: str | None = None) -> list[_P | None]:
    """Return one entry per z (``None`` = missing slice, only with ``allow_gaps``).

    ``where`` names the folder in messages (default: the files' parent; a URL for remote
    folders, whose files are given as ``PurePosixPath(name)``).
    """
    if len(files) == 1:
        return list(files)
    numbered: dict[int, list[_P]] = {}
    unnumbered: list[str] = []
    for f in files:
        m = _LAST_NUMBER.search(f.stem)
        if m is None:
            unnumbered.append(f.name)
        else:
            numbered.setdefault(int(m.group(1)), []).append(f)
    folder = where or files[0].parent
    if unnumbered:
        raise InputError(
            f"{folder}: cannot order slices whose names hold no number: "
            f"{', '.join(sorted(unnumbered)[:5])}{' …' if len(unnumbered) > 5 else ''}. "
            "Every slice needs its z number in the name (e.g. z0001.tif); rename or move "
            "the others out of the folder."
        )
    dups = {n: fs for n, fs in numbered.items() if len(fs) > 1}
    if dups:
        shown = "; ".join(
            f"{n}: {', '.join(sorted(p.name for p in fs))}" for n, fs in sorted(dups.items())[:5]
        )
        raise InputError(
            f"{folder}: {len(dups)} slice number(s) appear in more than one file ({shown}). "
            "Each z needs exactly one file; remove the duplicates."
        )
    first, last = min(numbered), max(numbered)
    missing = set(range(first, last + 1)) - numbered.keys()
    if missing and not allow_gaps:
        if isinstance(files[0], Path):  # local: a look at what stands where a slice should
            _not_a_slice(files[0].parent, missing)
        raise InputError(
            f"{folder}: slice numbers {first}..{last} have {len(missing)} gap(s): missing "
            f"{_ranges(missing)}. Add the missing slices, or pass [[allow_gaps=True]] to "
            "read them as zeros."
        )
    if allow_gaps:
        return [numbered[n][0] if n in numbered else None for n in range(first, last + 1)]
    return [numbered[n][0] for n in sorted(numbered)]


def _not_a_slice(folder: Path, missing: set[int]) -> None:
    """Raise for an entry named like a missing slice that is not an image file (a folder,
    a broken link): it is what the user must fix, not a gap in the numbers."""
    with os.scandir(folder) as entries:
        for entry in entries:
            m = _LAST_NUMBER.search(os.path.splitext(entry.name)[0])
            suffix = os.path.splitext(entry.name)[1].lower()
            if m is None or int(m.group(1)) not in missing or suffix not in SLICE_SUFFIXES:
                continue
            if entry.is_file():
                continue
            what = (
                "a folder"
                if entry.is_dir()
                else f"a broken symbolic link (to {os.readlink(entry.path)})"
                if entry.is_symlink()
                else "not a regular file"
            )
            raise InputError(
                f"{entry.path} is named like slice {int(m.group(1))} but is "
                f"{what}; put the image file there, or move it out of the folder"
            )


def _header(header: tuple[tuple[int, ...], str]) -> str:
    shape, dtype = header
    return f"{'×'.join(map(str, shape))} {dtype}"


class SliceFolderSource(SourceBase):
    """A folder of 2-D slices, one per z; subclasses decode one file format."""

    kind: SourceKind
    #: Families of :data:`SLICE_SUFFIXES` this reader takes.
    families: frozenset[str]
    #: Exceptions the decoder raises for a corrupt or unreadable file.
    read_errors: tuple[type[BaseException], ...] = (OSError, ValueError)

    def __init__(self, path: str | os.PathLike[str], *, allow_gaps: bool = False) -> None:
        folder = Path(path).resolve()
        check_local_folder(folder, f"a folder of {self.kind} slices")
        self.path = folder
        self._setup(slice_files(folder), str(folder), allow_gaps)

    def _setup(self, families: dict[str, list[Any]], folder: str, allow_gaps: bool) -> None:
        """Order the slices of ``families`` (as :func:`slice_files` groups them) and read the
        first slice's header; ``folder`` names the folder in messages."""
        self.allow_gaps = allow_gaps
        if not families:
            raise InputError(
                f"{folder}: no image slices found (looked for "
                f"{', '.join(sorted(SLICE_SUFFIXES))}). Point to the folder that holds the slices."
            )
        if len(families) > 1:
            counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(families.items()))
            raise InputError(
                f"{folder}: slices of more than one format ({counts}). One stack must use "
                "one format; convert or move the odd files out."
            )
        ((family, files),) = families.items()
        if family not in self.families:
            raise InputError(
                f"{folder}: holds {family} files, but the {self.kind} reader takes "
                f"{'/'.join(sorted(self.families))}; drop input_format to detect it."
            )
        self._take_slots(order_slices(files, allow_gaps=allow_gaps, where=folder))

    def _take_slots(self, slots: list[Any]) -> None:
        """Use ``slots`` (one file per z, ``None`` for a gap) and read the first slice's
        header; also how other sources (``sources/pattern.py``) present a file list."""
        self.slots = slots
        z0, first = next((z, p) for z, p in enumerate(self.slots) if p is not None)
        info = self._guarded(z0, first, self._probe)
        self._slice_shape = info.shape
        self.dtype = info.dtype
        nz = len(self.slots)
        if len(info.shape) == 3:
            c, ny, nx = info.shape
            self.shape, self.axes = (c, nz, ny, nx), ("c", "z", "y", "x")
        else:
            ny, nx = info.shape
            self.shape, self.axes = (nz, ny, nx), ("z", "y", "x")
        names = [p.name for p in self.slots if p is not None]
        self.input_axes = (
            f"{len(names)} slices, z in file-number order ({names[0]} is z=0"
            + (f", {names[-1]} is z={nz - 1}" if nz > 1 else "")
            + f"), each {'c,' if len(info.shape) == 3 else ''}y,x"
        )
        self.cost = ReadCost(
            window_cheap=info.window_cheap,
            rows_per_block=info.rows_per_block,
            bytes_per_slice=spatial_slice_bytes(self.shape, self.axes, self.dtype),
        )

    # -- what subclasses implement -------------------------------------------------------
    def _probe(self, path: Path) -> SliceInfo:
        """Read ``path``'s header only."""
        raise NotImplementedError

    def _read_window(self, path: Path, z: int, ys: slice, xs: slice) -> np.ndarray[Any, Any]:
        """Return rows ``ys``, columns ``xs`` as (c, y, x) or (y, x).

        Must call :meth:`_check_slice` with the file's header before decoding.
        """
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    def _display(self, path: Any) -> str:
        """How a slice's file is named in messages (remote folders give its URL)."""
        return str(path)

    def _check_slice(
        self, z: int, path: Path, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> None:
        """Raise when a slice's header disagrees with the first slice's."""
        if shape != self._slice_shape or dtype != self.dtype:
            raise InputError(
                f"{self._display(path)} (z={z}) is {_header((shape, dtype.name))} but the stack's slices are "
                f"{_header((self._slice_shape, self.dtype.name))}. Every slice must match; "
                "re-export this one."
            )

    def _guarded(self, z: int, path: Path, fn: Any, *args: Any) -> Any:
        """Call ``fn(path, *args)``, turning decoder failures into an InputError naming z."""
        try:
            return fn(path, *args)
        except InputError:
            raise
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"{self._display(path)} (z={z}): the slice disappeared since the folder was listed."
            ) from exc
        except PermissionError as exc:
            raise os_error(exc, f"{path} (z={z})", "read") from exc
        except self.read_errors as exc:
            raise InputError(
                f"{self._display(path)} (z={z}): cannot read this slice ({type(exc).__name__}: {exc}). It is "
                "corrupt, truncated or not a supported image; replace it, or delete it and "
                "pass [[allow_gaps=True]] to read it as zeros."
            ) from exc

    def check_all(self) -> None:
        """Read every slice's header; raise for the first unreadable one, or name the slices
        whose shape or dtype differs from the majority's (not from the first slice's: an odd
        first slice must not make every good one look wrong)."""
        headers: list[tuple[str, tuple[tuple[int, ...], str]]] = []
        for z, path in enumerate(self.slots):
            if path is None:
                continue
            info: SliceInfo = self._guarded(z, path, self._probe)
            headers.append((f"{path.name} (z={z})", (info.shape, info.dtype.name)))
        message = odd_ones("slices", headers, _header)
        if message is None:
            return
        (shape, dtype), _, _ = majority(headers)
        self._slice_shape, self.dtype = shape, np.dtype(dtype)
        raise InputError(
            f"{self.path}: {message}. Every slice of a stack must have one shape "
            "and dtype; re-export the odd ones or move them out of the folder."
        )

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        has_c = self.axes[0] == "c"
        cs = box[0] if has_c else slice(None)
        zs, ys, xs = box[-3:]
        for i, z in enumerate(range(zs.start, zs.stop)):
            path = self.slots[z]
            if path is None:
                continue  # a gap: out is already zero
            win = self._guarded(z, path, self._read_window, z, ys, xs)
            if has_c:
                out[:, i] = win[cs]
            else:
                out[i] = win

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        return SourceSpec(
            kind=self.kind,
            path=str(self.path),
            allow_gaps=self.allow_gaps,
            shape=self.shape,
            dtype=self.dtype.str,
        )

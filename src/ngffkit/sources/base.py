"""The :class:`Source` protocol every input reader follows, and what the readers share.

A source is a read-only, lazily read N-D array (``z,y,x``; ``c,z,y,x`` for RGB(A) slices;
``t,c,z,y,x`` for OME-TIFF series or arrays that have those axes). The planner only ever
asks for boxes; what a box costs is described by :class:`ReadCost`. Sources are not
picklable: hand :meth:`Source.spec` to other processes and reopen it with
:func:`ngffkit.sources.open_source`.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, get_args, runtime_checkable
from urllib.parse import unquote, urlparse

import numpy as np

from ngffkit.errors import InputError, NotFoundError
from ngffkit.metadata.models import ChannelInfo
from ngffkit.metadata.units import udunits_length, unit_in_si

SourceKind = Literal[
    "tiff-folder",
    "image-folder",
    "tiff",
    "volume-grids",
    "zarr",
    "n5",
    "precomputed",
    "raw",
    "hdf5",
    "wkw",
    "channels",
    "pattern",
]

#: Every value :func:`open_source` accepts as ``input_format``.
SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)

Box = tuple[slice, ...]

#: A Vesuvius ``volume_grids`` cell file; here, not in ``volume_grids``, because detecting
#: the kind of an input must not import every reader.
CELL_NAME = re.compile(r"^cell_yxz_(\d+)_(\d+)_(\d+)\.tiff?$", re.IGNORECASE)


@dataclass(frozen=True)
class ReadCost:
    """Hints for the planner about what reading a box costs.

    ``window_cheap``: reading a y/x sub-window of one slice costs only that window
    (memory-mapped uncompressed or tiled TIFF, chunked arrays). When false, a read decodes
    at least ``rows_per_block`` full-width rows (or the whole slice when that is ``None``),
    so bricks should span the full width when the memory budget allows.
    ``rows_per_block``: decoding granularity in rows for strip-organised inputs
    (strip-compressed TIFF); ``None`` when not strip-organised.
    ``bytes_per_slice``: decoded bytes of one z slice, all channels (and t, c) included.
    """

    window_cheap: bool
    rows_per_block: int | None
    bytes_per_slice: int


@dataclass(frozen=True)
class SourceSpec:
    """A small, picklable, printable description from which a source is reopened.

    ``path`` is absolute. ``shape`` and ``dtype`` record what the source was when the spec
    was made; reopening checks them, so a worker never silently reads an input that
    changed underneath the run. ``raw_shape`` is in **x,y,z** order, as on the CLI.
    ``dataset`` is the path of the dataset inside an HDF5 file. ``parts``: the specs of
    the inputs a ``channels`` source stacks along c; ``pattern``: the file-name pattern of a
    ``pattern`` folder.
    """

    kind: SourceKind
    path: str
    allow_gaps: bool = False
    raw_shape: tuple[int, int, int] | None = None
    raw_dtype: str | None = None
    raw_order: Literal["C", "F"] = "C"
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    dataset: str | None = None
    parts: tuple[SourceSpec, ...] = ()
    pattern: str | None = None


@runtime_checkable
class Source(Protocol):
    """A lazily read, read-only array: the one thing ``convert`` needs from an input."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    axes: tuple[str, ...]
    voxel_size: dict[str, float] | None
    unit: str | None
    cost: ReadCost

    def read(self, box: Box) -> np.ndarray[Any, Any]:
        """Return the C-contiguous array of exactly ``box``'s shape (axes order)."""
        ...

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        ...

    def close(self) -> None:
        """Release files and handles; reading afterwards is undefined."""
        ...

    def __enter__(self) -> Source: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SourceBase:
    """Shared plumbing: box checking, context management, repr. Readers subclass it."""

    kind: SourceKind
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    axes: tuple[str, ...]
    voxel_size: dict[str, float] | None = None
    unit: str | None = None
    cost: ReadCost
    #: Which input dimension is which axis, and why (for --dry-run and the metadata), e.g.
    #: "n5 dimensions x,y,z (shape 50×40×30; N5 order, fastest first: no 'axes' attribute)".
    input_axes: str | None = None
    #: Physical position of the first voxel per space axis (an OME-Zarr input's
    #: translation), kept by a conversion; None when the input does not say.
    origin: dict[str, float] | None = None
    #: What the input says about its channels (names, colours), one per c; empty when it
    #: says nothing. The writer turns it into the ``omero`` block.
    channels: tuple[ChannelInfo, ...] = ()
    #: Time between time points and its unit (UDUNITS time name), when the input says.
    time_step: float | None = None
    time_unit: str | None = None

    def read(self, box: Box) -> np.ndarray[Any, Any]:
        """Return the C-contiguous array of exactly ``box``'s shape (axes order)."""
        checked = check_box(box, self.shape, self.axes)
        out = np.zeros(tuple(s.stop - s.start for s in checked), dtype=self.dtype)
        if out.size:
            self._read_into(checked, out)
        return out

    def read_into(self, box: Box, out: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """``read(box)`` into ``out`` (C-contiguous, ``box``'s shape, this dtype), which is
        cleared first: what the input lacks (a missing slice, a tile outside) reads as 0.
        A caller that reads brick after brick reuses one buffer instead of having fresh
        memory mapped and zeroed by the kernel for each."""
        checked = check_box(box, self.shape, self.axes)
        shape = tuple(s.stop - s.start for s in checked)
        if out.shape != shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous {self.dtype} array of shape {shape}")
        out.fill(0)
        if out.size:
            self._read_into(checked, out)
        return out

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        raise NotImplementedError

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        raise NotImplementedError

    def check_all(self) -> None:
        """Check every part of the input cheaply (headers only) and raise for the first bad one.

        Folder and grid sources, which check their files lazily while reading, override this
        so ``convert`` can fail before writing anything; single-file and array sources were
        fully checked when opened, so for them this does nothing.
        """

    def close(self) -> None:
        """Release files and handles (most readers hold none between reads)."""

    def __enter__(self) -> SourceBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, "
            f"axes={''.join(self.axes)}, spec={self.spec()!r})"
        )


def check_box(box: Box, shape: tuple[int, ...], axes: tuple[str, ...]) -> Box:
    """Validate ``box`` against ``shape``; return it with ``None`` bounds filled in."""
    if not isinstance(box, tuple) or len(box) != len(shape):
        raise InputError(
            f"A read box needs one slice per axis ({','.join(axes)}: {len(shape)} slices); "
            f"got {box!r}."
        )
    out: list[slice] = []
    for sl, n, ax in zip(box, shape, axes, strict=True):
        if not isinstance(sl, slice) or sl.step not in (None, 1):
            raise InputError(f"Axis {ax}: expected a start:stop slice with step 1, got {sl!r}.")
        start = 0 if sl.start is None else int(sl.start)
        stop = n if sl.stop is None else int(sl.stop)
        if not 0 <= start <= stop <= n:
            raise InputError(
                f"Axis {ax}: slice {start}:{stop} is outside the source's extent 0:{n}."
            )
        out.append(slice(start, stop))
    return tuple(out)


def box_text(box: Box, axes: tuple[str, ...]) -> str:
    """``"z 0:6, y 0:40, x 0:50"``: a box as people read it in messages."""
    return ", ".join(f"{a} {s.start}:{s.stop}" for a, s in zip(axes, box, strict=True))


def spatial_slice_bytes(shape: tuple[int, ...], axes: tuple[str, ...], dtype: np.dtype[Any]) -> int:
    """Decoded bytes of one z slice: every voxel of every non-z axis."""
    n = math.prod(s for s, a in zip(shape, axes, strict=True) if a != "z")
    return int(n * dtype.itemsize)


def check_local_file(path: Path, found_folder: str) -> None:
    """Refuse a missing ``path`` (NotFoundError) or one that is not a file (InputError:
    ``found_folder`` says what the input must be, e.g. "an HDF5 input must be a file")."""
    if not path.is_file():
        if not path.exists():
            raise NotFoundError(f"{path}: no such file.")
        raise InputError(f"{path}: {found_folder}, found a folder.")


def check_local_folder(path: Path, expected: str) -> None:
    """Refuse a missing ``path`` (NotFoundError) or one that is not a folder (InputError:
    ``expected`` names the folder wanted, e.g. "a volume_grids folder")."""
    if not path.is_dir():
        if not path.exists():
            raise NotFoundError(f"{path}: no such folder.")
        raise InputError(f"{path}: expected {expected}, found a file.")


def is_numeric(dtype: np.dtype[Any]) -> bool:
    """Whether voxels of ``dtype`` are numbers (bool, integers, floats) a volume can hold."""
    return dtype.kind in "biuf" and dtype.itemsize > 0


def check_reopened(spec: SourceSpec, src: SourceBase) -> None:
    """Raise when a reopened source no longer matches the shape/dtype its spec recorded."""
    if spec.shape is not None and tuple(spec.shape) != src.shape:
        raise InputError(
            f"{spec.path}: the input changed since it was opened: expected shape {spec.shape}, "
            f"found {src.shape}. Restart the conversion on the current input."
        )
    if spec.dtype is not None and np.dtype(spec.dtype) != src.dtype:
        raise InputError(
            f"{spec.path}: the input changed since it was opened: expected dtype {spec.dtype}, "
            f"found {src.dtype}. Restart the conversion on the current input."
        )


def one_unit(
    sizes: dict[str, tuple[float, str | None]],
) -> tuple[dict[str, float] | None, str | None]:
    """Bring per-axis ``(size, unit)`` pairs to one UDUNITS length unit (x's, if given).

    Returns ``(None, None)`` when a unit is unknown or not a length, because a wrong
    voxel size is worse than none.
    """
    if not sizes:
        return None, None
    units = {a: udunits_length(u) for a, (_, u) in sizes.items()}
    known = {a: u for a, u in units.items() if u is not None}
    if len(known) != len(units):
        return None, None
    target = known.get("x", next(iter(known.values())))
    if all(u == target for u in known.values()):
        return {a: float(v) for a, (v, _) in sizes.items()}, target
    metres = {u: unit_in_si(u) for u in known.values()}
    return {a: float(v) * metres[known[a]] / metres[target] for a, (v, _) in sizes.items()}, target  # type: ignore[operator]


def _conforms(src: SourceBase) -> Source:
    """Never called: makes mypy prove that every SourceBase satisfies :class:`Source`."""
    return src


def is_remote_url(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` is a URL that only tensorstore-readable inputs can come from."""
    value = os.fspath(text)
    return "://" in value and value.split("://", 1)[0].lower() in (
        "http",
        "https",
        "s3",
        "gs",
        "memory",
    )


def local_path(input: str | os.PathLike[str]) -> Path:
    """A local path from a path or ``file://`` URL; other URL schemes are refused."""
    text = os.fspath(input)
    if "://" in text:
        url = urlparse(text)
        if url.scheme != "file":
            raise InputError(
                f"{text}: {url.scheme}:// inputs are not supported; use a local path, a "
                "file:// URL, or (for Zarr, N5 and precomputed arrays) http(s)://, s3:// or gs://."
            )
        text = unquote(url.path)
    return Path(text).resolve()

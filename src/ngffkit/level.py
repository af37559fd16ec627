"""One resolution level of an image: read a region (numpy), pad, index, write.

A :class:`Level` is a Zarr array plus its place in physical space (scale, translation, and
how many level-0 voxels one of its voxels spans); :func:`ngffkit.image.open_image` makes
them. Data is read through tensorstore, opened on first use; a server that ignores HTTP
Range requests is read whole shard by whole shard (:class:`~ngffkit.arrays.ShardMirror`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ngffkit.arrays import ArrayInfo, ShardMirror, ignores_ranges, open_array
from ngffkit.errors import InputError, NgffWarning
from ngffkit.metadata import Axis
from ngffkit.storage import Location, default_options, mapped_errors, using

if TYPE_CHECKING:
    import tensorstore as ts

Region = tuple[slice, ...]


class Level:
    """One resolution level: a Zarr array plus its place in physical space.

    Made by :func:`open` (as ``image.levels``), not directly.

    Attributes:
        image_url: the URL of the image the level belongs to.
        index: its index in ``image.levels`` (0: full resolution).
        path: its key in the image group.
        location: where its array is.
        info: the array's stored metadata (shape, dtype, chunks, shards, codec).
        axes: the image's axes.
        scale: the physical size of one voxel, per axis.
        translation: the physical position of the first voxel's centre, per axis.
        factors: how many level-0 voxels one voxel of this level spans, per axis.
        writable: whether regions may be written (``open(url, mode="r+")``).
    """

    def __init__(
        self,
        image_url: str,
        index: int,
        path: str,
        location: Location,
        info: ArrayInfo,
        axes: tuple[Axis, ...],
        scale: tuple[float, ...],
        translation: tuple[float, ...],
        factors: tuple[float, ...],
        writable: bool = False,
    ) -> None:
        self.image_url = image_url
        self.index = index
        self.path = path
        self.location = location
        self.info = info
        self.axes = axes
        self.scale = scale
        """Physical size of one voxel per axis (top-level transform included)."""
        self.translation = translation
        """Physical position of the first voxel's centre per axis."""
        self.factors = factors
        """How many level-0 voxels one voxel of this level spans, per axis."""
        self.writable = writable
        self.storage = default_options()
        """How the level's store is reached: the options of the call that opened it (its
        ``storage_options=``), kept for the handles opened later, on first read."""
        self._store: ts.TensorStore | None = None
        self._mirror: ShardMirror | None = None
        self._uncached: ts.TensorStore | None = None

    # -- description ---------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.info.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.info.dtype

    @property
    def ndim(self) -> int:
        return len(self.info.shape)

    @property
    def chunks(self) -> tuple[int, ...]:
        return self.info.chunks

    @property
    def shards(self) -> tuple[int, ...] | None:
        return self.info.shards

    @property
    def compression(self) -> str:
        return self.info.compression

    @property
    def fill_value(self) -> Any:
        return self.info.fill_value

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def __repr__(self) -> str:
        return (
            f"Level({self.index}, path={self.path!r}, shape={self.shape}, dtype={self.dtype}, "
            f"chunks={self.chunks}, shards={self.shards})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_store"] = None  # reopened in the process that unpickles it
        state["_mirror"] = None
        state["_uncached"] = None
        return state

    # -- data ----------------------------------------------------------------------------

    @property
    def store(self) -> ts.TensorStore:
        """The tensorstore handle (opened on first use)."""
        if self._store is None:
            with using(self.storage):
                self._store = open_array(self.location, self.info, write=self.writable)
        return self._store

    def _read(self, index: Region) -> np.ndarray:
        """Read ``index`` (slices) as a C-ordered array, falling back to whole-shard reads
        when the server ignores Range requests."""
        with using(self.storage):
            return self._read_with(index)

    def _read_with(self, index: Region) -> np.ndarray:
        if self._mirror is not None:
            return self._mirror.read(index)
        store = self.store
        if not self.writable and self._is_large(index):
            # A read bigger than a quarter of the chunk cache would only churn it (measured:
            # a 512³ uint16 read over HTTP 1.5x slower through a 256 MiB cache).
            if self._uncached is None:
                self._uncached = open_array(self.location, self.info, cached=False)
            store = self._uncached
        with mapped_errors(self.location):
            try:
                return np.asarray(store[index].read(order="C").result())
            except Exception as exc:
                if self.info.shards is None or not ignores_ranges(exc):
                    raise
        warnings.warn(
            f"{self.location.display()}: the server ignores HTTP Range requests, so each "
            "read downloads every shard it touches whole (slower); serve the data with Range "
            "support (e.g. ngff serve) for partial reads",
            NgffWarning,
            stacklevel=4,
        )
        self._mirror = ShardMirror(self.location, self.info)
        return self._mirror.read(index)

    def _is_large(self, index: Region) -> bool:
        count = 1
        for sl, extent in zip(index, self.shape, strict=True):
            start, stop, step = sl.indices(extent)
            count *= max(0, -(-(stop - start) // step))
        return count * self.dtype.itemsize > default_options().cache_bytes // 4

    def _fill_array(self, shape: Sequence[int]) -> np.ndarray:
        fill = self.fill_value
        if fill is None or isinstance(fill, str):
            fill = np.nan if self.dtype.kind == "f" else 0
        return np.full(tuple(shape), fill, dtype=self.dtype)

    def region(
        self, offset: Sequence[int] | None = None, size: Sequence[int] | None = None
    ) -> Region:
        """The box ``offset .. offset+size`` as slices (defaults: the whole level)."""
        n = self.ndim
        off = tuple(int(o) for o in offset) if offset is not None else (0,) * n
        if size is None:
            size = tuple(s - o for s, o in zip(self.shape, off, strict=False))
        sz = tuple(int(s) for s in size)
        if len(off) != n or len(sz) != n:
            raise InputError(
                f"offset and size need {n} values ({', '.join(self.axis_names)}) for level "
                f"{self.index}, got {len(off)} and {len(sz)}"
            )
        if any(s < 0 for s in sz):
            raise InputError(f"size {sz} must not be negative")
        return tuple(slice(o, o + s) for o, s in zip(off, sz, strict=True))

    def read(
        self,
        offset: Sequence[int] | None = None,
        size: Sequence[int] | None = None,
        *,
        pad: bool = False,
    ) -> np.ndarray:
        """Read a box of this level (offset and size in this level's voxels, axis order).

        A box reaching past the level's bounds is an error unless ``pad=True``, which fills
        the outside with the fill value.
        """
        return self.read_region(self.region(offset, size), pad=pad)

    def read_region(self, region: Region, *, pad: bool = False) -> np.ndarray:
        inside = []
        for axis, (sl, extent) in enumerate(zip(region, self.shape, strict=True)):
            start, stop = int(sl.start), int(sl.stop)
            if (start < 0 or stop > extent) and not pad:
                raise InputError(
                    f"the region {start}:{stop} on axis {self.axis_names[axis]!r} is outside "
                    f"level {self.index} (extent 0:{extent}); pass pad=True to read the fill "
                    "value outside"
                )
            inside.append(slice(min(max(start, 0), extent), max(min(stop, extent), 0)))
        shape = [int(r.stop) - int(r.start) for r in region]
        with mapped_errors(self.location):
            if all(i.stop - i.start == s for i, s in zip(inside, shape, strict=True)):
                return self._read(tuple(inside))
            out = self._fill_array(shape)
            if all(i.stop > i.start for i in inside):
                data = self._read(tuple(inside))
                dest = tuple(
                    slice(i.start - int(r.start), i.stop - int(r.start))
                    for i, r in zip(inside, region, strict=True)
                )
                out[dest] = data
            return out

    def __getitem__(self, key: Any) -> np.ndarray:
        """numpy-style indexing: ints, slices (positive steps) and ``...``."""
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:at] + fill + key[at + 1 :]
        if len(key) > self.ndim:
            raise InputError(f"too many indices ({len(key)}) for a {self.ndim}-D level")
        key = key + (slice(None),) * (self.ndim - len(key))
        index: list[Any] = []
        squeeze: list[int] = []
        for axis, (k, extent) in enumerate(zip(key, self.shape, strict=True)):
            if isinstance(k, (int, np.integer)):
                i = int(k) + extent if k < 0 else int(k)
                if not 0 <= i < extent:
                    raise InputError(
                        f"index {k} is out of bounds for axis {self.axis_names[axis]!r} "
                        f"with extent {extent}"
                    )
                index.append(slice(i, i + 1))
                squeeze.append(axis)
            elif isinstance(k, slice):
                start, stop, step = k.indices(extent)
                if step < 1:
                    raise InputError("only positive slice steps are supported")
                stop = max(stop, start)
                index.append(slice(start, stop, step) if step != 1 else slice(start, stop))
            else:
                raise InputError(f"unsupported index {k!r}; use ints, slices or ...")
        with mapped_errors(self.location):
            data = self._read(tuple(index))
        return data.squeeze(axis=tuple(squeeze)) if squeeze else data

    def write(self, data: np.ndarray, offset: Sequence[int] | None = None) -> None:
        """Write ``data`` at ``offset`` (this level's voxels, axis order)."""
        if not self.writable:
            raise InputError(
                f"level {self.index} of {self.image_url} was opened read-only; "
                "open it with mode='r+' to write"
            )
        data = np.asarray(data)
        if data.ndim != self.ndim:
            raise InputError(
                f"data has {data.ndim} dimensions but level {self.index} has {self.ndim}"
            )
        region = self.region(offset, data.shape)
        for axis, (sl, extent) in enumerate(zip(region, self.shape, strict=True)):
            if sl.start < 0 or sl.stop > extent:
                raise InputError(
                    f"writing {sl.start}:{sl.stop} on axis {self.axis_names[axis]!r} would "
                    f"leave level {self.index} (extent 0:{extent})"
                )
        with mapped_errors(self.location):
            self.store[region].write(data.astype(self.dtype, copy=False)).result()


__all__ = ["Level", "Region"]

"""Open an OME-Zarr image anywhere and read (or write) regions of any level.

``open_image(url)`` (exported as ``ngffkit.open``) reads the group metadata of any 0.4 / 0.5
image — ours or another tool's, any axis order, any level path names — and returns an
:class:`Image` whose :class:`Level` objects read numpy regions through tensorstore.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ngffkit.arrays import ArrayInfo, ShardMirror, ignores_ranges, open_array, read_array_info
from ngffkit.errors import (
    InputError,
    MetadataError,
    NgffWarning,
    NotFoundError,
    PartialDatasetError,
)
from ngffkit.markers import PARTIAL_MARKER
from ngffkit.metadata import (
    Axis,
    Finding,
    ImageLabel,
    Multiscale,
    OmeAttributes,
    Omero,
    extract,
    parse,
)
from ngffkit.metadata.io import ome_namespace
from ngffkit.storage import (
    JsonDict,
    Location,
    StorageOptionsArg,
    accepts_storage_options,
    default_options,
    mapped_errors,
    resolve,
    using,
)

if TYPE_CHECKING:
    import tensorstore as ts

# Written when a dataset is started and removed when its group metadata is written last:
# its presence means "not finished" (see DESIGN.md §3.6).

Region = tuple[slice, ...]


def read_group_attrs(loc: Location) -> tuple[int, JsonDict] | None:
    """``(zarr_format, attributes)`` of the group at ``loc``, or None when there is none."""
    meta = loc.read_json("zarr.json")
    if meta is not None:
        if meta.get("node_type") == "array":
            raise MetadataError(
                f"{loc.describe()} is a Zarr array, not an OME-Zarr image group; "
                "open the group that contains it"
            )
        attrs = meta.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise MetadataError(f"{loc.describe('zarr.json')}: 'attributes' is not an object")
        return 3, attrs
    attrs_v2 = loc.read_json(".zattrs")
    if attrs_v2 is not None:
        return 2, attrs_v2
    if loc.read_json(".zgroup") is not None:
        return 2, {}
    if loc.read(".zarray") is not None:
        raise MetadataError(
            f"{loc.describe()} is a Zarr array, not an OME-Zarr image group; "
            "open the group that contains it"
        )
    return None


def _missing_group_error(loc: Location) -> Exception:
    if loc.read(PARTIAL_MARKER) is not None:
        return PartialDatasetError(
            f"{loc.describe()} is a partial dataset: it was started but never finished "
            "(no group metadata yet); rerun the command with --resume to finish it, "
            "or with --overwrite to start again"
        )
    local = loc.local_path
    if local is not None and not local.exists():
        return NotFoundError(f"{local} does not exist")
    loc.check_bucket()  # a missing bucket or refused access says so, not "no metadata"
    if loc.is_remote:
        return NotFoundError(
            f"{loc.describe('zarr.json')} was not found (nor .zattrs or .zgroup): there is no "
            f"OME-Zarr image at {loc.describe()}; check the URL"
        )
    return MetadataError(
        f"{loc.describe()} is not an OME-Zarr image: found neither zarr.json nor .zattrs there"
    )


class Level:
    """One resolution level: a Zarr array plus its place in physical space."""

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
            f"{self.location.describe()}: the server ignores HTTP Range requests, so each "
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


class Image:
    """A multiscale OME-Zarr image: its metadata and its levels, finest first."""

    def __init__(
        self,
        location: Location,
        zarr_format: int,
        attributes: OmeAttributes,
        levels: tuple[Level, ...],
        notes: tuple[Finding, ...] = (),
        labels: tuple[str, ...] = (),
        multiscale_index: int = 0,
    ) -> None:
        self.location = location
        self.zarr_format = zarr_format
        self.attributes = attributes
        self.levels = levels
        self.notes = notes
        """What was read leniently (each also emitted as an :class:`NgffWarning`)."""
        self.labels = labels
        """Names of the label images under ``labels/``."""
        self.multiscale_index = multiscale_index

    @property
    def url(self) -> str:
        return self.location.url

    @property
    def version(self) -> str:
        return self.attributes.version

    @property
    def multiscale(self) -> Multiscale:
        assert self.attributes.multiscales is not None
        return self.attributes.multiscales[self.multiscale_index]

    @property
    def name(self) -> str | None:
        return self.multiscale.name

    @property
    def axes(self) -> tuple[Axis, ...]:
        return self.multiscale.axes

    @property
    def axis_names(self) -> tuple[str, ...]:
        return self.multiscale.axis_names

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.levels[0].dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.levels[0].shape

    @property
    def omero(self) -> Omero | None:
        return self.attributes.omero

    @property
    def image_label(self) -> ImageLabel | None:
        return self.attributes.image_label

    @property
    def method(self) -> str | None:
        return self.multiscale.type

    @property
    def voxel_size(self) -> dict[str, float]:
        """Level 0's physical voxel size per space axis (in the axis's unit)."""
        level0 = self.levels[0]
        return {a.name: level0.scale[i] for i, a in enumerate(self.axes) if a.type == "space"}

    @property
    def units(self) -> dict[str, str | None]:
        return {a.name: a.unit for a in self.axes}

    def __repr__(self) -> str:
        return (
            f"Image({self.url!r}, version={self.version}, axes={''.join(self.axis_names)}, "
            f"shape={self.shape}, dtype={self.dtype}, levels={len(self.levels)})"
        )

    def read(
        self,
        level: int = 0,
        offset: Sequence[int] | None = None,
        size: Sequence[int] | None = None,
        *,
        absolute: bool = False,
        pad: bool = False,
    ) -> np.ndarray:
        """Read a box of ``level``.

        ``offset``/``size`` are in the level's own voxels, or — with ``absolute=True`` — in
        level-0 voxels (as WEBKNOSSOS's ``absolute_offset``): the box read is the smallest
        box of the level that covers that level-0 box.
        """
        lvl = self.level(level)
        if absolute and offset is not None:
            if size is None:
                raise InputError("absolute=True needs both offset and size")
            starts, sizes = [], []
            for o, s, f in zip(offset, size, lvl.factors, strict=True):
                first = math.floor(o / f)
                last = math.ceil((o + s) / f)
                starts.append(first)
                sizes.append(last - first)
            return lvl.read(starts, sizes, pad=pad)
        return lvl.read(offset, size, pad=pad)

    def level(self, index: int) -> Level:
        if not -len(self.levels) <= index < len(self.levels):
            raise InputError(
                f"level {index} does not exist; {self.url} has levels 0 to {len(self.levels) - 1}"
            )
        return self.levels[index]

    def add_labels(self, name: str, source: Any, **options: Any) -> Image:
        """Write ``source`` (a numpy array in this image's axis order, or anything
        :func:`ngffkit.convert` reads) as the label image ``labels/<name>`` and return it;
        ``options`` are :func:`ngffkit.add_labels`'s (``colors``, ``properties``,
        ``method``, ``dtype``, ``overwrite``…)."""
        from ngffkit.labels import add_labels

        result = add_labels(self, source, name=name, **options)
        if not isinstance(result, Image):
            raise InputError("Image.add_labels writes labels; use ngffkit.add_labels for a dry run")
        self.labels = tuple(open_image(self.location).labels)
        return result

    def label(self, name: str) -> Image:
        """Open the label image ``labels/<name>``."""
        if name not in self.labels:
            known = ", ".join(self.labels) or "none"
            raise InputError(f"{self.url} has no label image {name!r} (labels: {known})")
        storage = self.levels[0].storage if self.levels else None
        return open_image(self.location.child("labels", name), storage_options=storage)


@accepts_storage_options
def open_image(
    url: str | os.PathLike[str] | Location,
    *,
    mode: str = "r",
    multiscale: int = 0,
    storage_options: StorageOptionsArg = None,
) -> Image:
    """Open the OME-Zarr image at ``url`` (path, ``file://``, ``memory://``, ``http(s)://``,
    ``s3://``, ``gs://``).

    Non-compliant but readable metadata is read leniently; each fix is emitted as an
    :class:`~ngffkit.errors.NgffWarning` and kept in ``Image.notes``.
    """
    if mode not in ("r", "r+"):
        raise InputError(f"mode must be 'r' or 'r+', got {mode!r}")
    loc = resolve(url)
    found = read_group_attrs(loc)
    if found is None:
        raise _missing_group_error(loc)
    zarr_format, attrs = found
    _version, namespace, notes = extract(attrs, zarr_format, loc.describe())
    meta, fix_notes, derive_scale = parse(namespace, where=loc.describe())
    notes = notes + fix_notes
    if not meta.multiscales:
        raise MetadataError(_not_an_image_message(loc, meta, namespace))
    if not 0 <= multiscale < len(meta.multiscales):
        raise InputError(
            f"{loc.describe()} has {len(meta.multiscales)} multiscales; index {multiscale} "
            "does not exist"
        )
    ms = meta.multiscales[multiscale]
    levels = open_levels(loc, ms, derive_scale, writable=mode == "r+")
    for note in notes:
        warnings.warn(f"{loc.describe()}: {note}", NgffWarning, stacklevel=2)
    return Image(
        location=loc,
        zarr_format=zarr_format,
        attributes=meta,
        levels=levels,
        notes=tuple(notes),
        labels=_label_names(loc),
        multiscale_index=multiscale,
    )


def _not_an_image_message(loc: Location, meta: OmeAttributes, ns: JsonDict) -> str:
    if meta.labels is not None:
        return (
            f"{loc.describe()} is an OME-Zarr labels group, not an image; open one of its "
            f"label images: {', '.join(loc.child(n).describe() for n in meta.labels)}"
        )
    if "bioformats2raw.layout" in ns:
        return (
            f"{loc.describe()} is a bioformats2raw collection, not an image; open one of "
            f"its series, e.g. {loc.child('0').describe()}"
        )
    if "plate" in ns or "well" in ns:
        return f"{loc.describe()} is an OME-Zarr plate/well group, not an image"
    return f"{loc.describe()} has OME metadata but no multiscales: it is not an image"


def open_levels(
    loc: Location, ms: Multiscale, derive_scale: bool, *, writable: bool
) -> tuple[Level, ...]:
    infos: list[tuple[str, Location, ArrayInfo]] = []
    for i, dataset in enumerate(ms.datasets):
        child = loc.child(dataset.path)
        info = read_array_info(child)
        if info is None:
            raise MetadataError(
                f"level {i} of {loc.describe()} should be an array at {dataset.path!r}, but "
                f"there is none at {child.describe()}"
            )
        if info.ndim != len(ms.axes):
            raise MetadataError(
                f"level {i} ({child.describe()}) has {info.ndim} dimensions but the image has "
                f"{len(ms.axes)} axes ({', '.join(ms.axis_names)})"
            )
        infos.append((dataset.path, child, info))
    base_shape = infos[0][2].shape
    g_scale, g_trans = ms.global_scale(), ms.global_translation()
    scale0 = [s * g for s, g in zip(ms.datasets[0].scale, g_scale, strict=True)]
    levels = []
    for i, (dataset, (path, child, info)) in enumerate(zip(ms.datasets, infos, strict=True)):
        if derive_scale:
            raw_scale = tuple(b / s for b, s in zip(base_shape, info.shape, strict=True))
        else:
            raw_scale = dataset.scale
        scale = tuple(s * g for s, g in zip(raw_scale, g_scale, strict=True))
        translation = tuple(
            t * g + gt for t, g, gt in zip(dataset.translation, g_scale, g_trans, strict=True)
        )
        factors = tuple(s / s0 for s, s0 in zip(scale, scale0, strict=True))
        levels.append(
            Level(loc.url, i, path, child, info, ms.axes, scale, translation, factors, writable)
        )
    return tuple(levels)


def _label_names(loc: Location) -> tuple[str, ...]:
    labels_loc = loc.child("labels")
    try:
        found = read_group_attrs(labels_loc)
    except MetadataError:
        return ()
    if found is None:
        return ()
    zarr_format, attrs = found
    ns = ome_namespace(attrs, zarr_format)
    names = ns.get("labels") if isinstance(ns, dict) else None
    if not isinstance(names, list):
        return ()
    return tuple(str(n) for n in names)


__all__ = ["Image", "Level", "open_image", "open_levels", "read_group_attrs"]

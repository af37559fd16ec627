"""Open an OME-Zarr image anywhere: its group metadata, its levels, its labels.

``open_image(url)`` (exported as ``ngffkit.open``) reads the group metadata of any 0.4 / 0.5
image — ours or another tool's, any axis order, any level path names — and returns an
:class:`Image` whose :class:`~ngffkit.level.Level` objects read numpy regions through
tensorstore.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ngffkit.arrays import ArrayInfo, read_array_info
from ngffkit.errors import (
    InputError,
    MetadataError,
    NgffWarning,
    NotFoundError,
    PartialDatasetError,
)
from ngffkit.level import Level
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
    resolve,
)
from ngffkit.webknossos import dataset_layers


def read_group_attrs(loc: Location) -> tuple[int, JsonDict] | None:
    """``(zarr_format, attributes)`` of the group at ``loc``, or None when there is none."""
    meta = loc.read_json("zarr.json")
    if meta is not None:
        if meta.get("node_type") == "array":
            raise MetadataError(
                f"{loc.display()} is a Zarr array, not an OME-Zarr image group; "
                "open the group that contains it"
            )
        attrs = meta.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise MetadataError(f"{loc.display('zarr.json')}: 'attributes' is not an object")
        return 3, attrs
    attrs_v2 = loc.read_json(".zattrs")
    if attrs_v2 is not None:
        return 2, attrs_v2
    if loc.read_json(".zgroup") is not None:
        return 2, {}
    if loc.read(".zarray") is not None:
        raise MetadataError(
            f"{loc.display()} is a Zarr array, not an OME-Zarr image group; "
            "open the group that contains it"
        )
    return None


def _missing_group_error(loc: Location) -> Exception:
    if loc.read(PARTIAL_MARKER) is not None:
        return PartialDatasetError(
            f"{loc.display()} is a partial dataset: it was started but never finished "
            "(no group metadata yet); rerun the command with [[resume=True]] to finish it, "
            "or with [[overwrite=True]] to start again"
        )
    local = loc.local_path
    if local is not None and not local.exists():
        return NotFoundError(f"{local} does not exist")
    loc.check_bucket()  # a missing bucket or refused access says so, not "no metadata"
    if loc.is_remote:
        return NotFoundError(
            f"{loc.display('zarr.json')} was not found (nor .zattrs or .zgroup): there is no "
            f"OME-Zarr image at {loc.display()}; check the URL"
        )
    return MetadataError(
        f"{loc.display()} is not an OME-Zarr image: found neither zarr.json nor .zattrs there"
    )


class Image:
    """A multiscale OME-Zarr image: its metadata and its levels, finest first.

    Made by :func:`open` (and the functions that write images), not directly.

    Attributes:
        location: where the image group is.
        zarr_format: 3 for OME-Zarr 0.5, 2 for 0.4.
        attributes: the OME metadata as read.
        levels: the :class:`Level` objects, finest first.
        notes: what was read leniently (each also emitted as an :class:`NgffWarning`).
        labels: the names of the label images under ``labels/``.
        multiscale_index: which of the group's multiscales this is.
    """

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

    Parameters:
        url: the image group (a path, a URL or a ``Location``).
        mode: ``"r"`` to read, ``"r+"`` to also write regions of its levels.
        multiscale: which of the group's multiscales to open (most have one).
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The :class:`Image`.

    Raises:
        NotFoundError: there is nothing at ``url``.
        PartialDatasetError: the image was started but never finished.
        MetadataError: there is no OME-Zarr image at ``url``, or its metadata is unusable.
        StorageError: the store cannot be read.
    """
    if mode not in ("r", "r+"):
        raise InputError(f"mode must be 'r' or 'r+', got {mode!r}")
    loc = resolve(url)
    found = read_group_attrs(loc)
    if found is None:
        raise _webknossos_root_error(loc) or _missing_group_error(loc)
    zarr_format, attrs = found
    try:
        _version, namespace, notes = extract(attrs, zarr_format, loc.display())
    except MetadataError as exc:
        raise _webknossos_root_error(loc) or exc from None
    meta, fix_notes, derive_scale = parse(namespace, where=loc.display())
    notes = notes + fix_notes
    if not meta.multiscales:
        raise MetadataError(_not_an_image_message(loc, meta, namespace))
    if not 0 <= multiscale < len(meta.multiscales):
        raise InputError(
            f"{loc.display()} has {len(meta.multiscales)} multiscales; index {multiscale} "
            "does not exist"
        )
    ms = meta.multiscales[multiscale]
    levels = open_levels(loc, ms, derive_scale, writable=mode == "r+")
    for note in notes:
        warnings.warn(f"{loc.display()}: {note}", NgffWarning, stacklevel=2)
    return Image(
        location=loc,
        zarr_format=zarr_format,
        attributes=meta,
        levels=levels,
        notes=tuple(notes),
        labels=_label_names(loc),
        multiscale_index=multiscale,
    )


def _webknossos_root_error(loc: Location) -> MetadataError | None:
    """A WEBKNOSSOS dataset root is no image, but each of its layer folders is one."""
    layers = dataset_layers(loc)
    if not layers:
        return None
    return MetadataError(
        f"{loc.display()} is a WEBKNOSSOS dataset, not an image: each of its layers is one; "
        f"open a layer folder: {', '.join(loc.child(n).display() for n in layers)}"
    )


def _not_an_image_message(loc: Location, meta: OmeAttributes, ns: JsonDict) -> str:
    if meta.labels is not None:
        return (
            f"{loc.display()} is an OME-Zarr labels group, not an image; open one of its "
            f"label images: {', '.join(loc.child(n).display() for n in meta.labels)}"
        )
    if "bioformats2raw.layout" in ns:
        return (
            f"{loc.display()} is a bioformats2raw collection, not an image; open one of "
            f"its series, e.g. {loc.child('0').display()}"
        )
    if "plate" in ns or "well" in ns:
        return f"{loc.display()} is an OME-Zarr plate/well group, not an image"
    return f"{loc.display()} has OME metadata but no multiscales: it is not an image"


def open_levels(
    loc: Location, ms: Multiscale, derive_scale: bool, *, writable: bool
) -> tuple[Level, ...]:
    infos: list[tuple[str, Location, ArrayInfo]] = []
    for i, dataset in enumerate(ms.datasets):
        child = loc.child(dataset.path)
        info = read_array_info(child)
        if info is None:
            raise MetadataError(
                f"level {i} of {loc.display()} should be an array at {dataset.path!r}, but "
                f"there is none at {child.display()}"
            )
        if info.ndim != len(ms.axes):
            raise MetadataError(
                f"level {i} ({child.display()}) has {info.ndim} dimensions but the image has "
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


__all__ = ["Image", "open_image", "open_levels", "read_group_attrs"]

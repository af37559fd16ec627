"""Open our images in WEBKNOSSOS: a ``datasource-properties.json`` that points at them.

The layout: ``IMAGE/webknossos/datasource-properties.json``, a WEBKNOSSOS dataset folder
*inside* the image whose layers' mags point back at the image's levels (``../0``, ``../1``,
... and ``../labels/NAME/0`` ...). Why a folder of its own: when WEBKNOSSOS or its Python
library writes to a dataset it opened, it rewrites the dataset's root ``zarr.json`` as a
bare group and each layer folder's OME metadata. With the properties at the image's root,
that would erase our ``ome`` attributes; in ``webknossos/`` it rewrites only files of that
folder (``webknossos/zarr.json``, ``webknossos/<layer>/...``), never the image's.

What WEBKNOSSOS needs, checked here (refused with the reason) and by ``ngff validate``
(warned): x, y and z space axes (t, c optional; c is the layer's channels), a length unit,
power-of-two factors per axis from each level to the next, one voxel size for the image and
its labels, and no float64 (WEBKNOSSOS has no such layers). A translation of level 0 becomes
the layer's affine ``coordinateTransformations`` (in voxels); the bounding box is the
arrays' own extent from 0, where our arrays start.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Any

import numpy as np

from ngffkit.errors import InputError
from ngffkit.image import Image, open_image
from ngffkit.metadata.io import Finding
from ngffkit.storage import Location
from ngffkit.webknossos import PROPERTIES

FOLDER = "webknossos"
"""The dataset folder inside the image."""

# WEBKNOSSOS's layer types: color layers and segmentation layers (no float64 anywhere)
COLOR_DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32")
SEGMENTATION_DTYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
LENGTH_UNITS = (
    "yoctometer", "zeptometer", "attometer", "femtometer", "picometer", "nanometer",
    "micrometer", "millimeter", "centimeter", "decimeter", "meter", "hectometer",
    "kilometer", "megameter", "gigameter", "terameter", "petameter", "exameter",
    "zettameter", "yottameter", "angstrom", "inch", "foot", "yard", "mile", "parsec",
)  # fmt: skip


NO_UNIT = "a space axis has no unit (WEBKNOSSOS assumes nanometer)"


def problems(image: Image, *, labels: bool = True, segmentation: bool | None = None) -> list[str]:
    """What keeps WEBKNOSSOS from opening ``image`` (and its labels) as a dataset; empty
    when nothing does. The rules of WEBKNOSSOS's explore of OME-Zarr, in one place.
    ``segmentation``: whether it becomes a segmentation layer (default: when it is an
    OME label image)."""
    found = []
    names = image.axis_names
    kinds = {a.name: a.type for a in image.axes}
    if any(kinds.get(a) != "space" for a in "xyz"):
        found.append(f"axes {','.join(names)}: WEBKNOSSOS needs space axes x, y and z")
    for axis in image.axes:
        if axis.type is None:
            found.append(f"axis {axis.name} has no type")
        elif axis.type not in ("space", "channel", "time"):
            found.append(f"axis {axis.name} is of type {axis.type!r}")
        if axis.type == "space" and axis.unit is not None and axis.unit not in LENGTH_UNITS:
            found.append(f"axis {axis.name}'s unit {axis.unit!r} is no length unit")
    if any(a.type == "space" and a.unit is None for a in image.axes):
        found.append(NO_UNIT)
    if len({a.unit for a in image.axes if a.type == "space"}) > 1:
        found.append("the space axes have different units")
    if segmentation is None:
        segmentation = image.image_label is not None
    allowed = SEGMENTATION_DTYPES if segmentation else COLOR_DTYPES
    if image.dtype.name not in allowed:
        found.append(f"dtype {image.dtype.name}: WEBKNOSSOS layers are {', '.join(allowed)}")
    try:
        mags(image)
    except InputError as exc:
        found.append(str(exc))
    if labels:
        for name in image.labels:
            label = image.label(name)
            if label.voxel_size != image.voxel_size:
                found.append(f"label image {name} has another voxel size than the image")
            found += [f"label image {name}: {p}" for p in problems(label, labels=False)]
    return found


def findings(loc: Location, *, always: bool = False) -> list[Finding]:
    """:func:`problems` as validation warnings, for an image that has a ``webknossos/``
    dataset folder (or any image, with ``always``)."""
    if not always and loc.child(FOLDER).read(PROPERTIES) is None:
        return []
    found = problems(open_image(loc))
    return [Finding("", f"WEBKNOSSOS: {p}", "warning") for p in found]


def mags(image: Image) -> list[tuple[int, int, int]]:
    """Each level's factor (x, y, z) over level 0: whole powers of two, or InputError."""
    out = []
    names = image.axis_names
    for level in image.levels:
        f0 = image.levels[0].factors
        factor = []
        for a in "xyz":
            if a not in names:
                continue
            value = level.factors[names.index(a)] / f0[names.index(a)]
            n = round(value)
            if abs(value - n) > 1e-6 or n < 1 or n & (n - 1):
                raise InputError(
                    f"level {level.index} is {value:g}× level 0 on {a}; WEBKNOSSOS needs "
                    "power-of-two factors per axis"
                )
            factor.append(n)
        out.append(tuple(factor))
    steps = itertools.pairwise(out)
    if any(any(c < f for f, c in zip(fine, coarse, strict=True)) for fine, coarse in steps):
        raise InputError("the levels do not grow coarser on every axis; WEBKNOSSOS needs that")
    return out  # type: ignore[return-value]


def write_properties(image: str | os.PathLike[str] | Image) -> Location:
    """Write ``IMAGE/webknossos/datasource-properties.json`` (replacing an earlier one) so
    that WEBKNOSSOS opens ``image`` with its labels; return the dataset folder.

    Raises:
        InputError: the image breaks a rule of WEBKNOSSOS (named; see :func:`problems`).
    """
    img = image if isinstance(image, Image) else open_image(image)
    # a missing unit is only a warning (of validate): the properties say nanometer
    found = [p for p in problems(img) if not p.endswith(NO_UNIT)]
    if found:
        raise InputError(
            f"{img.location.display()}: WEBKNOSSOS cannot open this image: " + "; ".join(found)
        )
    unit = next(a.unit for a in img.axes if a.type == "space") or "nanometer"
    voxel = [img.levels[0].scale[img.axis_names.index(a)] for a in "xyz"]
    layers = [layer(img, img.name or img.location.name, "..", "color", voxel)]
    for name in img.labels:
        layers.append(layer(img.label(name), name, f"../labels/{name}", "segmentation", voxel))
    doc: dict[str, Any] = {
        "id": {"name": img.name or img.location.name, "team": ""},
        "scale": {"factor": voxel, "unit": unit},
        "dataLayers": layers,
        "version": 1,
    }
    folder = img.location.child(FOLDER)
    folder.write_json(PROPERTIES, doc)
    return folder


def layer(img: Image, name: str, path: str, category: str, voxel: list[float]) -> dict[str, Any]:
    """The ``dataLayers`` entry of ``img``: its levels at ``path/<level>`` as mags of a
    dataset whose voxel (x, y, z) is ``voxel``; ``img``'s own voxel must be a power-of-two
    multiple of it per axis (its finest mag is then coarser than 1)."""
    names = img.axis_names
    level0 = img.levels[0]
    channels = level0.shape[names.index("c")] if "c" in names else 1
    order = {a: names.index(a) for a in ("c", "x", "y", "z") if a in names}
    ratio = voxel_ratio(img, voxel)
    shape = {a: level0.shape[names.index(a)] * r for a, r in zip("xyz", ratio, strict=True)}
    dtype = img.dtype.name
    bits = np.dtype(dtype).itemsize * 8 * channels
    element = "float" if dtype == "float32" else f"{dtype.rstrip('0123456789')}{bits}"
    entry: dict[str, Any] = {
        "name": name,
        "category": category,
        "boundingBox": {
            "topLeft": [0, 0, 0],
            "width": shape["x"],
            "height": shape["y"],
            "depth": shape["z"],
        },
        "dataFormat": "zarr3" if img.zarr_format == 3 else "zarr",
        "mags": [
            {
                "mag": [f * r for f, r in zip(m, ratio, strict=True)],
                "path": f"{path}/{level.path}",
                "axisOrder": order,
            }
            for m, level in zip(mags(img), img.levels, strict=True)
        ],
        "numChannels": channels,
        "elementClass": element,
    }
    if "t" in names:
        entry["additionalAxes"] = [
            {"name": "t", "bounds": [0, level0.shape[names.index("t")]], "index": names.index("t")}
        ]
    shift = [level0.translation[names.index(a)] / v for a, v in zip("xyz", voxel, strict=True)]
    if any(abs(s) > 1e-9 for s in shift):
        # the first voxel's position in voxels: the layer's affine (rows x, y, z)
        entry["coordinateTransformations"] = [
            {
                "type": "affine",
                "matrix": [
                    [1, 0, 0, shift[0]],
                    [0, 1, 0, shift[1]],
                    [0, 0, 1, shift[2]],
                    [0, 0, 0, 1],
                ],
            }
        ]
    if category == "segmentation":
        entry["largestSegmentId"] = largest_segment_id(img)
    return entry


def voxel_ratio(img: Image, voxel: list[float]) -> tuple[int, int, int]:
    """``img``'s voxel (x, y, z) over ``voxel``: whole powers of two, or InputError."""
    names = img.axis_names
    out = []
    for a, v in zip("xyz", voxel, strict=True):
        value = img.levels[0].scale[names.index(a)] / v
        n = round(value)
        if abs(value - n) > 1e-6 * value or n < 1 or n & (n - 1):
            raise InputError(
                f"{img.location.display()}: its voxel size on {a} is {value:g}× the dataset's; "
                "WEBKNOSSOS layers of one dataset differ by power-of-two factors per axis"
            )
        out.append(n)
    return out[0], out[1], out[2]


def largest_segment_id(label: Image, slab_bytes: int = 256 * 2**20) -> int:
    """The largest label value: from the metadata ngffkit writes (``label_values``), else
    read from level 0 in slabs along its first axis."""
    record = (label.multiscale.metadata or {}).get("label_values")
    if isinstance(record, dict) and isinstance(record.get("max"), int):
        return int(record["max"])
    level = label.levels[0]
    row = max(1, math.prod(level.shape[1:]) * level.dtype.itemsize)
    step = max(1, slab_bytes // row)
    top = 0
    for lo in range(0, level.shape[0], step):
        size = [min(step, level.shape[0] - lo), *level.shape[1:]]
        data = level.read([lo] + [0] * (level.ndim - 1), size)
        if data.size:
            top = max(top, int(data.max()))
    return top


__all__ = [
    "FOLDER",
    "largest_segment_id",
    "layer",
    "mags",
    "problems",
    "voxel_ratio",
    "write_properties",
]

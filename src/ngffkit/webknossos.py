"""What a WEBKNOSSOS dataset says outside its OME metadata, from ``datasource-properties.json``.

A WEBKNOSSOS dataset is a folder of layers (each an OME-Zarr image with axes ``c,x,y,z``)
beside a ``datasource-properties.json`` that lists them with their true bounding boxes: the
arrays themselves are padded to whole shards, so their shapes overstate the data. Two uses:

- :func:`dataset_layers`: the layer folders of a dataset root, so that opening the root
  can say which folders to open instead;
- :func:`layer_bounds`: a layer's true extent per axis (in its mag-1 voxels), so that
  ``ngff view`` centres on the data, not on the padding;
- :func:`read_dataset`: the whole description (voxel size, layers, their mags), for
  ``ngff convert WK_DATASET`` (``wk_import.py``).

Reads only that one small JSON file; anything malformed is treated as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ngffkit.errors import InputError, NgffkitError
from ngffkit.storage import Location

PROPERTIES = "datasource-properties.json"


def _properties(loc: Location) -> dict[str, Any] | None:
    try:
        doc = loc.read_json(PROPERTIES)
    except (NgffkitError, OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def dataset_layers(root: Location) -> list[str] | None:
    """The layer names a WEBKNOSSOS dataset root lists (None: not such a root)."""
    doc = _properties(root)
    if doc is None or not isinstance(doc.get("dataLayers"), list):
        return None
    return [
        str(layer["name"])
        for layer in doc["dataLayers"]
        if isinstance(layer, dict) and isinstance(layer.get("name"), str)
    ]


def layer_bounds(layer: Location) -> dict[str, tuple[int, int]] | None:
    """The true extent of a layer, ``{"x": (start, stop), "y": …, "z": …}`` in mag-1 voxels,
    from the dataset's properties one folder up (None when there are none)."""
    doc = _properties(layer.parent())
    if doc is None:
        return None
    for entry in doc.get("dataLayers") or ():
        if not isinstance(entry, dict) or entry.get("name") != layer.name:
            continue
        box: Any = entry.get("boundingBox")
        try:
            x, y, z = (int(v) for v in box["topLeft"])
            sizes = (int(box["width"]), int(box["height"]), int(box["depth"]))
        except (KeyError, TypeError, ValueError):
            return None
        return {
            name: (start, start + size)
            for name, start, size in zip("xyz", (x, y, z), sizes, strict=True)
        }
    return None


@dataclass(frozen=True)
class WkMag:
    """One stored resolution: its factor per axis (x, y, z) and where its array is."""

    mag: tuple[int, int, int]
    location: Location


@dataclass(frozen=True)
class WkLayer:
    """One entry of ``dataLayers``; ``top_left`` and ``size`` in mag-1 voxels, x,y,z."""

    name: str
    category: str  # "color" | "segmentation"
    data_format: str  # "zarr" | "zarr3" | "wkw" | ...
    top_left: tuple[int, int, int]
    size: tuple[int, int, int]
    mags: tuple[WkMag, ...]  # finest first
    largest_segment_id: int | None


@dataclass(frozen=True)
class WkDataset:
    root: Location
    voxel_size: tuple[float, float, float]  # x, y, z
    unit: str
    layers: tuple[WkLayer, ...]


def is_dataset(root: Location) -> bool:
    """Whether ``root`` holds a ``datasource-properties.json`` (a WEBKNOSSOS dataset)."""
    return root.read(PROPERTIES) is not None


def read_dataset(root: Location) -> WkDataset:
    """The dataset described by ``root/datasource-properties.json``; InputError naming the
    key at fault when something needed is missing or malformed."""
    where = f"{root.child(PROPERTIES).display()}"
    doc = _properties(root)
    if doc is None:
        raise InputError(f"{where}: not found or not a JSON object")
    try:
        scale = doc["scale"]
        factor = scale["factor"] if isinstance(scale, dict) else scale
        voxel = tuple(float(v) for v in factor)
        unit = str(scale.get("unit", "nanometer")) if isinstance(scale, dict) else "nanometer"
        if len(voxel) != 3:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where}: 'scale' must hold 'factor', three numbers (x, y, z)") from None
    layers = []
    for i, entry in enumerate(doc.get("dataLayers") or ()):
        layers.append(_layer(root, entry, f"{where}: dataLayers[{i}]"))
    if not layers:
        raise InputError(f"{where}: 'dataLayers' lists no layer")
    return WkDataset(root, voxel, unit, tuple(layers))


def _layer(root: Location, entry: Any, where: str) -> WkLayer:
    try:
        name = str(entry["name"])
        box = entry["boundingBox"]
        top_left = tuple(int(v) for v in box["topLeft"])
        size = (int(box["width"]), int(box["height"]), int(box["depth"]))
        mags = []
        for m in entry.get("mags") or entry.get("wkwResolutions") or ():
            mag = m.get("mag", m.get("resolution"))
            factor = (int(mag),) * 3 if isinstance(mag, int | float) else tuple(int(v) for v in mag)
            path = m.get("path")
            mags.append(WkMag(factor, _mag_location(root, name, factor, path)))  # type: ignore[arg-type]
        largest = entry.get("largestSegmentId")
        category = str(entry.get("category", "color"))
        data_format = str(entry.get("dataFormat", "wkw"))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(
            f"{where}: needs 'name', 'boundingBox' (topLeft, width, height, depth) and 'mags'"
        ) from None
    if len(top_left) != 3 or not mags:
        raise InputError(f"{where} ({name}): a 3-number topLeft and at least one mag are needed")
    mags.sort(key=lambda m: (max(m.mag), m.mag))
    return WkLayer(
        name,
        category,
        data_format,
        top_left,
        size,
        tuple(mags),
        int(largest) if isinstance(largest, int | float) else None,
    )


def _mag_location(root: Location, layer: str, mag: tuple[int, ...], path: Any) -> Location:
    """Where a mag's array is: its ``path`` (relative to the dataset, absolute, or a URL),
    else ``LAYER/2-2-1`` or, for an isotropic mag, ``LAYER/2`` (WEBKNOSSOS's short name)."""
    from ngffkit.storage import resolve

    if isinstance(path, str) and path:
        if "://" in path or path.startswith("/"):
            return resolve(path)
        parts = [p for p in path.split("/") if p not in ("", ".")]
        loc = root
        for part in parts:
            loc = loc.parent() if part == ".." else loc.child(part)
        return loc
    long = "-".join(str(v) for v in mag)
    short = str(mag[0]) if len(set(mag)) == 1 else long
    layer_loc = root.child(layer)
    if short != long and layer_loc.child(short).exists():
        return layer_loc.child(short)
    return layer_loc.child(long)


__all__ = [
    "PROPERTIES",
    "WkDataset",
    "WkLayer",
    "WkMag",
    "dataset_layers",
    "is_dataset",
    "layer_bounds",
    "read_dataset",
]

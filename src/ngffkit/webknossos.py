"""What a WEBKNOSSOS dataset says outside its OME metadata, from ``datasource-properties.json``.

A WEBKNOSSOS dataset is a folder of layers (each an OME-Zarr image with axes ``c,x,y,z``)
beside a ``datasource-properties.json`` that lists them with their true bounding boxes: the
arrays themselves are padded to whole shards, so their shapes overstate the data. Two uses:

- :func:`dataset_layers`: the layer folders of a dataset root, so that opening the root
  can say which folders to open instead;
- :func:`layer_bounds`: a layer's true extent per axis (in its mag-1 voxels), so that
  ``ngff view`` centres on the data, not on the padding.

Reads only that one small JSON file; anything malformed is treated as absent.
"""

from __future__ import annotations

from typing import Any

from ngffkit.errors import NgffkitError
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


__all__ = ["PROPERTIES", "dataset_layers", "layer_bounds"]

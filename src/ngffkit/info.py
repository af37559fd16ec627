"""What ``ngff info`` shows, as plain data: format, axes, voxel size, levels, sizes, labels."""

from __future__ import annotations

import os
import warnings
from typing import Any

from ngffkit.errors import NgffWarning, PartialDatasetError
from ngffkit.image import Image, open_image
from ngffkit.markers import PARTIAL_MARKER
from ngffkit.metadata.io import recommendations
from ngffkit.storage import Location, StorageOptionsArg, accepts_storage_options, resolve


def _level_sizes(image: Image) -> dict[str, int] | None:
    listed = image.location.list_sizes()
    if listed is None:
        return None
    sizes: dict[str, int] = {level.path: 0 for level in image.levels}
    # Longest paths first, so that a level path that prefixes another is not double counted.
    ordered = sorted(sizes, key=len, reverse=True)
    for key, size in listed.items():
        for path in ordered:
            if key.startswith(path + "/"):
                sizes[path] += size
                break
    return sizes


@accepts_storage_options
def describe(
    url: str | os.PathLike[str] | Location,
    *,
    storage_options: StorageOptionsArg = None,
) -> dict[str, Any]:
    """A JSON-ready description of the image at ``url`` (see ``ngff info --json``); of a
    collection (the RFC-8 draft), its tree and members, with ``"kind": "collection"``.

    A partial dataset (started, never finished) is described from its partial marker with
    ``"status": "partial"`` instead of raising.

    Parameters:
        url: the image (a path, a URL or a ``Location``).
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        A dict of plain JSON values: version, axes, levels, voxel size, labels, notes.

    Raises:
        NotFoundError, StorageError: the image cannot be read.
        MetadataError: it is not an OME-Zarr image.
    """
    from ngffkit._collection import is_collection

    if is_collection(url):  # the RFC-8 draft: a tree of images, described as such
        from ngffkit.collection_check import describe_collection

        return describe_collection(url)
    loc = resolve(url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NgffWarning)
        try:
            image = open_image(loc)
        except PartialDatasetError as exc:
            return _describe_partial(loc, str(exc))
    sizes = _level_sizes(image)
    levels = []
    for level in image.levels:
        stored = sizes.get(level.path) if sizes is not None else None
        levels.append(
            {
                "path": level.path,
                "shape": list(level.shape),
                "chunks": list(level.chunks),
                "shards": list(level.shards) if level.shards else None,
                "dtype": level.dtype.name,
                "compression": level.compression,
                "fill_value": level.fill_value,
                "scale": list(level.scale),
                "translation": list(level.translation),
                "bytes": level.info.nbytes,
                "stored_bytes": stored,
                "ratio": (level.info.nbytes / stored) if stored else None,
            }
        )
    labels = []
    for name in image.labels:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NgffWarning)
                label = image.label(name)
            labels.append(
                {
                    "name": name,
                    "levels": len(label.levels),
                    "dtype": label.dtype.name,
                    "shape": list(label.shape),
                    "values": label_values(label),
                    "colors": len(label.image_label.colors or ()) if label.image_label else 0,
                }
            )
        except Exception as exc:  # a broken label must not hide the image
            labels.append({"name": name, "error": str(exc)})
    omero = image.omero
    return {
        "url": image.url,
        "status": "complete",
        "format": f"OME-Zarr {image.version} (Zarr v{image.zarr_format})",
        "version": image.version,
        "zarr_format": image.zarr_format,
        "name": image.name,
        "method": image.method,
        "axes": [a.model_dump(exclude_none=True) for a in image.axes],
        "voxel_size": image.voxel_size,
        "dtype": image.dtype.name,
        "levels": levels,
        "total_bytes": sum(lv["bytes"] for lv in levels),
        "stored_bytes": sum(sizes.values()) if sizes is not None else None,
        "labels": labels,
        # level 0's translation: where a region (--ranges) of a larger volume sits
        "origin": dict(zip(image.axis_names, image.levels[0].translation, strict=True)),
        # what ngffkit recorded of the input: its axis order and any value-changing cast
        "input_axes": (image.multiscale.metadata or {}).get("input_axes"),
        "cast": (image.multiscale.metadata or {}).get("cast"),
        "channels": [c.label for c in omero.channels] if omero else [],
        "notes": [str(n) for n in image.notes]
        + [str(f) for f in recommendations(image.attributes) if f.where.endswith(".axes")]
        + [str(w.message) for w in caught if not issubclass(w.category, NgffWarning)],
    }


def _describe_partial(loc: Location, message: str) -> dict[str, Any]:
    marker = loc.read_json(PARTIAL_MARKER) or {}
    spec = marker.get("spec") or {}
    sizes = loc.list_sizes()
    return {
        "url": loc.url,
        "status": "partial",
        "message": message,
        "started": marker.get("started"),
        "format": f"OME-Zarr {spec.get('version', '?')} (unfinished)",
        "version": spec.get("version"),
        "levels": [
            {
                "path": lv.get("path"),
                "shape": lv.get("shape"),
                "chunks": lv.get("chunks"),
                "shards": lv.get("shards"),
            }
            for lv in spec.get("levels", [])
        ],
        "stored_bytes": sum(sizes.values()) if sizes is not None else None,
    }


def label_values(label: Image) -> dict[str, Any] | None:
    """A label image's value range as recorded when it was written (``ngff labels add``
    keeps ``min``, ``max`` and ``count`` in its multiscale's metadata); None when it was not
    (info reads no chunks: measuring would read the data)."""
    recorded = (label.multiscale.metadata or {}).get("label_values")
    if isinstance(recorded, dict) and {"min", "max"} <= set(recorded):
        return {k: recorded.get(k) for k in ("min", "max", "count")}
    return None


__all__ = ["describe", "label_values"]

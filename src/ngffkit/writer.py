"""Writing a new OME-Zarr image in the order that keeps an unfinished one from looking finished.

The layout comes from :class:`ngffkit.spec.ImageSpec`; writing is three steps:

1. :func:`create_image` writes a partial marker and the (empty) level arrays;
2. the caller fills regions of the levels;
3. :func:`finish_image` writes the OME group metadata last and removes the marker,
   so a dataset that was not finished never looks finished.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ngffkit._output import claim_output
from ngffkit.arrays import create_array
from ngffkit.image import Image, open_image, open_levels, read_group_attrs
from ngffkit.markers import PARTIAL_MARKER
from ngffkit.metadata import dump
from ngffkit.metadata.io import group_files, labels_attributes, zarr_format_of
from ngffkit.spec import ImageSpec
from ngffkit.storage import Location, resolve


def create_image(
    url: str | os.PathLike[str] | Location,
    spec: ImageSpec,
    *,
    overwrite: bool = False,
    note: Mapping[str, Any] | None = None,
) -> Image:
    """Create the image's level arrays (empty) and a partial marker; return it writable.

    Call :func:`finish_image` once the data is written; until then ``ngff info`` and
    ``ngff validate`` report the dataset as partial.

    Parameters:
        url: where the image goes (a path, a URL or a ``Location``).
        spec: the image's layout (:func:`pyramid_spec` makes one).
        overwrite: replace what is at ``url`` (only what is clearly ours to replace).
        note: extra entries for the partial marker (what made the dataset).

    Returns:
        The :class:`Image`, writable, without group metadata yet.

    Raises:
        ConflictError: ``url`` holds data and ``overwrite`` was not given.
        StorageError: the store cannot be written.
    """
    loc = resolve(url)
    claim_output(loc, overwrite)
    marker = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "spec": spec.model_dump(mode="json")}
    if note:
        marker.update(note)
    loc.write(PARTIAL_MARKER, json.dumps(marker, indent=2).encode())
    for level in spec.levels:
        create_array(loc.child(level.path), spec.array_layout(level))
    return open_partial(loc, spec)


def open_partial(url: str | os.PathLike[str] | Location, spec: ImageSpec) -> Image:
    """Open an image whose group metadata is not written yet (for writing its levels)."""
    loc = resolve(url)
    attrs = spec.attributes()
    levels = open_levels(loc, spec.multiscale(), False, writable=True)
    return Image(loc, spec.zarr_format, attrs, levels)


def finish_image(url: str | os.PathLike[str] | Location, spec: ImageSpec) -> Image:
    """Write the OME group metadata (the last step) and drop the partial marker.

    Parameters:
        url: the image :func:`create_image` made.
        spec: the same spec.

    Returns:
        The finished :class:`Image`, open for reading and writing.
    """
    loc = resolve(url)
    attrs = dump(spec.attributes(), spec.version)
    for name, doc in group_files(attrs, spec.zarr_format).items():
        loc.write_json(name, doc)
    loc.delete(PARTIAL_MARKER)
    return open_image(loc, mode="r+")


def write_labels_group(
    image_url: str | os.PathLike[str] | Location, names: Sequence[str], version: str
) -> None:
    """Write (or rewrite) the ``labels`` group listing ``names``."""
    loc = resolve(image_url).child("labels")
    existing = read_group_attrs(loc)
    attrs = labels_attributes(names, version, dict(existing[1]) if existing else None)
    for name, doc in group_files(attrs, zarr_format_of(version)).items():
        loc.write_json(name, doc)


__all__ = [
    "create_image",
    "finish_image",
    "open_partial",
    "write_labels_group",
]

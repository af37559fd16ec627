"""The ``omero`` rendering block of an image, measured on its coarsest level.

Reads the boxes :func:`ngffkit.rendering.sample_regions` names (the whole coarsest level
when it fits in :data:`~ngffkit.rendering.SAMPLE_VOXELS`, else evenly spaced planes), one
at a time, and applies :mod:`ngffkit.rendering`'s rules per channel, time points pooled.
Memory is bounded by the sample budget whatever the image's size.

Used by convert (before the group metadata is written, so the block is written last with
the rest), by downsample and compress (an image without one gets one), and by ``ngff view``
(a measured contrast range for images that have no window).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ngffkit.image import Image, open_image
from ngffkit.metadata.io import ome_namespace
from ngffkit.metadata.models import ChannelInfo, Omero, Window
from ngffkit.rendering import omero_block, sample_regions, split_channels, window
from ngffkit.spec import ImageSpec
from ngffkit.storage import Location, resolve
from ngffkit.writer import open_partial


def channel_samples(image: Image, budget: int | None = None) -> list[np.ndarray]:
    """A bounded sample of each channel's values on the coarsest level (time pooled)."""
    level = image.levels[-1]
    kinds = [a.type for a in image.axes]
    channel = next((i for i, kind in enumerate(kinds) if kind == "channel"), None)
    regions = (
        sample_regions(level.shape, kinds)
        if budget is None
        else sample_regions(level.shape, kinds, budget)
    )
    parts: list[list[np.ndarray]] = []
    for region in regions:
        for c, values in enumerate(split_channels(level.read_region(region), channel)):
            if c == len(parts):
                parts.append([])
            parts[c].append(values)
    return [np.concatenate(p) for p in parts]


def measure_windows(image: Image, budget: int | None = None) -> list[Window]:
    """Each channel's display window, measured on a sample of the coarsest level."""
    return [window(sample, image.dtype) for sample in channel_samples(image, budget)]


def measure_omero(
    image: Image, *, channels: Sequence[ChannelInfo] = (), name: str | None = None
) -> Omero:
    """The ``omero`` block of ``image`` (names and colours from ``channels`` where given)."""
    return omero_block(measure_windows(image), channels=channels, name=name, version=image.version)


def with_rendering(url: str | os.PathLike[str] | Location, spec: ImageSpec) -> ImageSpec:
    """``spec`` with its ``omero`` block measured on the written levels, for
    :func:`~ngffkit.writer.finish_image` to write last. Label images get none, and a block
    the caller set is kept."""
    if spec.omero is not None or spec.image_label is not None:
        return spec
    image = open_partial(url, spec)
    omero = measure_omero(image, channels=spec.channels, name=spec.name)
    return spec.model_copy(update={"omero": omero})


def add_missing_rendering(url: str | os.PathLike[str] | Location) -> bool:
    """Give a finished image an ``omero`` block measured on its levels when it has none
    (label images never get one); an existing block — perhaps tuned by hand — is kept.

    Edits the stored group JSON in place, so every other key stays as it was. Returns
    whether a block was written."""
    loc = resolve(url)
    image = open_image(loc)
    if image.omero is not None or image.image_label is not None:
        return False
    omero = measure_omero(image, name=image.name)
    key = "zarr.json" if image.zarr_format == 3 else ".zattrs"
    doc = loc.read_json(key) or {}
    attrs = doc.get("attributes", {}) if image.zarr_format == 3 else doc
    ome_namespace(attrs, image.zarr_format)["omero"] = omero.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    loc.write_json(key, doc)
    return True


__all__ = [
    "add_missing_rendering",
    "channel_samples",
    "measure_omero",
    "measure_windows",
    "with_rendering",
]

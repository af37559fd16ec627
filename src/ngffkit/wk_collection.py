"""Open a collection in WEBKNOSSOS: one dataset whose layers are the collection's members.

The layout is :mod:`ngffkit.wk_export`'s: ``COLLECTION/webknossos/datasource-properties.json``,
a dataset folder inside the collection's group whose layers' mags point at the members'
levels. WEBKNOSSOS writing to that dataset rewrites files of ``webknossos/`` only, never the
collection's ``zarr.json`` nor a member's metadata.

Each member becomes one layer named after its node (nested names joined with ``_``; made
unique): an OME label image, or a node with a ``labels`` reference, a segmentation layer
(with ``largestSegmentId``), any other image a color layer. Where the mags point:

- a member given by a relative path: the relative path from ``webknossos/`` (``../raw/0``),
  so that the collection and its members move together, as the collection's own paths do;
- a member given by an absolute path (``file://``): that absolute path;
- a member given by a URL (``https://``, ``s3://``, ``gs://``): the URL of each level.
  WEBKNOSSOS (its server and its Python library) reads mags at URLs, so the member is read
  from where it is, never copied.

One dataset has one voxel size and unit: the finest voxel of the members per axis. A
member whose voxel is a power-of-two multiple of it gets coarser mags (``2-2-1`` as its
finest); members in other units, or at other ratios, are refused naming them (WEBKNOSSOS
cannot place them), as is a collection kept as a standalone JSON document (it has no folder
of its own for the dataset).
"""

from __future__ import annotations

import os
import posixpath
import re
import warnings
from typing import Any

from ngffkit._collection import Collection, Member, open_collection
from ngffkit.errors import InputError, NgffWarning
from ngffkit.image import Image, open_image
from ngffkit.storage import Location
from ngffkit.webknossos import PROPERTIES
from ngffkit.wk_export import FOLDER, NO_UNIT, layer, problems

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def layer_names(members: tuple[Member, ...]) -> list[str]:
    """One WEBKNOSSOS layer name per member: its node names joined with ``_``, characters
    outside ``[A-Za-z0-9_.-]`` as ``_``, made unique with ``-2``, ``-3``, ..."""
    names: list[str] = []
    for member in members:
        base = _NAME_CHARS.sub("_", "_".join(member.names)).lstrip(".") or "layer"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def is_segmentation(image: Image, member: Member) -> bool:
    """A member is a segmentation layer when it is an OME label image or labels another
    member (the draft's ``labels`` attribute)."""
    return image.image_label is not None or "labels" in member.node.attributes


def mag_base(dataset: Location, member: Member) -> str:
    """Where the member's levels are, as a mag path of the dataset folder ``dataset``."""
    assert member.node.path is not None
    given = member.node.path.path
    if "://" in given and not given.startswith("file://"):
        return member.location.url.rstrip("/")
    here, there = dataset.local_path, member.location.local_path
    if here is not None and there is not None:
        if given.startswith("file://"):
            return str(there)
        return os.path.relpath(there, here).replace(os.sep, "/")
    return posixpath.relpath(member.location.url.rstrip("/"), dataset.url.rstrip("/"))


def write_collection_properties(collection: str | os.PathLike[str] | Collection) -> Location:
    """Write ``COLLECTION/webknossos/datasource-properties.json`` (replacing an earlier one)
    so that WEBKNOSSOS opens the collection's members as one dataset; return its folder.

    Raises:
        InputError: the collection is a JSON document, has no members, or a member breaks a
            rule of WEBKNOSSOS (each named, with the reason).
    """
    col = collection if isinstance(collection, Collection) else open_collection(collection)
    if col.place.is_json:
        raise InputError(
            f"{col.url}: a collection kept as a JSON document has no folder for a WEBKNOSSOS "
            "dataset; write the collection as a Zarr group (a folder) to open it in WEBKNOSSOS"
        )
    if not col.members:
        raise InputError(f"{col.url}: the collection has no member images for WEBKNOSSOS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NgffWarning)  # `ngff validate` reports those
        images = [open_image(m.location) for m in col.members]
    segmentation = [is_segmentation(i, m) for i, m in zip(images, col.members, strict=True)]
    found = []
    for member, image, seg in zip(col.members, images, segmentation, strict=True):
        found += [
            f"member {member.name}: {p}"
            for p in problems(image, labels=False, segmentation=seg)
            if not p.endswith(NO_UNIT)
        ]
    units = {m.name: _unit(i) for m, i in zip(col.members, images, strict=True)}
    if len(set(units.values())) > 1:
        shown = ", ".join(f"{n} in {u}" for n, u in units.items())
        found.append(f"the members have different units ({shown}); one dataset has one unit")
    if found:
        raise InputError(f"{col.url}: WEBKNOSSOS cannot open this collection: " + "; ".join(found))
    voxel = [min(_voxel(i)[k] for i in images) for k in range(3)]
    folder = col.place.folder.child(FOLDER)
    clash = [m.name for m in col.members if m.location.url.rstrip("/") == folder.url.rstrip("/")]
    if clash:
        raise InputError(
            f"{col.url}: member {clash[0]} is the folder {FOLDER}/, where the WEBKNOSSOS "
            "dataset goes; move that image elsewhere"
        )
    layers: list[dict[str, Any]] = []
    names = layer_names(col.members)
    for member, image, seg, name in zip(col.members, images, segmentation, names, strict=True):
        category = "segmentation" if seg else "color"
        layers.append(layer(image, name, mag_base(folder, member), category, voxel))
    doc: dict[str, Any] = {
        "id": {"name": col.name, "team": ""},
        "scale": {"factor": voxel, "unit": next(iter(units.values()))},
        "dataLayers": layers,
        "version": 1,
    }
    folder.write_json(PROPERTIES, doc)
    return folder


def _unit(image: Image) -> str:
    return next(a.unit for a in image.axes if a.type == "space") or "nanometer"


def _voxel(image: Image) -> list[float]:
    return [image.levels[0].scale[image.axis_names.index(a)] for a in "xyz"]


__all__ = ["is_segmentation", "layer_names", "mag_base", "write_collection_properties"]

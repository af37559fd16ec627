"""Find the OME-Zarr datasets under a served root, to print their Neuroglancer URLs.

Works through the :class:`~ngffkit.serve.backends.Backend` interface only, so it finds the
same datasets whatever the bytes come from. The walk is shallow and bounded: a root that
holds a TIFF stack or an unsharded zarr with millions of chunk folders must not delay
start-up, so arrays and datasets are never descended into and only a few levels and a few
hundred folders are looked at.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ngffkit.serve.contract import Backend, ObjectInfo
from ngffkit.serve.ranges import ByteSpan

MAX_DEPTH = 3
MAX_FOLDERS = 256
_MAX_METADATA_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Dataset:
    """A viewable zarr node under the root."""

    key: str  # path under the root, "" for the root itself
    zarr_format: int  # 2 or 3
    kind: str  # "image" (OME multiscales), "labels" (OME label image), "array", "collection"

    def url(self, base_url: str) -> str:
        """HTTP URL of the node (``base_url`` is the server's root URL, no trailing slash)."""
        path = "/".join(quote(part) for part in self.key.split("/") if part)
        return f"{base_url}/{path}" if path else f"{base_url}/"

    def neuroglancer_source(self, base_url: str, *, query: str = "") -> str:
        """Neuroglancer data-source URL: ``zarr3://http://...`` or ``zarr2://http://...``."""
        scheme = "zarr3" if self.zarr_format == 3 else "zarr2"
        url = self.url(base_url).rstrip("/")
        return f"{scheme}://{url}{'?' + query if query else ''}"


async def _read_json(backend: Backend, key: str) -> dict[str, Any] | None:
    def whole(info: ObjectInfo) -> ByteSpan | None:
        size = info.size
        return ByteSpan(0, size) if size is not None and size <= _MAX_METADATA_BYTES else None

    try:
        fetched = await backend.fetch(key, whole, _MAX_METADATA_BYTES)
    except Exception:
        return None
    if fetched is None or fetched.body is None:
        return None
    try:
        doc = json.loads(fetched.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _join(key: str, name: str) -> str:
    return f"{key}/{name}" if key else name


async def _classify(backend: Backend, key: str) -> tuple[Dataset | None, bool]:
    """(the dataset at ``key`` if any, whether to look inside ``key``)."""
    v3 = await _read_json(backend, _join(key, "zarr.json"))
    if v3 is not None:
        if v3.get("node_type") == "array":
            return Dataset(key, 3, "array"), False
        attributes = v3.get("attributes")
        ome = attributes.get("ome") if isinstance(attributes, dict) else None
        if isinstance(ome, dict) and "multiscales" in ome:
            kind = "labels" if "image-label" in ome else "image"
            return Dataset(key, 3, kind), False
        if isinstance(ome, dict) and ome.get("type", ome.get("node_type")) == "collection":
            return Dataset(key, 3, "collection"), True  # its members may be inside
        return None, True
    attrs = await _read_json(backend, _join(key, ".zattrs"))
    ome = attrs.get("ome") if attrs is not None else None
    if isinstance(ome, dict) and ome.get("type", ome.get("node_type")) == "collection":
        return Dataset(key, 2, "collection"), True
    if attrs is not None and "multiscales" in attrs:
        kind = "labels" if "image-label" in attrs else "image"
        return Dataset(key, 2, kind), False
    if await _read_json(backend, _join(key, ".zarray")) is not None:
        return Dataset(key, 2, "array"), False
    return None, True


async def _labels(backend: Backend, image: Dataset) -> list[Dataset]:
    """The label images an OME image lists in its ``labels`` group."""
    group = _join(image.key, "labels")
    if image.zarr_format == 3:
        doc = await _read_json(backend, _join(group, "zarr.json"))
        attributes = doc.get("attributes") if doc else None
        ome = attributes.get("ome") if isinstance(attributes, dict) else None
        names = ome.get("labels") if isinstance(ome, dict) else None
    else:
        doc = await _read_json(backend, _join(group, ".zattrs"))
        names = doc.get("labels") if doc else None
    if not isinstance(names, list):
        return []
    return [
        Dataset(_join(group, name), image.zarr_format, "labels")
        for name in names
        if isinstance(name, str) and name and "/" not in name and not name.startswith(".")
    ]


async def discover_datasets(
    backend: Backend, *, max_depth: int = MAX_DEPTH, max_folders: int = MAX_FOLDERS
) -> list[Dataset]:
    """OME-Zarr images (and their labels) and plain zarr arrays near the root, sorted by key."""
    found: list[Dataset] = []
    queue: deque[tuple[str, int]] = deque([("", 0)])
    visited = 0
    while queue and visited < max_folders:
        key, depth = queue.popleft()
        visited += 1
        dataset, descend = await _classify(backend, key)
        if dataset is not None:
            found.append(dataset)
            if dataset.kind == "image":
                found.extend(await _labels(backend, dataset))
        if not descend or depth >= max_depth:
            continue
        entries = await backend.list_dir(key)
        for entry in entries or []:
            if entry.is_dir:
                queue.append((_join(key, entry.name), depth + 1))
    return sorted(found, key=lambda d: d.key)


__all__ = ["MAX_DEPTH", "MAX_FOLDERS", "Dataset", "discover_datasets"]

"""Arrays tensorstore reads: Zarr v2/v3 (plain or OME-Zarr level 0), N5, precomputed.

What is opened:

- ``zarr``: a directory with ``zarr.json`` (v3) or ``.zarray`` (v2) is the array; a group
  (``zarr.json`` node_type "group", or ``.zgroup``/``.zattrs``) must carry OME
  ``multiscales`` (0.5: ``attributes.ome.multiscales``; 0.4: ``multiscales``) and its
  first dataset is opened.
- ``n5``: a directory whose ``attributes.json`` has ``dimensions`` is the array; otherwise
  a multiscale group's ``s0``.
- ``precomputed``: a directory with ``info``; scale 0, channels first, dropped when 1.

Axes: OME axes, else ``dimension_names`` (v3) / ``_ARRAY_DIMENSIONS`` (v2), reordered to
t,c,z,y,x when they are those names; otherwise the last three dims are z,y,x and leading
ones c (4-D) or t,c (5-D). 2-D arrays get a z of length 1. Voxel size comes from OME
scale transforms and axis units, or tensorstore's ``dimension_units``.
Only local paths and ``file://`` URLs for now.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import numpy as np
import tensorstore as ts

from ngffkit.errors import InputError, NotFoundError
from ngffkit.sources.base import (
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    format_box,
    one_unit,
    spatial_slice_bytes,
)

ArrayKind = Literal["zarr", "n5", "precomputed"]
_CANONICAL = ("t", "c", "z", "y", "x")
_TS_ERRORS = (ValueError, OSError, RuntimeError, TimeoutError)


def local_path(input: str | os.PathLike[str]) -> Path:
    """A local path from a path or ``file://`` URL; other URL schemes are refused."""
    text = os.fspath(input)
    if "://" in text:
        url = urlparse(text)
        if url.scheme != "file":
            raise InputError(
                f"{text}: {url.scheme}:// inputs are not supported yet; use a local path or "
                "file:// URL (download the data first)."
            )
        text = unquote(url.path)
    return Path(text).resolve()


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(data).__name__}.")
    return data


class _Located:
    """Where the array is and what the metadata around it says."""

    def __init__(
        self, array: Path, driver: str, ome: dict[str, Any] | None, names: list[str] | None
    ):
        self.array, self.driver, self.ome, self.names = array, driver, ome, names


def _first_dataset(group: Path, multiscales: Any, meta_file: Path) -> tuple[Path, dict[str, Any]]:
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise InputError(
            f"{meta_file}: this Zarr group holds no OME 'multiscales' list, so there is no "
            "image to read. Point to an array, or to an OME-Zarr image group."
        )
    ms = multiscales[0]
    datasets = ms.get("datasets")
    if not isinstance(datasets, list) or not datasets or "path" not in datasets[0]:
        raise InputError(
            f"{meta_file}: multiscales[0].datasets is missing or has no 'path'; "
            "expected a list of {'path': ...} entries."
        )
    return group / str(datasets[0]["path"]), ms


def _locate_zarr(path: Path) -> _Located:
    if (path / "zarr.json").is_file():
        meta = _json(path / "zarr.json")
        if meta.get("node_type") == "array":
            names = meta.get("dimension_names")
            return _Located(path, "zarr3", None, names if isinstance(names, list) else None)
        attrs = meta.get("attributes", {})
        ms = attrs.get("ome", {}).get("multiscales", attrs.get("multiscales"))
        array, ome = _first_dataset(path, ms, path / "zarr.json")
        if (array / ".zarray").is_file():
            return _Located(array, "zarr", ome, None)
        return _Located(array, "zarr3", ome, None)
    if (path / ".zarray").is_file():
        names = None
        if (path / ".zattrs").is_file():
            dims = _json(path / ".zattrs").get("_ARRAY_DIMENSIONS")
            names = dims if isinstance(dims, list) else None
        return _Located(path, "zarr", None, names)
    if (path / ".zattrs").is_file() or (path / ".zgroup").is_file():
        attrs = _json(path / ".zattrs") if (path / ".zattrs").is_file() else {}
        array, ome = _first_dataset(path, attrs.get("multiscales"), path / ".zattrs")
        return _Located(array, "zarr", ome, None)
    raise InputError(
        f"{path}: not a Zarr array or group (no zarr.json, .zarray, .zgroup or .zattrs)."
    )


def _locate(path: Path, kind: ArrayKind) -> _Located:
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder.")
    if kind == "zarr":
        return _locate_zarr(path)
    if kind == "n5":
        if not (path / "attributes.json").is_file():
            raise InputError(f"{path}: not an N5 container (no attributes.json).")
        if "dimensions" in _json(path / "attributes.json"):
            return _Located(path, "n5", None, None)
        if (path / "s0" / "attributes.json").is_file():
            return _Located(path / "s0", "n5", None, None)
        raise InputError(
            f"{path}: an N5 group without an array: expected 'dimensions' in its "
            "attributes.json or a level 's0'. Point to the array itself."
        )
    if not (path / "info").is_file():
        raise InputError(f"{path}: not a Neuroglancer precomputed volume (no info file).")
    return _Located(path, "neuroglancer_precomputed", None, None)


def _ome_scale(ms: dict[str, Any], names: list[str]) -> tuple[dict[str, float] | None, str | None]:
    axes = ms.get("axes")
    if not isinstance(axes, list) or len(axes) != len(names):
        return None, None
    scale = [1.0] * len(names)
    transforms = list(ms["datasets"][0].get("coordinateTransformations") or [])
    transforms += list(ms.get("coordinateTransformations") or [])
    for tr in transforms:
        if (
            isinstance(tr, dict)
            and tr.get("type") == "scale"
            and len(tr.get("scale", [])) == len(names)
        ):
            scale = [a * float(b) for a, b in zip(scale, tr["scale"], strict=True)]
    sizes: dict[str, tuple[float, str | None]] = {}
    for name, ax, s in zip(names, axes, scale, strict=True):
        if name in ("z", "y", "x"):
            unit = ax.get("unit") if isinstance(ax, dict) else None
            sizes[name] = (s, unit if isinstance(unit, str) else None)
    return one_unit(sizes)


class TensorStoreSource(SourceBase):
    """A Zarr, N5 or precomputed array read through tensorstore."""

    def __init__(self, input: str | os.PathLike[str], kind: ArrayKind) -> None:
        self.kind: SourceKind = kind
        self.path = local_path(input)
        where = _locate(self.path, kind)
        spec: dict[str, Any] = {
            "driver": where.driver,
            "kvstore": {"driver": "file", "path": str(where.array)},
        }
        if kind == "precomputed":
            spec["scale_index"] = 0
        try:
            store = ts.open(spec, read=True).result()
        except _TS_ERRORS as exc:
            raise InputError(
                f"{where.array}: tensorstore cannot open this {kind} array: {exc}"
            ) from exc
        store = store[ts.d[:].translate_to[0]]  # precomputed may carry a voxel_offset
        names = self._names(store, where)
        if kind == "precomputed":
            store = store[ts.d["channel", "z", "y", "x"].transpose[:]]
            names = ["c", "z", "y", "x"]
            if store.shape[0] == 1:
                store, names = store[ts.d["channel"][0]], names[1:]
        if not 2 <= store.rank <= 5:
            raise InputError(
                f"{where.array}: expected an array of 2 to 5 dimensions, found {store.rank} "
                f"(shape {tuple(store.shape)})."
            )
        canonical = self._canonical(names, store.rank)
        if names is not None and canonical != names:  # names are t/c/z/y/x in another order
            store = store[ts.d[[names.index(a) for a in canonical]].transpose[:]]
        self._store = store
        self._has_z = "z" in canonical
        self.axes = tuple(a for a in _CANONICAL if a in canonical or a == "z")
        size = dict(zip(canonical, (int(n) for n in store.shape), strict=True))
        self.shape = tuple(size.get(a, 1) for a in self.axes)
        self.dtype = np.dtype(store.dtype.numpy_dtype)
        self.cost = ReadCost(
            window_cheap=True,
            rows_per_block=None,
            bytes_per_slice=spatial_slice_bytes(self.shape, self.axes, self.dtype),
        )
        if where.ome is not None and names is not None:
            self.voxel_size, self.unit = _ome_scale(where.ome, names)
        if self.voxel_size is None:
            self.voxel_size, self.unit = self._units(store, canonical)

    @staticmethod
    def _names(store: Any, where: _Located) -> list[str] | None:
        """Axis names from OME axes, dimension_names/_ARRAY_DIMENSIONS or domain labels."""
        raw: list[Any] | None = None
        if where.ome is not None and isinstance(where.ome.get("axes"), list):
            raw = [a.get("name") if isinstance(a, dict) else a for a in where.ome["axes"]]
        elif where.names is not None:
            raw = where.names
        elif any(store.domain.labels):
            raw = list(store.domain.labels)
        if raw is None or len(raw) != store.rank or not all(isinstance(n, str) and n for n in raw):
            return None
        return [str(n).lower() for n in raw]

    @staticmethod
    def _canonical(names: list[str] | None, rank: int) -> list[str]:
        """The axis names to present, in the store's dimension order after reordering."""
        if (
            names is not None
            and len(set(names)) == len(names)
            and {"y", "x"} <= set(names) <= set(_CANONICAL)
        ):
            return [a for a in _CANONICAL if a in names]
        return list(("t", "c", "z", "y", "x")[5 - rank :]) if rank >= 3 else ["y", "x"]

    @staticmethod
    def _units(store: Any, names: list[str]) -> tuple[dict[str, float] | None, str | None]:
        sizes: dict[str, tuple[float, str | None]] = {}
        for name, unit in zip(names, store.dimension_units, strict=True):
            if name in ("z", "y", "x") and unit is not None and unit.base_unit:
                sizes[name] = (float(unit.multiplier), str(unit.base_unit))
        return one_unit(sizes)

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        sel = tuple(s for a, s in zip(self.axes, box, strict=True) if a != "z" or self._has_z)
        try:
            data = self._store[sel].read().result()
        except _TS_ERRORS as exc:
            raise InputError(
                f"{self.path}: reading {format_box(box, self.axes)} failed: {exc}. "
                "A chunk is corrupt or unreadable."
            ) from exc
        out[...] = np.asarray(data).reshape(out.shape)

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        return SourceSpec(
            kind=self.kind, path=str(self.path), shape=self.shape, dtype=self.dtype.str
        )

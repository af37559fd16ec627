"""Arrays tensorstore reads: Zarr v2/v3 (plain or OME-Zarr level 0), N5, precomputed.

What is opened:

- ``zarr``: a directory with ``zarr.json`` (v3) or ``.zarray`` (v2) is the array; a group
  (``zarr.json`` node_type "group", or ``.zgroup``/``.zattrs``) must carry OME
  ``multiscales`` (0.5: ``attributes.ome.multiscales``; 0.4: ``multiscales``) and its
  first dataset is opened.
- ``n5``: a directory whose ``attributes.json`` has ``dimensions`` is the array; otherwise
  a multiscale group's ``s0``.
- ``precomputed``: a directory with ``info``; scale 0, channels first, dropped when 1.

Axes: OME axes, else ``dimension_names`` (v3) / ``_ARRAY_DIMENSIONS`` (v2) / N5's
``axes``, reordered to t,c,z,y,x when they are those names. Unnamed Zarr and precomputed
dimensions are read C-style: the last three are z,y,x and leading ones c (4-D) or t,c (5-D).
Unnamed N5 dimensions follow N5's own convention, fastest first: x,y,z (then c, t) — the
order of N5's ``dimensions`` and of every N5 writer (tensorstore, n5-zarr, BigDataViewer).
2-D arrays get a z of length 1. ``input_axes`` says which input dimension became which
axis. Voxel size comes from OME scale transforms and axis units, tensorstore's
``dimension_units`` (N5 ``resolution`` + ``units``), or N5's ``pixelResolution``.
Local paths, ``file://`` and remote URLs (``http(s)://``, ``s3://``, ``gs://``) alike:
metadata is read through :class:`~ngffkit.storage.Location`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tensorstore as ts

from ngffkit.error_mapping import local_os_error
from ngffkit.errors import InputError, MetadataError, NotFoundError
from ngffkit.sources.base import (
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    box_text,
    is_remote_url,
    local_path,
    one_unit,
    spatial_slice_bytes,
)
from ngffkit.storage import Location, mapped_errors, resolve, shared_context

ArrayKind = Literal["zarr", "n5", "precomputed"]
_CANONICAL = ("t", "c", "z", "y", "x")
_TS_ERRORS = (ValueError, OSError, RuntimeError, TimeoutError)


def _location(input: str | os.PathLike[str] | Location) -> Location:
    """A local path, ``file://`` URL or remote URL (http(s), s3, gs) as a Location."""
    if isinstance(input, Location):
        return input
    text = os.fspath(input)
    if is_remote_url(text):
        return resolve(text)
    return resolve(local_path(text))


def _json(loc: Location, name: str) -> dict[str, Any] | None:
    """The JSON object ``name`` at ``loc``; None when missing."""
    try:
        return loc.read_json(name)
    except MetadataError as exc:
        raise InputError(f"{exc}.") from exc


class _Located:
    """Where the array is and what the metadata around it says."""

    def __init__(
        self,
        array: Location,
        driver: str,
        ome: dict[str, Any] | None,
        names: list[str] | None,
        n5: dict[str, Any] | None = None,
    ):
        self.array, self.driver, self.ome, self.names = array, driver, ome, names
        self.n5 = n5  # an N5 array's attributes.json


def _first_dataset(
    group: Location, multiscales: Any, meta_file: str
) -> tuple[Location, dict[str, Any]]:
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
    return group.child(str(datasets[0]["path"])), ms


def _locate_zarr(loc: Location) -> _Located:
    meta = _json(loc, "zarr.json")
    if meta is not None:
        if meta.get("node_type") == "array":
            names = meta.get("dimension_names")
            return _Located(loc, "zarr3", None, names if isinstance(names, list) else None)
        attrs = meta.get("attributes", {})
        ms = attrs.get("ome", {}).get("multiscales", attrs.get("multiscales"))
        array, ome = _first_dataset(loc, ms, loc.display("zarr.json"))
        if array.read(".zarray") is not None:
            return _Located(array, "zarr", ome, None)
        return _Located(array, "zarr3", ome, None)
    if loc.read(".zarray") is not None:
        dims = (_json(loc, ".zattrs") or {}).get("_ARRAY_DIMENSIONS")
        return _Located(loc, "zarr", None, dims if isinstance(dims, list) else None)
    group_attrs = _json(loc, ".zattrs")
    if group_attrs is not None or loc.read(".zgroup") is not None:
        multiscales = (group_attrs or {}).get("multiscales")
        array, ome = _first_dataset(loc, multiscales, loc.display(".zattrs"))
        return _Located(array, "zarr", ome, None)
    raise InputError(
        f"{loc.display()}: not a Zarr array or group (no zarr.json, .zarray, .zgroup or .zattrs)."
    )


def _locate(loc: Location, kind: ArrayKind) -> _Located:
    local = loc.local_path
    if local is not None and not local.exists():
        raise NotFoundError(f"{local}: no such file or folder.")
    if kind == "zarr":
        return _locate_zarr(loc)
    if kind == "n5":
        attrs = _json(loc, "attributes.json")
        if attrs is None:
            raise InputError(f"{loc.display()}: not an N5 container (no attributes.json).")
        if "dimensions" in attrs:
            return _Located(loc, "n5", None, None, attrs)
        level0 = _json(loc.child("s0"), "attributes.json")
        if level0 is not None:
            return _Located(loc.child("s0"), "n5", None, None, {**attrs, **level0})
        raise InputError(
            f"{loc.display()}: an N5 group without an array: expected 'dimensions' in its "
            "attributes.json or a level 's0'. Point to the array itself."
        )
    if loc.read("info") is None:
        raise InputError(f"{loc.display()}: not a Neuroglancer precomputed volume (no info file).")
    return _Located(loc, "neuroglancer_precomputed", None, None)


def remote_kind(loc: Location) -> ArrayKind:
    """The kind of array at a remote location, from the metadata files there."""
    for name, kind in (
        ("zarr.json", "zarr"),
        (".zarray", "zarr"),
        (".zattrs", "zarr"),
        (".zgroup", "zarr"),
        ("attributes.json", "n5"),
        ("info", "precomputed"),
    ):
        if loc.read(name) is not None:
            return kind  # type: ignore[return-value]
    loc.check_bucket()
    raise NotFoundError(
        f"{loc.display()}: found no zarr.json, .zarray, .zattrs, attributes.json (N5) or info "
        "(precomputed) there. Remote inputs must be Zarr, N5 or precomputed arrays; check "
        "the URL."
    )


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


def _n5_pixel_resolution(
    attrs: dict[str, Any], names: list[str]
) -> tuple[dict[str, float] | None, str | None]:
    """``pixelResolution: {"dimensions": [x, y, z], "unit": "um"}`` (n5-imglib2, BigStitcher),
    in N5's dimension order."""
    res = attrs.get("pixelResolution")
    if not isinstance(res, dict):
        return None, None
    dims, unit = res.get("dimensions"), res.get("unit")
    if not isinstance(dims, list) or len(dims) != len(names) or not isinstance(unit, str):
        return None, None
    try:
        sizes: dict[str, tuple[float, str | None]] = {
            n: (float(v), unit) for n, v in zip(names, dims, strict=True) if n in ("z", "y", "x")
        }
    except (TypeError, ValueError):
        return None, None
    return one_unit(sizes)


def _ome_translation(ms: dict[str, Any], names: list[str]) -> dict[str, float] | None:
    """Level 0's translation per space axis (dataset and multiscale-wide, summed)."""
    offset = [0.0] * len(names)
    scale_top = [1.0] * len(names)
    for tr in ms.get("coordinateTransformations") or []:
        if (
            isinstance(tr, dict)
            and tr.get("type") == "scale"
            and len(tr.get("scale", [])) == len(names)
        ):
            scale_top = [float(v) for v in tr["scale"]]
    for tr in ms["datasets"][0].get("coordinateTransformations") or []:
        if (
            isinstance(tr, dict)
            and tr.get("type") == "translation"
            and len(tr.get("translation", [])) == len(names)
        ):
            offset = [
                o + float(t) * g
                for o, t, g in zip(offset, tr["translation"], scale_top, strict=True)
            ]
    for tr in ms.get("coordinateTransformations") or []:
        if (
            isinstance(tr, dict)
            and tr.get("type") == "translation"
            and len(tr.get("translation", [])) == len(names)
        ):
            offset = [o + float(t) for o, t in zip(offset, tr["translation"], strict=True)]
    out = {n: o for n, o in zip(names, offset, strict=True) if n in ("z", "y", "x")}
    return out if any(out.values()) else None


class TensorStoreSource(SourceBase):
    """A Zarr, N5 or precomputed array read through tensorstore."""

    def __init__(self, input: str | os.PathLike[str] | Location, kind: ArrayKind) -> None:
        self.kind: SourceKind = kind
        self.location = _location(input)
        self.path: Path | str = self.location.local_path or self.location.url
        where = _locate(self.location, kind)
        spec: dict[str, Any] = {"driver": where.driver, "kvstore": dict(where.array.kvstore)}
        if kind == "precomputed":
            spec["scale_index"] = 0
        with mapped_errors(where.array):
            try:
                store = ts.open(spec, read=True, context=shared_context()).result()
            except _TS_ERRORS as exc:
                if where.array.is_remote:
                    raise
                raise InputError(
                    f"{where.array.display()}: tensorstore cannot open this {kind} array: {exc}"
                ) from exc
        store = store[ts.d[:].translate_to[0]]  # precomputed may carry a voxel_offset
        names = self._names(store, where)
        why = "named in the metadata"
        if kind == "precomputed":
            store = store[ts.d["channel", "z", "y", "x"].transpose[:]]
            names = ["c", "z", "y", "x"]
            why = "precomputed's x,y,z,channel"
            if store.shape[0] == 1:
                store, names = store[ts.d["channel"][0]], names[1:]
        if not 2 <= store.rank <= 5:
            raise InputError(
                f"{where.array.display()}: expected an array of 2 to 5 dimensions, found {store.rank} "
                f"(shape {tuple(store.shape)})."
            )
        if names is None and kind == "n5":
            # N5 lists dimensions fastest first (x,y,z); without an "axes" attribute that
            # is the only order an N5 writer means.
            names = list(_CANONICAL[5 - store.rank :][::-1]) if store.rank >= 3 else ["x", "y"]
            why = "N5 order, fastest first: no 'axes' attribute"
        canonical = self._canonical(names, store.rank)
        if names is not None and sorted(canonical) != sorted(names):
            names = None  # names that are not t/c/z/y/x say nothing about the order
        if names is None:
            why = "not named: C order, the last is x"
        in_names = names if names is not None else canonical
        self.input_axes = (
            f"{kind} dimensions {','.join(in_names)} "
            f"(shape {'×'.join(str(int(n)) for n in store.shape)}; {why})"
        )
        if names is not None and canonical != names:  # names are t/c/z/y/x in another order
            store = store[ts.d[[names.index(a) for a in canonical]].transpose[:]]
        self._store = store
        self._has_z = "z" in canonical
        self.axes = tuple(a for a in _CANONICAL if a in canonical or a == "z")
        size = dict(zip(canonical, (int(n) for n in store.shape), strict=True))
        self.shape = tuple(size.get(a, 1) for a in self.axes)
        self.dtype = np.dtype(store.dtype.numpy_dtype)
        # Bricks are decoded straight into the caller's buffer (_read_into), whose dtype is
        # this one (read and read_into's contract), so whether tensorstore can wrap it is
        # decided here, once: every dtype but the object ones (strings, JSON).
        self._in_place = not self.dtype.hasobject
        self.cost = ReadCost(
            window_cheap=True,
            rows_per_block=None,
            bytes_per_slice=spatial_slice_bytes(self.shape, self.axes, self.dtype),
        )
        if where.ome is not None and names is not None:
            self.voxel_size, self.unit = _ome_scale(where.ome, names)
            self.origin = _ome_translation(where.ome, names)
        if self.voxel_size is None:
            self.voxel_size, self.unit = self._units(store, canonical)
        if self.voxel_size is None and where.n5 is not None and names is not None:
            self.voxel_size, self.unit = _n5_pixel_resolution(where.n5, names)

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
        view = self._store[sel]
        # Decoded chunk by chunk straight into ``out``: reading into a new array and copying
        # that held a second brick per task (measured: Zarr at --jobs 2 peaked 46 MiB over
        # the plan with 20 MiB bricks). The dtype was decided once (``_in_place``); the
        # buffer's layout is checked per call: a strided one cannot be reshaped in place
        # (the reshape would be a copy, and what is decoded into it lost).
        direct = self._in_place and out.flags.c_contiguous
        with mapped_errors(self.location):
            try:
                if direct:
                    target = ts.array(out.reshape(view.shape), copy=False, write=True)
                    target.write(view).result()
                    return
                data = view.read().result()
            except _TS_ERRORS as exc:
                if self.location.is_remote:
                    raise
                local = local_os_error(exc, f"{self.path} ({box_text(box, self.axes)})", "read")
                if local is not None:  # not a corrupt chunk: a permission, a full disk
                    raise local from exc
                raise InputError(
                    f"{self.path}: reading {box_text(box, self.axes)} failed: {exc}. "
                    "A chunk is corrupt or unreadable."
                ) from exc
        out[...] = np.asarray(data).reshape(out.shape)

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        return SourceSpec(
            kind=self.kind, path=str(self.path), shape=self.shape, dtype=self.dtype.str
        )

"""Check one converter's output against the TIFF stack it came from; print one JSON object.

Run with an interpreter that has zarr-python 3.1 (the ngffkit development environment):

    python benchmarks/verify.py OUTPUT_DIR TIFF_DIR [--levels 5]

What it checks, tool-agnostic:

1. finds the OME multiscales group under OUTPUT_DIR (OME 0.4 ``.zattrs`` or OME 0.5 ``zarr.json``
   ``attributes.ome``; webknossos puts it one folder down, in the layer),
2. opens every level with ``zarr.open_array`` and maps its axes (any order, e.g. webknossos'
   c,x,y,z or stack-to-chunk's x,y,z) to z,y,x; other axes must have length 1,
3. checks the level count and the shapes: the true shapes (``ceil`` or ``floor`` of the level-0
   shape / 2^level) are "ok"; larger, zero-padded shapes are "ok*" (webknossos),
4. compares z = 0, mid and last of level 0 with the TIFFs (exact),
5. compares a 64³ block from the middle of level 1 with the float 2×2×2 mean (and median) of the
   TIFF data and reports the largest absolute error of each; the tool's own method (``--method``)
   must be within 1.0 (rounding or truncation), or the check fails,
6. optionally (``--sharded yes|no``, ``--zstd-level N``) that level 0 has the settings the run
   asked for; a shard of exactly one chunk counts as unsharded.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

warnings.filterwarnings("ignore")


def find_multiscales(root: Path, max_depth: int = 3) -> tuple[Path, dict[str, Any], str] | None:
    """(group folder, multiscales[0], OME version) of the shallowest OME image group."""
    frontier = [root]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for folder in frontier:
            zattrs = folder / ".zattrs"
            zjson = folder / "zarr.json"
            if zattrs.is_file():
                attrs = json.loads(zattrs.read_text())
                if "multiscales" in attrs:
                    ms = attrs["multiscales"][0]
                    return folder, ms, str(ms.get("version", "0.4"))
            if zjson.is_file():
                meta = json.loads(zjson.read_text())
                attrs = meta.get("attributes", {})
                ome = attrs.get("ome", {})
                if meta.get("node_type") == "group" and "multiscales" in ome:
                    return folder, ome["multiscales"][0], str(ome.get("version", "?"))
                if meta.get("node_type") == "group" and "multiscales" in attrs:
                    ms = attrs["multiscales"][0]
                    return folder, ms, str(ms.get("version", "?"))
            nxt.extend(p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.isdigit())
        frontier = nxt
    return None


def axis_names(ms: dict[str, Any], ndim: int) -> list[str]:
    axes = ms.get("axes")
    if not axes:
        return ["t", "c", "z", "y", "x"][-ndim:]
    return [(a["name"] if isinstance(a, dict) else str(a)).lower() for a in axes]


def read_zyx(arr: Any, names: list[str], box: Mapping[str, slice | int]) -> np.ndarray:
    """Read ``box`` (by axis name) from ``arr`` and return it in z, y, x order."""
    index: list[slice | int] = []
    kept: list[str] = []
    for name in names:
        if name in ("z", "y", "x"):
            sel = box[name]
            index.append(sel)
            if isinstance(sel, slice):
                kept.append(name)
        else:
            index.append(0)
    data = np.asarray(arr[tuple(index)])
    order = [kept.index(n) for n in ("z", "y", "x") if n in kept]
    return data.transpose(order)


def level_factors(ms: dict[str, Any], names: list[str]) -> list[list[float] | None]:
    """Per level, its (z, y, x) scale relative to level 0, from coordinateTransformations."""
    scales: list[list[float] | None] = []
    for ds in ms.get("datasets", []):
        scale = next(
            (
                t["scale"]
                for t in ds.get("coordinateTransformations", [])
                if t.get("type") == "scale"
            ),
            None,
        )
        if scale is None or len(scale) != len(names):
            scales.append(None)
            continue
        by_name = dict(zip(names, scale, strict=True))
        scales.append([float(by_name[a]) for a in ("z", "y", "x")])
    base = scales[0] if scales else None
    if base is None or any(v == 0 for v in base):
        return [None for _ in scales]
    return [None if s is None else [v / b for v, b in zip(s, base, strict=True)] for s in scales]


def codec_summary(arr: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"zarr_format": arr.metadata.zarr_format, "dtype": str(arr.dtype)}
    info["chunks"] = list(arr.chunks)
    shards = getattr(arr, "shards", None)
    info["shards"] = list(shards) if shards else None
    try:
        comps = arr.compressors
        info["compressors"] = [type(c).__name__ + json.dumps(_codec_cfg(c)) for c in comps]
    except Exception as exc:  # pragma: no cover - best effort
        info["compressors"] = [f"? {exc}"]
    return info


def _codec_cfg(codec: Any) -> Any:
    for attr in ("get_config", "to_dict"):
        f = getattr(codec, attr, None)
        if f is not None:
            try:
                cfg = f()
                return {k: v for k, v in cfg.items() if k not in ("id", "name")}
            except Exception:
                pass
    return str(codec)


def expected_shape(shape0: tuple[int, int, int], level: int) -> tuple[set[int], ...]:
    f = 2**level
    return tuple({max(1, s // f), max(1, math.ceil(s / f))} for s in shape0)


def settings_problems(
    level0: dict[str, Any], sharded: bool | None, zstd_level: int | None
) -> list[str]:
    """Does level 0 use the settings the run asked for (sharding, zstd level)?"""
    problems = []
    shards = level0.get("shards")
    is_sharded = bool(shards) and shards != level0.get("chunks")  # one chunk per shard: no
    if sharded is not None and is_sharded != sharded:
        problems.append(
            f"expected {'sharded' if sharded else 'unsharded'} arrays, got shards {shards}"
        )
    if zstd_level is not None:
        pat = re.compile(rf'"c?level": {zstd_level}\b')
        comps = level0.get("compressors") or []
        if not any("zstd" in c.lower() and pat.search(c) for c in comps):
            problems.append(f"expected zstd level {zstd_level}, got {comps}")
    return problems


def verify(
    output: Path,
    tiff_dir: Path,
    levels: int = 5,
    method: str = "mean",
    block: int = 64,
    sharded: bool | None = None,
    zstd_level: int | None = None,
) -> dict[str, Any]:
    import zarr

    files = sorted(p for p in tiff_dir.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    first = tifffile.imread(files[0])
    shape0 = (len(files), int(first.shape[0]), int(first.shape[1]))
    res: dict[str, Any] = {"check": "FAIL", "problems": []}
    problems: list[str] = res["problems"]

    found = find_multiscales(output)
    if found is None:
        problems.append("no OME multiscales group found")
        return res
    group, ms, version = found
    res["group"] = str(group.relative_to(output)) or "."
    res["ome_version"] = version
    datasets = ms.get("datasets", [])
    res["levels"] = len(datasets)
    if len(datasets) != levels:
        problems.append(f"{len(datasets)} levels, expected {levels}")

    arrays = []
    for ds in datasets:
        try:
            arrays.append(zarr.open_array(store=str(group / ds["path"]), mode="r"))
        except Exception as exc:
            problems.append(f"cannot open level {ds['path']}: {type(exc).__name__}: {exc}")
            return res
    names = axis_names(ms, arrays[0].ndim)
    res["axes"] = names
    res["level0"] = codec_summary(arrays[0])
    problems.extend(settings_problems(res["level0"], sharded, zstd_level))
    if missing := {"z", "y", "x"} - set(names):
        problems.append(f"axes {names} lack {sorted(missing)}")
        return res

    padded = False
    shapes = []
    factors = level_factors(ms, names)
    res["factors_zyx"] = factors
    for level, f in enumerate(factors):
        if f is not None and any(abs(v - 2**level) > 1e-6 for v in f):
            problems.append(
                f"level {level}: scale factor (z,y,x) {tuple(round(v, 3) for v in f)} "
                f"relative to level 0, expected {2**level} on every axis"
            )
    for level, arr in enumerate(arrays):
        extents = dict(zip(names, arr.shape, strict=True))
        zyx = (extents["z"], extents["y"], extents["x"])
        shapes.append(list(zyx))
        others = [n for n in names if n not in ("z", "y", "x") and extents[n] != 1]
        if others:
            problems.append(f"level {level}: non-spatial axes {others} are not of length 1")
        for got, want in zip(zyx, expected_shape(shape0, level), strict=True):
            if got in want:
                continue
            if got > max(want):
                padded = True
            else:
                problems.append(f"level {level}: shape {zyx} smaller than expected")
                break
        if arr.dtype != first.dtype:
            problems.append(f"level {level}: dtype {arr.dtype}, TIFFs are {first.dtype}")
    res["shapes"] = shapes

    # Level 0: first, middle and last slice, exact.
    nz, ny, nx = shape0
    for z in sorted({0, nz // 2, nz - 1}):
        img = read_zyx(
            arrays[0], names, {"z": slice(z, z + 1), "y": slice(0, ny), "x": slice(0, nx)}
        )
        ref = tifffile.imread(files[z])
        if img.shape[1:] != ref.shape or not np.array_equal(img[0], ref):
            diff = "shape" if img.shape[1:] != ref.shape else int((img[0] != ref).sum())
            problems.append(f"level 0 z={z} differs from the TIFF ({diff} voxels)")

    # Level 1: a block from the middle against the float mean / median of 2×2×2.
    if len(arrays) > 1:
        l1 = [nz // 2, ny // 2, nx // 2]
        b = [min(block, s) for s in l1]
        start = [max(0, s // 2 - bb // 2) for s, bb in zip(l1, b, strict=True)]
        box = {a: slice(s, s + bb) for a, s, bb in zip("zyx", start, b, strict=True)}
        got1 = read_zyx(arrays[1], names, box).astype(np.float64)
        z0, y0, x0 = (2 * s for s in start)
        src = np.stack([tifffile.imread(files[z]) for z in range(z0, z0 + 2 * b[0])])
        src = src[:, y0 : y0 + 2 * b[1], x0 : x0 + 2 * b[2]].astype(np.float64)
        blocks = src.reshape(b[0], 2, b[1], 2, b[2], 2).transpose(0, 2, 4, 1, 3, 5)
        blocks = blocks.reshape(*b, 8)
        res["l1_mean_err"] = float(np.abs(got1 - blocks.mean(axis=-1)).max())
        res["l1_median_err"] = float(np.abs(got1 - np.median(blocks, axis=-1)).max())
        res["l1_block"] = {"start_zyx": start, "shape_zyx": b}
        err = res.get(f"l1_{method}_err")
        if err is not None and err > 1.0:
            problems.append(f"level 1 is not a 2x2x2 {method}: max error {err:g}")

    if not problems:
        res["check"] = "ok*" if padded else "ok"
    elif padded:
        problems.append("shapes padded")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("output", type=Path)
    p.add_argument("tiffs", type=Path)
    p.add_argument("--levels", type=int, default=5)
    p.add_argument("--method", choices=("mean", "median"), default="mean")
    p.add_argument("--sharded", choices=("yes", "no"), help="require (un)sharded level 0")
    p.add_argument("--zstd-level", type=int, help="require this zstd level on level 0")
    args = p.parse_args()
    sharded = None if args.sharded is None else args.sharded == "yes"
    try:
        result = verify(
            args.output, args.tiffs, args.levels, args.method,
            sharded=sharded, zstd_level=args.zstd_level,
        )  # fmt: skip
    except Exception as exc:
        result = {"check": "FAIL", "problems": [f"verify crashed: {type(exc).__name__}: {exc}"]}
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()

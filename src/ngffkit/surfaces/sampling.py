"""Trilinear sampling of a volume along a surface: pure functions, no I/O.

Coordinates
    Surface points and normals are (x, y, z) in level-0 voxels, as the scroll tools write
    them (x = column, y = row, z = slice). Layer ``k`` of a pixel samples
    ``P + offsets[k] * n``. A :class:`LevelMap` takes a level-0 voxel coordinate to the
    voxel coordinate of the level being read (``c = q * mul + add`` per axis), from the
    levels' scale and translation; it is the identity for level 0. Both samplers compute
    ``c = (P * mul + add) + offsets[k] * (n * mul)`` in that order.

Sampling
    Trilinear between the 8 voxels around the point (interpolated along x, then y, then z,
    in float64). A point outside ``[0, extent - 1]`` on any axis samples 0, as does an
    invalid pixel. Integer volumes are rounded half up (``floor(v + 0.5)``) and clipped to
    the dtype's range; float volumes are cast.

The compiled kernel (:mod:`._sampling_numba`) and :func:`sample_reference` (plain numpy)
give bit-identical results; the tests compare them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
"""(start, stop) per axis, z, y, x, in the read level's voxels."""


@dataclass(frozen=True)
class LevelMap:
    """Level-0 voxel coordinates → one level's voxel coordinates, per axis x, y, z."""

    mul: tuple[float, float, float] = (1.0, 1.0, 1.0)
    add: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def between(
        cls,
        scale0: Sequence[float],
        translation0: Sequence[float],
        scale: Sequence[float],
        translation: Sequence[float],
    ) -> LevelMap:
        """From level 0's and the level's (z, y, x) scale and translation (physical units):
        ``physical = t0 + q * s0`` and ``c = (physical - t) / s``."""
        mul = [s0 / s for s0, s in zip(scale0, scale, strict=True)]
        add = [(t0 - t) / s for t0, t, s in zip(translation0, translation, scale, strict=True)]
        return cls((mul[2], mul[1], mul[0]), (add[2], add[1], add[0]))


def layer_offsets(layers: int, step: float) -> np.ndarray:
    """Offsets along the normal of the ``layers`` centred layers: ``(i - (N-1)/2) * step``."""
    return (np.arange(layers, dtype=np.float64) - (layers - 1) / 2.0) * float(step)


def sample_bounds(
    points: np.ndarray,
    normals: np.ndarray,
    valid: np.ndarray,
    offsets: np.ndarray,
    level_map: LevelMap,
    shape: Sequence[int],
) -> Box | None:
    """The box of voxels (z, y, x, clipped to ``shape``) the samples of these pixels read,
    or None when no sample falls inside the volume."""
    if not valid.any():
        return None
    p = points[valid]
    n = normals[valid]
    lo_off, hi_off = float(offsets.min()), float(offsets.max())
    ends = (p + lo_off * n, p + hi_off * n)
    box = []
    for axis in (2, 1, 0):  # z, y, x
        mul, add = level_map.mul[axis], level_map.add[axis]
        c0 = ends[0][:, axis] * mul + add
        c1 = ends[1][:, axis] * mul + add
        lo = float(min(c0.min(), c1.min()))
        hi = float(max(c0.max(), c1.max()))
        extent = int(shape[2 - axis])
        start = max(int(np.floor(lo)), 0)
        stop = min(int(np.floor(hi)) + 2, extent)
        if not (np.isfinite(lo) and np.isfinite(hi)) or start >= stop or hi < 0 or lo > extent - 1:
            return None
        box.append((start, stop))
    return (box[0], box[1], box[2])


def _rounding(dtype: np.dtype[Any]) -> tuple[bool, float, float]:
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return True, float(info.min), float(info.max)
    return False, 0.0, 0.0


def sample(
    block: np.ndarray,
    origin: Sequence[int],
    shape: Sequence[int],
    points: np.ndarray,
    normals: np.ndarray,
    valid: np.ndarray,
    offsets: np.ndarray,
    level_map: LevelMap,
    out: np.ndarray | None = None,
    *,
    compiled: bool = True,
) -> np.ndarray:
    """Sample ``len(offsets)`` layers of an (h, w) tile of pixels.

    ``block`` holds the voxels of the level from ``origin`` (z, y, x) on and must cover
    :func:`sample_bounds` of the same pixels; ``shape`` is the whole level's. Returns
    ``out`` (layers, h, w) in the block's dtype.
    """
    h, w = valid.shape
    if out is None:
        out = np.empty((len(offsets), h, w), dtype=block.dtype)
    if not compiled:
        return sample_reference(
            block, origin, shape, points, normals, valid, offsets, level_map, out
        )
    from ngffkit.surfaces._sampling_numba import sample_tile

    rounding, lo, hi = _rounding(block.dtype)
    # ``out`` may be a strided view (a tile of a band): the kernel writes through it.
    sample_tile(
        np.ascontiguousarray(block),
        np.asarray(origin, dtype=np.int64),
        np.asarray(shape, dtype=np.int64),
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(normals, dtype=np.float64),
        np.ascontiguousarray(valid),
        np.ascontiguousarray(offsets, dtype=np.float64),
        np.asarray(level_map.mul, dtype=np.float64),
        np.asarray(level_map.add, dtype=np.float64),
        out,
        rounding,
        lo,
        hi,
    )
    return out


def sample_reference(
    block: np.ndarray,
    origin: Sequence[int],
    shape: Sequence[int],
    points: np.ndarray,
    normals: np.ndarray,
    valid: np.ndarray,
    offsets: np.ndarray,
    level_map: LevelMap,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The same sampling in plain numpy, vectorised over pixels and layers (the reference
    the compiled kernel is checked against)."""
    h, w = valid.shape
    if out is None:
        out = np.empty((len(offsets), h, w), dtype=block.dtype)
    off = np.asarray(offsets, dtype=np.float64)[:, None, None]
    coords = []
    for axis in range(3):  # x, y, z: base + offset * direction, in the level's voxels
        base = points[:, :, axis] * level_map.mul[axis] + level_map.add[axis]
        direction = normals[:, :, axis] * level_map.mul[axis]
        coords.append(base[None] + off * direction[None])
    cx, cy, cz = coords
    sz, sy, sx = (int(s) for s in shape)
    inside = (
        valid[None]
        & (cx >= 0.0)
        & (cy >= 0.0)
        & (cz >= 0.0)
        & (cx <= sx - 1)
        & (cy <= sy - 1)
        & (cz <= sz - 1)
    )
    cx, cy, cz = (np.where(inside, c, 0.0) for c in (cx, cy, cz))
    x0, y0, z0 = (np.floor(c).astype(np.int64) for c in (cx, cy, cz))
    fx, fy, fz = cx - x0, cy - y0, cz - z0
    oz, oy, ox = (int(o) for o in origin)
    x1 = np.minimum(x0 + 1, sx - 1) - ox
    y1 = np.minimum(y0 + 1, sy - 1) - oy
    z1 = np.minimum(z0 + 1, sz - 1) - oz
    x0, y0, z0 = x0 - ox, y0 - oy, z0 - oz
    # Outside pixels were moved to coordinate 0, which may lie outside the block: read them
    # from index 0 of the block instead (their value is discarded).
    x0, x1, y0, y1, z0, z1 = (np.where(inside, i, 0) for i in (x0, x1, y0, y1, z0, z1))
    b = block.astype(np.float64, copy=False)
    gx = 1.0 - fx
    c00 = b[z0, y0, x0] * gx + b[z0, y0, x1] * fx
    c01 = b[z0, y1, x0] * gx + b[z0, y1, x1] * fx
    c10 = b[z1, y0, x0] * gx + b[z1, y0, x1] * fx
    c11 = b[z1, y1, x0] * gx + b[z1, y1, x1] * fx
    gy = 1.0 - fy
    c0 = c00 * gy + c01 * fy
    c1 = c10 * gy + c11 * fy
    v = c0 * (1.0 - fz) + c1 * fz
    rounding, lo, hi = _rounding(block.dtype)
    if rounding:
        v = np.clip(np.floor(v + 0.5), lo, hi)
    out[...] = np.where(inside, v, 0).astype(block.dtype)
    return out


__all__ = ["Box", "LevelMap", "layer_offsets", "sample", "sample_bounds", "sample_reference"]

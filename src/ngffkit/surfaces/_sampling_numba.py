"""The compiled trilinear sampler behind :mod:`ngffkit.surfaces.sampling` (not public).

It mirrors ``sampling.sample_reference`` operation by operation (same float64 arithmetic in
the same order, same rounding), because the two must agree bit for bit;
``tests/test_flatten_kernels.py`` checks that they do. ``nogil=True``: tiles render on
several threads at once.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, nogil=True)
def sample_tile(  # type: ignore[no-untyped-def]
    block,
    origin,
    shape,
    points,
    normals,
    valid,
    offsets,
    mul,
    add,
    out,
    rounding,
    lo,
    hi,
):
    oz, oy, ox = origin[0], origin[1], origin[2]
    sz, sy, sx = shape[0], shape[1], shape[2]
    xmax, ymax, zmax = sx - 1.0, sy - 1.0, sz - 1.0
    n_layers = offsets.shape[0]
    h, w = valid.shape
    for r in range(h):
        for c in range(w):
            if not valid[r, c]:
                for k in range(n_layers):
                    out[k, r, c] = 0
                continue
            # The pixel's line in the level's voxels: base + offset * direction.
            bx = points[r, c, 0] * mul[0] + add[0]
            by = points[r, c, 1] * mul[1] + add[1]
            bz = points[r, c, 2] * mul[2] + add[2]
            dx = normals[r, c, 0] * mul[0]
            dy = normals[r, c, 1] * mul[1]
            dz = normals[r, c, 2] * mul[2]
            for k in range(n_layers):
                off = offsets[k]
                cx = bx + off * dx
                cy = by + off * dy
                cz = bz + off * dz
                if not (
                    cx >= 0.0
                    and cy >= 0.0
                    and cz >= 0.0
                    and cx <= xmax
                    and cy <= ymax
                    and cz <= zmax
                ):
                    out[k, r, c] = 0
                    continue
                # Non-negative here, so truncation is the floor (and cheaper).
                x0 = int(cx)
                y0 = int(cy)
                z0 = int(cz)
                fx = cx - x0
                fy = cy - y0
                fz = cz - z0
                x1 = min(x0 + 1, sx - 1) - ox
                y1 = min(y0 + 1, sy - 1) - oy
                z1 = min(z0 + 1, sz - 1) - oz
                x0 -= ox
                y0 -= oy
                z0 -= oz
                gx = 1.0 - fx
                c00 = block[z0, y0, x0] * gx + block[z0, y0, x1] * fx
                c01 = block[z0, y1, x0] * gx + block[z0, y1, x1] * fx
                c10 = block[z1, y0, x0] * gx + block[z1, y0, x1] * fx
                c11 = block[z1, y1, x0] * gx + block[z1, y1, x1] * fx
                gy = 1.0 - fy
                c0 = c00 * gy + c01 * fy
                c1 = c10 * gy + c11 * fy
                v = c0 * (1.0 - fz) + c1 * fz
                if rounding:
                    v = math.floor(v + 0.5)
                    if v < lo:
                        v = lo
                    elif v > hi:
                        v = hi
                out[k, r, c] = v

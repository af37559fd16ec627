"""Analytic volumes and surfaces for the flatten tests.

The volume's value is ``A*x + B*y + C*z + D`` at every voxel; trilinear interpolation of a
linear function is exact, so the expected layer values come straight from the formula at
each sample point (rounded half up), with no sampler involved. Levels > 0 are the exact
2x2x2 means of level 0 (coefficients even, so the means are whole numbers), which is again
the same linear function at the coarse voxels' centres (translation 0.5 voxel).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ngffkit.spec import pyramid_spec
from ngffkit.writer import create_image, finish_image

A, B, C, D = 2, 4, 6, 10


def linear(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return A * x + B * y + C * z + D


def write_volume(
    path: Path,
    shape: tuple[int, int, int] = (48, 64, 80),
    *,
    levels: int = 2,
    chunks: int = 16,
    version: str = "0.5",
    dtype: str = "uint16",
) -> Path:
    spec = pyramid_spec(
        shape,
        dtype,
        voxel_size=7.91,
        unit="micrometer",
        levels=levels,
        chunks=chunks,
        version=version,
    )
    image = create_image(path, spec)
    for k, level in enumerate(image.levels):
        f = 2**k
        z, y, x = np.meshgrid(*[np.arange(s) * f + (f - 1) / 2 for s in level.shape], indexing="ij")
        level.write(linear(x, y, z).astype(dtype))
    finish_image(path, spec)
    return path


def plane_surface(
    h: int = 40,
    w: int = 52,
    *,
    normal: tuple[float, float, float] = (0.1, -0.2, 1.0),
    origin: tuple[float, float, float] = (10.13, 12.0, 20.21),
) -> np.ndarray:
    """(h, w, 6) records: a tilted plane with a constant (unnormalised) normal."""
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    rec = np.zeros((h, w, 6))
    rec[..., 0] = origin[0] + c * 0.9
    rec[..., 1] = origin[1] + r * 0.8 + 0.07 * c
    rec[..., 2] = origin[2] + 0.3 * r + 0.05 * c
    rec[..., 3:] = np.asarray(normal) * 2.0
    return rec


def write_ppm(path: Path, records: np.ndarray, *, extra_header: str = "") -> Path:
    h, w, _ = records.shape
    head = (
        f"width: {w}\nheight: {h}\ndim: 6\nordered: true\ntype: double\nversion: 1\n"
        f"{extra_header}<>\n"
    )
    with path.open("wb") as f:
        f.write(head.encode())
        f.write(records.astype("<f8").tobytes())
    return path


def write_tifxyz(
    folder: Path,
    grid: np.ndarray,
    scale: float,
    *,
    mask: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, axis in enumerate("xyz"):
        tifffile.imwrite(folder / f"{axis}.tif", grid[..., i].astype(np.float32))
    if mask is not None:
        tifffile.imwrite(folder / "mask.tif", mask.astype(np.uint8))
    body = {"format": "tifxyz", "scale": [scale, scale], "type": "seg", "uuid": folder.name}
    body.update(meta or {})
    (folder / "meta.json").write_text(json.dumps(body))
    return folder


def expected_layers(
    points: np.ndarray,
    normals: np.ndarray,
    valid: np.ndarray,
    layers: int,
    step: float,
    shape: tuple[int, int, int],
    dtype: str = "uint16",
    *,
    level: int = 0,
    flip: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(expected values, exact float values) from the formula; 0 outside the volume (of
    the level read; ``shape`` is that level's) and where invalid."""
    offsets = (np.arange(layers) - (layers - 1) / 2) * step
    n = normals / np.linalg.norm(normals, axis=-1, keepdims=True).clip(1e-300)
    if flip:
        n = -n
    q = points[None] + offsets[:, None, None, None] * n[None]
    exact = linear(q[..., 0], q[..., 1], q[..., 2])
    f = 2**level
    c = (q - (f - 1) / 2) / f  # the level's voxel coordinates
    sz, sy, sx = shape
    inside = (
        valid[None]
        & (c[..., 0] >= 0)
        & (c[..., 0] <= sx - 1)
        & (c[..., 1] >= 0)
        & (c[..., 1] <= sy - 1)
        & (c[..., 2] >= 0)
        & (c[..., 2] <= sz - 1)
    )
    info = np.iinfo(dtype)
    values = np.where(inside, np.clip(np.floor(exact + 0.5), info.min, info.max), 0)
    return values.astype(dtype), np.where(inside, exact, 0.0)


def assert_layers(got: np.ndarray, expected: tuple[np.ndarray, np.ndarray]) -> None:
    """Equal to the formula, except where the exact value is within 1e-6 of a .5 tie (float
    rounding may fall either way there)."""
    values, exact = expected
    assert got.shape == values.shape and got.dtype == values.dtype
    differ = got != values
    tie = np.abs((exact % 1.0) - 0.5) < 1e-6
    assert not (differ & ~tie).any(), np.argwhere(differ & ~tie)[:5]
    assert (np.abs(got.astype(np.float64) - values) <= 1).all()

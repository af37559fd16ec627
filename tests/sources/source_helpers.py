"""Helpers the source tests share: small real inputs and read checks."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ngffkit.sources import open_source

# awkward, odd sizes so strips, tiles and cells never line up with the data
SHAPE = (5, 37, 53)


def random_volume(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    """Random data over most of ``dtype``'s range."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt) * 1000
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)


def write_tiff_stack(
    folder: Path,
    volume: np.ndarray,
    pattern: str = "z{:04d}.tif",
    start: int = 0,
    **kwargs: Any,
) -> list[Path]:
    """One 2-D (or y,x,c) TIFF per z; ``kwargs`` go to ``tifffile.imwrite``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for z, plane in enumerate(volume):
        p = folder / pattern.format(z + start)
        tifffile.imwrite(p, plane, **kwargs)
        paths.append(p)
    return paths


#: The cell edge of the volume_grids the tests write.
CELL = 8


def write_grid(folder: Path, vol: np.ndarray, cell: int = CELL, **kwargs: Any) -> dict:
    """Cut ``vol`` (z,y,x) into cells named cell_yxz_YYY_XXX_ZZZ.tif (1-based)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    counts = [-(-n // cell) for n in vol.shape]
    for kz, ky, kx in itertools.product(*map(range, counts)):
        block = vol[
            kz * cell : (kz + 1) * cell, ky * cell : (ky + 1) * cell, kx * cell : (kx + 1) * cell
        ]
        p = folder / f"cell_yxz_{ky + 1:03d}_{kx + 1:03d}_{kz + 1:03d}.tif"
        tifffile.imwrite(p, block, photometric="minisblack", **kwargs)
        paths[(kz, ky, kx)] = p
    return paths


def windows(shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Full box, single voxels, edges and boxes crossing strip/cell boundaries."""
    full = tuple(slice(0, n) for n in shape)
    boxes = [full]
    # a box of about the middle half of every axis, one of the low corner, one of the high
    boxes.append(tuple(slice(n // 4, max(n // 4 + 1, 3 * n // 4)) for n in shape))
    boxes.append(tuple(slice(0, max(1, n // 3)) for n in shape))
    boxes.append(tuple(slice(n - 1 - (n // 3), n) for n in shape))
    boxes.append(tuple(slice(n // 2, n // 2 + 1) for n in shape))
    boxes.append(tuple(slice(1, n - 1) if n > 2 else slice(0, n) for n in shape))
    return boxes


def assert_reads(src: Any, expected: np.ndarray) -> None:
    """Every window reads as the same slice of ``expected``; the spec reopens equal."""
    assert src.shape == expected.shape
    assert src.dtype == expected.dtype
    for box in windows(expected.shape):
        got = src.read(box)
        assert got.flags.c_contiguous
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected[box], err_msg=str(box))
        # read_into (the bricks' reused buffer) reads the same into a used buffer: what
        # the input lacks (gaps) reads as 0, not as what the buffer held
        used = np.full(got.shape, 7, expected.dtype)
        assert src.read_into(box, used) is used
        np.testing.assert_array_equal(used, expected[box], err_msg=str(box))
    spec = pickle.loads(pickle.dumps(src.spec()))
    assert spec == src.spec()
    with open_source(spec) as again:
        assert again.shape == src.shape and again.axes == src.axes
        box = windows(expected.shape)[1]
        np.testing.assert_array_equal(again.read(box), expected[box])

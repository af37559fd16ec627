"""A label volume four times ``--max-memory`` is added within it (sampled from outside, as
tests/test_flatten_memory.py does), reading it twice: the value scan and the bricks.

The plan's base is measured (numba and its kernels, cached or compiled, on any Python), so
this holds on 3.11 and 3.13 alike; raw files are read by bounded preads
(tests/test_memory_base.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

import ngffkit
from ngffkit.spec import pyramid_spec
from ngffkit.writer import create_image, finish_image
from test_flatten_memory import run_sampled

SHAPE = (160, 1280, 1536)  # uint32: 1.26 GB


@pytest.mark.slow
def test_label_volume_four_times_the_memory_budget(tmp_path: Path) -> None:
    budget = 300 << 20
    # the image: its layout only (no chunk is stored: all fill value)
    spec = pyramid_spec(
        SHAPE, "uint8", voxel_size=1.0, unit="micrometer", levels=4, chunks=64, shards=128
    )
    create_image(tmp_path / "img.ome.zarr", spec)
    finish_image(tmp_path / "img.ome.zarr", spec)
    # blocky labels, values up to 35207 (uint16 after the scan), a uint32 TIFF per slice
    stack = tmp_path / "seg"
    stack.mkdir()
    y, x = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    for z in range(SHAPE[0]):
        plane = ((z // 20) * 5000 + (y // 100) * 16 + x // 100).astype(np.uint32)
        tifffile.imwrite(stack / f"{z:05d}.tif", plane)
    assert sum(p.stat().st_size for p in stack.iterdir()) >= 4 * budget
    code, stderr, peak = run_sampled(
        [
            "labels",
            "add",
            str(tmp_path / "img.ome.zarr"),
            str(stack),
            "--name",
            "cells",
            "--max-memory",
            "300M",
            "--jobs",
            "2",
            "-q",
        ]
    )
    assert code == 0, stderr
    assert 0 < peak <= budget, f"peak {peak >> 20} MiB for a {budget >> 20} MiB budget"
    label = ngffkit.open(tmp_path / "img.ome.zarr").label("cells")
    assert label.dtype == np.uint16 and len(label.levels) == 4
    plane = label.levels[0][100, :, :]
    y, x = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    np.testing.assert_array_equal(plane, 5 * 5000 + (y // 100) * 16 + x // 100)
    assert (label.multiscale.metadata or {})["label_values"]["max"] == 7 * 5000 + 12 * 16 + 15

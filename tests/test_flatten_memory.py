"""Memory stays within --max-memory when the output is four times larger than it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from flatten_helpers import write_tifxyz, write_volume


@pytest.mark.slow
def test_output_four_times_the_memory_budget(tmp_path: Path, run_ngff: Any) -> None:
    # float64 voxels: 8 bytes a sample, so 1.6 GB of output is only 200 M samples.
    volume = write_volume(
        tmp_path / "vol.ome.zarr", (64, 96, 96), levels=1, chunks=32, dtype="float64"
    )
    r, c = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    grid = np.stack([10 + 8.0 * c, 10 + 8.0 * r, 30 + 0.5 * r + 0.25 * c], axis=-1)
    surface = write_tifxyz(tmp_path / "seg", grid, 9 / 1819)  # 1820 x 1820 px
    budget = 400 << 20
    out = tmp_path / "out"
    done = run_ngff(
        "flatten",
        surface,
        volume,
        out,
        "--max-memory",
        "400M",
        "--cache-size",
        "32M",
        "--jobs",
        "2",
        "-q",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    written = sum(p.stat().st_size for p in out.iterdir())
    assert written >= 4 * budget
    peak = int(re.search(r"peak memory (\d+) MiB", done.stderr).group(1)) << 20
    assert peak <= budget, f"peak {peak >> 20} MiB for a {budget >> 20} MiB budget"
    with tifffile.TiffFile(out / "32.tif") as tif:
        assert tif.pages[0].shape == (1820, 1820) and tif.pages[0].dtype == np.float64

"""Memory stays within --max-memory when the output is four times larger than it.

The peak is sampled from outside (psutil, every 20 ms): the command's own ``ru_maxrss``
can start at the parent's size (Linux keeps it across fork and exec), which under a long
pytest run is far above the budget.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import tifffile

from _support import ngff_command, src_env
from flatten_helpers import write_tifxyz, write_volume


def run_sampled(args: list[str], timeout: float = 600) -> tuple[int, str, int]:
    """(exit status, stderr, peak RSS in bytes) of ``python -m ngffkit *args``."""
    env = src_env()
    proc = subprocess.Popen(
        ngff_command(*args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    watched = psutil.Process(proc.pid)
    peak = 0
    started = time.monotonic()
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):  # it may just have ended
            peak = max(peak, watched.memory_info().rss)
        if time.monotonic() - started > timeout:
            proc.kill()
        time.sleep(0.02)
    assert proc.stderr is not None
    with proc.stderr:
        return proc.returncode, proc.stderr.read(), peak


@pytest.mark.slow
def test_output_four_times_the_memory_budget(tmp_path: Path) -> None:
    # float64 voxels: 8 bytes a sample, so 1.7 GB of output is only 215 M samples.
    volume = write_volume(
        tmp_path / "vol.ome.zarr", (64, 96, 96), levels=1, chunks=32, dtype="float64"
    )
    r, c = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    grid = np.stack([10 + 8.0 * c, 10 + 8.0 * r, 30 + 0.5 * r + 0.25 * c], axis=-1)
    surface = write_tifxyz(tmp_path / "seg", grid, 9 / 1819)  # 1820 x 1820 px
    budget = 400 << 20
    out = tmp_path / "out"
    code, stderr, peak = run_sampled(
        [
            "flatten",
            str(surface),
            str(volume),
            str(out),
            "--max-memory",
            "400M",
            "--cache-size",
            "32M",
            "--jobs",
            "2",
            "-q",
        ]
    )
    assert code == 0, stderr
    written = sum(p.stat().st_size for p in out.iterdir())
    assert written >= 4 * budget
    assert 0 < peak <= budget, f"peak {peak >> 20} MiB for a {budget >> 20} MiB budget"
    with tifffile.TiffFile(out / "32.tif") as tif:
        assert tif.pages[0].shape == (1820, 1820) and tif.pages[0].dtype == np.float64

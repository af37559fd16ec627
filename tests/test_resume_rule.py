"""One rule decides ``--resume`` for every command that can be interrupted (convert,
downsample, compress --output): ``markers.check_resume``. A rerun with a changed option
is refused in the same words by each, naming the option that starts again instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import ngffkit
from _support import run_cli
from ngffkit import ConflictError
from ngffkit.markers import DOWNSAMPLE_MARKER, PARTIAL_MARKER


def refused(work: str, restart: str) -> re.Pattern[str]:
    """The error line (the last of stderr; a warning about the input may come first)."""
    return re.compile(
        rf"^Error: \S+: the interrupted {work} was started with a different input or "
        rf"options; resume with the same command, or start again with --{restart}\n\Z",
        re.M,
    )


def _stop(done: int, total: int) -> None:
    """A progress callback that interrupts the run at its first report."""
    raise KeyboardInterrupt


@pytest.fixture
def slices(tmp_path: Path) -> Path:
    folder = tmp_path / "slices"
    folder.mkdir()
    data = np.random.default_rng(3).integers(0, 4000, (32, 64, 64), dtype=np.uint16)
    for z, plane in enumerate(data):
        tifffile.imwrite(folder / f"s{z:03d}.tif", plane)
    return folder


def _interrupted(call: Any) -> None:
    with pytest.raises(KeyboardInterrupt):
        call(progress=_stop)


def test_convert(slices: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ome.zarr"
    _interrupted(lambda **kw: ngffkit.convert(slices, out, chunks=16, jobs=1, **kw))
    assert (out / PARTIAL_MARKER).exists()
    done = run_cli("convert", slices, out, "--chunks", "32", "--resume", "-q")
    assert done.returncode == 1 and refused("conversion", "overwrite").search(done.stderr)
    # the library says it in its own words
    with pytest.raises(ConflictError, match=r"start again with overwrite=True$"):
        ngffkit.convert(slices, out, chunks=32, resume=True)
    # the same options continue
    assert run_cli("convert", slices, out, "--chunks", "16", "--resume", "-q").returncode == 0


def test_downsample(slices: Path, tmp_path: Path) -> None:
    out = tmp_path / "one.ome.zarr"
    ngffkit.convert(slices, out, chunks=16, levels=1)
    _interrupted(lambda **kw: ngffkit.downsample(out, levels=3, jobs=1, **kw))
    assert (out / DOWNSAMPLE_MARKER).exists()
    done = run_cli("downsample", out, "--levels", "2", "--resume", "-q")
    assert done.returncode == 1 and refused("downsample", "rebuild").search(done.stderr)
    assert run_cli("downsample", out, "--levels", "3", "--resume", "-q").returncode == 0


def test_compress(slices: Path, tmp_path: Path) -> None:
    image, out = tmp_path / "in.ome.zarr", tmp_path / "out.ome.zarr"
    ngffkit.convert(slices, image, chunks=16)
    _interrupted(lambda **kw: ngffkit.compress(image, output=out, compression="gzip", jobs=1, **kw))
    assert (out / PARTIAL_MARKER).exists()
    done = run_cli("compress", image, "--output", out, "--compression", "zstd", "--resume")
    assert done.returncode == 1 and refused("compress", "overwrite").search(done.stderr)
    again = run_cli("compress", image, "--output", out, "--compression", "gzip", "--resume")
    assert again.returncode == 0, again.stderr

"""``ngff validate --data`` (issue 12, defect 5): every stored chunk or shard is read and
decoded, and each that fails is named by its key. Corruption is done to real chunk files."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ngffkit._convert import convert
from ngffkit.datacheck import check_data
from ngffkit.samples import scroll_volume

RunNgff = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sharded(tmp_path: Path) -> Path:
    volume = scroll_volume((40, 70, 90), "uint16", seed=5)
    np.save(tmp_path / "v.npy", volume)
    out = tmp_path / "img.ome.zarr"
    src = tmp_path / "stack"
    src.mkdir()

    for z, plane in enumerate(volume):
        tifffile.imwrite(src / f"{z:03d}.tif", plane)
    convert(src, out, chunks=16, shards=32, levels=2, voxel_size=1.0, unit="micrometer")
    return out


def test_a_good_image_passes(sharded: Path, run_cli: RunNgff) -> None:
    assert check_data(sharded) == []
    done = run_cli("validate", "--data", sharded)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every stored chunk read and decoded" in done.stdout


def test_truncated_shard_is_named(sharded: Path, run_cli: RunNgff) -> None:
    shard = sharded / "0/c/1/0/2"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    fast = run_cli("validate", sharded)
    assert fast.returncode == 0  # the default reads no chunk, and stays fast
    done = run_cli("validate", "--data", sharded)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✗ 0/c/1/0/2: cannot be read or decoded" in done.stdout
    assert "Traceback" not in done.stderr
    assert [f.where for f in check_data(sharded)] == ["0/c/1/0/2"]
    report = json.loads(run_cli("validate", "--data", "--json", sharded).stdout)
    assert report["data_checked"] and not report["valid"]


def test_chunk_in_the_wrong_codec_is_named(tmp_path: Path, run_cli: RunNgff) -> None:
    volume = scroll_volume((20, 30, 40), "uint8", seed=2)

    src = tmp_path / "stack"
    src.mkdir()
    for z, plane in enumerate(volume):
        tifffile.imwrite(src / f"{z:03d}.tif", plane)
    out = tmp_path / "v04.zarr"
    convert(src, out, version="0.4", chunks=16, levels=2, compression="zstd:3")
    chunk = out / "0/1/1/1"  # a zstd chunk, replaced by the same voxels in gzip
    assert chunk.is_file()
    chunk.write_bytes(gzip.compress(np.zeros((16, 16, 16), np.uint8).tobytes()))
    done = run_cli("validate", "--data", out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✗ 0/1/1/1: cannot be read or decoded" in done.stdout
    assert done.stdout.count("✗") == 1

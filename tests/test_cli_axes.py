"""Which input axis became which output axis is said by --dry-run and info (issue 12,
defect 3), and an N5 volume without ``axes`` converts untransposed end to end."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorstore as ts
import zarr

RunNgff = Callable[..., subprocess.CompletedProcess[str]]


def test_n5_converts_untransposed_and_says_how(tmp_path: Path, run_cli: RunNgff) -> None:
    z, y, x = np.meshgrid(np.arange(6), np.arange(10), np.arange(14), indexing="ij")
    vol = (z * 10000 + y * 100 + x).astype(np.uint32)
    store = ts.open(
        {
            "driver": "n5",
            "kvstore": {"driver": "file", "path": str(tmp_path / "v.n5")},
            "metadata": {"compression": {"type": "gzip"}},
        },
        create=True,
        dtype=ts.uint32,
        shape=vol.T.shape,
    ).result()
    store.write(vol.T).result()  # N5: x,y,z, fastest first
    dry = run_cli("convert", tmp_path / "v.n5", tmp_path / "o.zarr", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        "input axes: n5 dimensions x,y,z (shape 14×10×6; N5 order, fastest first: no "
        "'axes' attribute) -> z,y,x"
    ) in dry.stdout
    done = run_cli(
        "convert",
        tmp_path / "v.n5",
        tmp_path / "o.zarr",
        "--voxel-size",
        "4,4,40",
        "--unit",
        "nanometer",
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "o.zarr/0"))[...], vol)
    info = run_cli("info", tmp_path / "o.zarr")
    assert "input axes: n5 dimensions x,y,z" in info.stdout, info.stdout
    described = json.loads(run_cli("info", "--json", tmp_path / "o.zarr").stdout)
    assert described["input_axes"].endswith("-> z,y,x")

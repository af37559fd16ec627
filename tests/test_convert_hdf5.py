"""ngff convert from HDF5: every layout and filter, voxel by voxel, and bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest

import ngffkit
from _support import src_env
from ngffkit.samples import scroll_volume
from run_helpers import ngff

LAYOUTS: dict[str, dict[str, Any]] = {
    "gzip": {"chunks": (8, 32, 32), "compression": "gzip", "compression_opts": 4},
    "blosc": {
        "chunks": (8, 32, 32),
        **hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE),
    },
    "contiguous": {},
    "lzf": {"chunks": (4, 64, 64), "compression": "lzf"},
    "bitshuffle-lz4": {"chunks": (8, 32, 32), **hdf5plugin.Bitshuffle(cname="lz4")},
}


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return scroll_volume((37, 101, 83), "uint16", seed=11)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_convert_equals_the_dataset(tmp_path: Path, volume: np.ndarray, layout: str) -> None:
    path = tmp_path / "in.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("volumes/raw", data=volume, **LAYOUTS[layout])
        f["volumes/raw"].attrs["resolution"] = [40, 4, 4]  # CREMI: z,y,x in nm
        f.create_dataset("volumes/labels/clefts", data=volume[:, :10] > 2000)
    image = ngffkit.convert(
        f"{path}:/volumes/raw",
        tmp_path / "out.ome.zarr",
        chunks=16,
        shards=32,
        levels=2,
        max_memory=200 << 20,
    )
    assert isinstance(image, ngffkit.Image)
    np.testing.assert_array_equal(image.read(), volume)
    assert image.voxel_size == {"z": 40.0, "y": 4.0, "x": 4.0}
    assert image.units["x"] == "nanometer"
    assert ngffkit.validate(image.url).valid


def test_a_channel_axis_converts(tmp_path: Path, volume: np.ndarray) -> None:
    data = np.stack([volume, volume // 2, 65535 - volume])
    path = tmp_path / "ilastik.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset(
            "exported_data", data=data, chunks=(1, 8, 32, 32), **hdf5plugin.Blosc(cname="lz4")
        )
        d.attrs["element_size_um"] = [0.5, 0.25, 0.25]  # z,y,x in micrometres
    image = ngffkit.convert(
        path, tmp_path / "out.ome.zarr", chunks=16, levels=2, input_format="hdf5"
    )
    assert isinstance(image, ngffkit.Image)
    assert image.axis_names == ("c", "z", "y", "x")
    np.testing.assert_array_equal(image.read(), data)
    assert image.voxel_size == {"z": 0.5, "y": 0.25, "x": 0.25}
    assert image.units["z"] == "micrometer"


def test_cli_names_the_dataset_and_refuses_ambiguity(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "sample_A.hdf"
    with h5py.File(path, "w") as f:
        f.create_dataset("volumes/raw", data=volume, chunks=(8, 32, 32), compression="gzip")
        f.create_dataset("volumes/labels/neuron_ids", data=volume.astype(np.uint64))
    out = tmp_path / "raw.ome.zarr"
    done = ngff("convert", f"{path}:/volumes/raw", str(out), "-q", "--chunks", "32")
    _, stderr = done.communicate(timeout=300)
    assert done.returncode == 0, stderr
    np.testing.assert_array_equal(ngffkit.open(out).read(), volume)
    refused = ngff("convert", str(path), str(tmp_path / "o2.zarr"))
    _, stderr = refused.communicate(timeout=120)
    assert refused.returncode != 0 and "Traceback" not in stderr
    assert "holds 2 datasets of 3 or more dimensions" in stderr
    assert "/volumes/labels/neuron_ids" in stderr and "/volumes/raw" in stderr
    assert not (tmp_path / "o2.zarr").exists()


def test_memory_stays_in_budget_on_a_volume_4x_the_budget(tmp_path: Path) -> None:
    """The conversion's own memory (anonymous pages, sampled every 10 ms) stays under
    ``--max-memory`` on a compressed, chunked dataset four times that size. Library code
    mapped from files (tensorstore, HDF5: shared with every process using them) is left
    out; the kernel's peak RSS, code included, is printed with any failure."""
    budget = 200 << 20
    shape = (100, 2048, 2048)  # 800 MiB of uint16: 4x the budget
    path = tmp_path / "big.h5"
    plane = scroll_volume((1, 2048, 2048), "uint16", seed=2)[0]
    with h5py.File(path, "w") as f:
        d = f.create_dataset(
            "data",
            shape=shape,
            dtype="uint16",
            chunks=(16, 256, 256),
            **hdf5plugin.Blosc(cname="lz4"),
        )
        for z in range(shape[0]):
            d[z] = np.roll(plane, z * 7, axis=1)
    assert shape[0] * shape[1] * shape[2] * 2 >= 4 * budget
    out = tmp_path / "out.ome.zarr"
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(out), str(budget)],
        env=src_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    anon, hwm = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 2**20
    assert anon <= budget, (
        f"anonymous memory peaked at {anon / mib:.0f} MiB (RSS "
        f"{hwm / mib:.0f} MiB) over the {budget / mib:.0f} MiB budget"
    )
    image = ngffkit.open(out)
    with h5py.File(path, "r") as f:
        for z in (0, 37, 99):
            np.testing.assert_array_equal(image.levels[0][z], f["data"][z])


MEASURE = """
import json, sys, threading, time
import ngffkit

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0

peak = 0
done = threading.Event()

def sample():
    global peak
    while not done.is_set():
        peak = max(peak, status("RssAnon"))
        time.sleep(0.01)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
ngffkit.convert(sys.argv[1], sys.argv[2], max_memory=int(sys.argv[3]), jobs=2)
done.set()
sampler.join()
print(json.dumps([peak, status("VmHWM")]))
"""

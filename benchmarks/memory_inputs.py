"""What bench_memory_jobs.py and tests/test_memory_jobs.py share: the child that reports its
own peak, and the volume written as every input kind.

* :data:`PEAK` — ``python -c PEAK HOLD ngff-args…`` runs ``ngff`` in this process after
  holding ``HOLD`` bytes more (a heavier process: a newer Python, a bigger library), and
  writes its exact peak resident memory (``VmHWM``, the kernel's high-water mark) to stderr
  as it exits; :func:`peak_bytes` reads it back. The child reports it itself: wait4's
  ``ru_maxrss`` is not used, because Linux carries the spawning process's high-water mark
  through exec into the child's (a bench that had just written its inputs, 600 MiB, made every
  run read 600 MiB); samples taken every few ms miss short peaks by up to 30 MiB.
* :func:`write_inputs` — one uint16 volume as a TIFF folder, one multi-page TIFF, a raw file,
  an HDF5 dataset and a Zarr array, plus a uint32 label stack of the same shape; returns each
  kind's ``ngff convert`` input arguments (``labels``: the label stack's folder).

The test imports this file by its path (benchmarks/ is not a package).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

PEAK = """
import sys
import numpy as np
held = np.ones(int(sys.argv[1]), np.uint8)  # what the process holds more before it plans
sys.argv = ["ngff", *sys.argv[2:]]
from ngffkit.cli.entry import main
try:
    main()
finally:
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    sys.stderr.write("\\n" + hwm)
"""


def peak_bytes(stderr: str) -> int | None:
    """The exact peak resident bytes a :data:`PEAK` child wrote, or None (it did not get there)."""
    found = re.search(r"VmHWM:\s+(\d+) kB", stderr)
    return None if found is None else int(found[1]) * 1024


def plane(shape: tuple[int, int, int], z: int) -> np.ndarray:
    """Slice ``z``: a smooth ramp with noise, so that compression has realistic work."""
    rng = np.random.default_rng(z)
    y, x = np.mgrid[0 : shape[1], 0 : shape[2]]
    ramp: np.ndarray = (y // 4 + x // 8 + 37 * z) % 4096
    return (ramp + rng.integers(0, 64, shape[1:])).astype(np.uint16)


def label_plane(shape: tuple[int, int, int], z: int) -> np.ndarray:
    """Slice ``z`` of the label stack: 100-voxel squares, a new set every 16 slices."""
    y, x = np.mgrid[0 : shape[1], 0 : shape[2]]
    labels: np.ndarray = (z // 16) * 5000 + (y // 100) * 32 + x // 100
    return labels.astype(np.uint32)


def write_inputs(folder: Path, shape: tuple[int, int, int]) -> dict[str, list[str]]:
    """The volume of ``shape`` (z, y, x) as every input kind under ``folder`` (written once: a
    ``.complete`` file marks it done); each kind's input arguments."""
    import h5py
    import tensorstore as ts
    import tifffile

    nz, ny, nx = shape
    done = folder / ".complete"
    if not done.exists():
        for sub in ("tiffs", "labels"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        zarr = ts.open(
            {
                "driver": "zarr3",
                "kvstore": {"driver": "file", "path": str(folder / "volume.zarr")},
                "metadata": {
                    "shape": list(shape),
                    "data_type": "uint16",
                    "chunk_grid": {
                        "name": "regular",
                        "configuration": {"chunk_shape": [16, 256, 256]},
                    },
                },
                "create": True,
                "delete_existing": True,
            }
        ).result()
        with (
            (folder / "volume.raw").open("wb") as raw,
            tifffile.TiffWriter(folder / "volume.tif", bigtiff=True) as multi,
            h5py.File(folder / "volume.h5", "w") as h5,
        ):
            dset = h5.create_dataset("vol", shape, "uint16", chunks=(16, 256, 256))
            for z in range(nz):
                data = plane(shape, z)
                raw.write(data.tobytes())
                multi.write(data, contiguous=True)
                tifffile.imwrite(folder / "tiffs" / f"z{z:04d}.tif", data)
                dset[z] = data
                zarr[z].write(data).result()
                tifffile.imwrite(folder / "labels" / f"z{z:04d}.tif", label_plane(shape, z))
        done.touch()
    raw_args = ["--raw-shape", f"{nx},{ny},{nz}", "--raw-dtype", "uint16"]
    return {
        "raw": [str(folder / "volume.raw"), *raw_args],
        "tiff": [str(folder / "volume.tif")],
        "tiff-folder": [str(folder / "tiffs")],
        "zarr": [str(folder / "volume.zarr")],
        "hdf5": [f"{folder / 'volume.h5'}:/vol"],
        "labels": [str(folder / "labels")],
    }

"""Label images: the ``mode`` kernel per core, and ``ngff labels add`` against ome-zarr-py.

    python benchmarks/bench_labels.py                        # kernels + end to end
    python benchmarks/bench_labels.py --repeat 7 --shape 64 512 512
    python benchmarks/bench_labels.py --skip-end-to-end

Kernel: one thread, Gvox/s of input voxels from this thread's CPU time (the machine is shared;
the clock counts the others' work too), best and median of ``--repeat`` timed calls after a
warm-up. Labels as in ``bench_kernels.py``: ``labels`` (wavy-walled regions about 24 voxels
across, ~13 % of 2x2x2 blocks mixed) and ``labels-random`` (4 labels at random per voxel:
every block mixed, the worst case). Issue 15's floor: 1 Gvox/s per core on realistic labels,
uint32 with (1,2,2) and 64-bit included.

End to end: a TIFF stack of labels (uint32 input holding values < 65536) added to an image
with ``ngff labels add`` (scan + write of every level, ``--jobs``), against ome-zarr-py's
``write_labels`` (nearest downsampling, the whole array in memory) writing the same levels;
wall time of each, interleaved, best and median, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_kernels import wavy_labels

from ngffkit import kernels as K

FACTORS = [(1, 2, 2), (2, 2, 2), (2, 2, 1), (2, 1, 1)]
DTYPES = ["uint32", "uint64", "int64"]


def cpu_rates(fn: Any, voxels: int, repeat: int) -> list[float]:
    fn()  # warm-up (loads or compiles the kernel)
    out = []
    for _ in range(repeat):
        c0 = time.thread_time()
        fn()
        out.append(voxels / max(time.thread_time() - c0, 1e-9) / 1e9)
    return out


def kernels(args: argparse.Namespace) -> None:
    shape = tuple(args.shape)
    voxels = int(np.prod(shape))
    rng = np.random.default_rng(0)
    print(f"# mode kernel, shape {shape}, one thread, Gvox/s (CPU time), {args.repeat} runs")
    print(f"{'data':14} {'dtype':7} {'factors':10} {'best':>6} {'median':>7}")
    for dtype in DTYPES:
        data = {
            "labels": wavy_labels(shape, dtype, rng),
            "labels-random": rng.integers(1, 5, shape).astype(dtype),
        }
        for kind, volume in data.items():
            for factors in FACTORS:
                rates = cpu_rates(
                    lambda v=volume, f=factors: K.downsample(v, f, "mode", compiled=True),
                    voxels,
                    args.repeat,
                )
                print(
                    f"{kind:14} {dtype:7} {factors!s:10} {max(rates):6.2f} "
                    f"{statistics.median(rates):7.2f}"
                )


def end_to_end(args: argparse.Namespace) -> None:
    import tifffile
    import zarr
    from ome_zarr.writer import write_image, write_labels

    shape = tuple(args.stack)
    rng = np.random.default_rng(1)
    root = Path(tempfile.mkdtemp(prefix="bench-labels-"))
    try:
        seg = wavy_labels(shape, "uint32", rng) % 60000
        stack = root / "seg"
        stack.mkdir()
        for z, plane in enumerate(seg):
            tifffile.imwrite(stack / f"{z:05d}.tif", plane)
        raw = root / "raw"
        raw.mkdir()
        for z in range(shape[0]):
            tifffile.imwrite(raw / f"{z:05d}.tif", np.zeros(shape[1:], np.uint8))
        image = root / "img.ome.zarr"
        ngff = [sys.executable, "-m", "ngffkit"]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        subprocess.run(
            [*ngff, "convert", raw, image, "--levels", "4", "--chunks", "64", "-q"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        levels = 4
        peer_root = root / "peer.ome.zarr"

        def ours() -> None:
            subprocess.run(
                [*ngff, "labels", "add", image, stack, "--name", "cells", "--overwrite", "-q"],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
            )

        def peer() -> None:
            shutil.rmtree(peer_root, ignore_errors=True)
            data = np.stack([tifffile.imread(p) for p in sorted(stack.iterdir())])
            peer_root.mkdir()
            group = zarr.open_group(str(peer_root), mode="w")
            write_image(
                np.zeros_like(data, np.uint8),
                group,
                axes="zyx",
                scaler=None,
                storage_options={"chunks": (64, 64, 64)},
            )
            write_labels(
                data,
                group,
                name="cells",
                axes="zyx",
                scale_factors=[{"z": 2, "y": 2, "x": 2}] * (levels - 1),
            )

        times: dict[str, list[float]] = {"ngffkit labels add": [], "ome-zarr-py write_labels": []}
        for _ in range(args.e2e_repeat):
            for name, fn in (("ngffkit labels add", ours), ("ome-zarr-py write_labels", peer)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        mb = seg.nbytes / 1e6
        print(f"\n# end to end: {shape} uint32 labels ({mb:.0f} MB), {args.e2e_repeat} runs")
        for name, ts in times.items():
            print(
                f"{name:26} best {min(ts):6.2f} s  median {statistics.median(ts):6.2f} s  "
                f"({mb / min(ts):.0f} MB/s best)"
            )
        ratio = min(times["ome-zarr-py write_labels"]) / min(times["ngffkit labels add"])
        print(f"ratio (peer time / ngffkit time, best): {ratio:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 512, 512])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stack", type=int, nargs=3, default=[64, 1024, 1024])
    parser.add_argument("--e2e-repeat", type=int, default=3)
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()
    kernels(args)
    if not args.skip_end_to_end:
        end_to_end(args)


if __name__ == "__main__":
    main()

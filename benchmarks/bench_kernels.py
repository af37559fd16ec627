"""Kernel throughput: every method x dtype x factor, one thread, input voxels per second.

    python benchmarks/bench_kernels.py                      # full matrix, 128x512x512
    python benchmarks/bench_kernels.py --methods mean mode --dtypes uint8 uint16 uint32
    python benchmarks/bench_kernels.py --shape 256 512 512 --repeat 5

Gvox/s counts *input* voxels (targets: 2x2x2 mean >= 1 on uint8/uint16,
mode on labels >= 1, (1,2,2) as fast as (2,2,2)). Each figure is the best of ``--repeat``
timed calls after one untimed warm-up (which also compiles or loads the numba kernel). The two
baselines (CPU time) are timed on a 32-slice slab:
``numpy``, ngffkit's own numpy path for the same method (what runs when the compiled kernels
do not apply), and ``int-pairs``, a plain strided-view integer mean like the peer-benchmark
baseline (~1.7 GB/s there). A separate section times numba's first-call compile in a fresh
cache directory and the load from the warm cache, each in a subprocess.

Mode is timed on two label volumes: ``labels``, wavy-walled regions about 24 voxels across
(roughly 10 % of 2x2x2 blocks hold more than one label), and ``labels-random``, 4 labels
drawn at random per voxel, so every block is mixed (the worst case).
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ngffkit import _kernels_numpy as KN
from ngffkit import kernels as K

Array = npt.NDArray[Any]

FACTORS = [(2, 2, 2), (1, 2, 2), (2, 2, 1), (2, 1, 1)]
DTYPES = ["uint8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"]


def intensity(shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> Array:
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape, dtype=np.float32).astype(dt)
    hi = min(np.iinfo(dt).max, 60000)
    return rng.integers(0, hi, shape, dtype=dt)


def wavy_labels(
    shape: tuple[int, ...], dtype: str, rng: np.random.Generator, cell: int = 24
) -> Array:
    z, y, x = (np.arange(n) for n in shape)
    coarse = rng.integers(1, 2**31, tuple(n // cell + 3 for n in shape)).astype(dtype)
    # Sine-warped grid: walls that are not aligned with the blocks, as in real segmentations.
    iz = ((z[:, None] + 6 + 5 * np.sin(y[None, :] / 17)) // cell).astype(np.intp)
    iy = ((y[:, None] + 6 + 5 * np.sin(x[None, :] / 13)) // cell).astype(np.intp)
    ix = ((x[:, None] + 6 + 5 * np.sin(z[None, :] / 11)) // cell).astype(np.intp)
    return np.ascontiguousarray(coarse[iz[:, :, None], iy[None, :, :], ix.T[:, None, :]])


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time of this thread (robust to other jobs on the box)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return min(wall), min(cpu)


def int_pairs_mean(data: Array, factors: tuple[int, ...]) -> Array:
    """Plain numpy: sum strided views in a wider integer, round, cast back."""
    acc = np.zeros(K.output_shape(data.shape, factors), np.int32)
    for off in np.ndindex(*factors):
        view = data[tuple(slice(o, None, f) for o, f in zip(off, factors, strict=True))]
        acc[tuple(slice(0, n) for n in view.shape)] += view
    n = int(np.prod(factors))
    return ((acc + n // 2) // n).astype(data.dtype)


def mixed_fraction(data: Array) -> float:
    z, y, x = (n - n % 2 for n in data.shape)
    blocks = data[:z, :y, :x].reshape(z // 2, 2, y // 2, 2, x // 2, 2)
    return float((blocks.min(axis=(1, 3, 5)) != blocks.max(axis=(1, 3, 5))).mean())


def run_matrix(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    shape = tuple(args.shape)
    voxels = int(np.prod(shape))
    print(f"# kernels, shape {shape} ({voxels / 1e6:.1f} Mvox), best of {args.repeat}, one thread")
    print("# Gvox/s of input voxels; 'cpu' uses this thread's CPU time, 'wall' the clock")
    print(
        f"{'method':<8} {'data':<14} {'dtype':<8} {'factors':<10} {'wall':>6} {'cpu':>6} "
        f"{'numpy':>6} {'pairs':>6} {'1st call s':>10}"
    )
    for dtype in args.dtypes:
        cache: dict[str, Array] = {}
        for method in args.methods:
            kinds = ["labels", "labels-random"] if method == "mode" else ["intensity"]
            if method == "mode" and np.dtype(dtype).kind == "f":
                continue
            for kind in kinds:
                if kind not in cache:
                    if kind == "labels":
                        cache[kind] = wavy_labels(shape, dtype, rng)
                    elif kind == "labels-random":
                        cache[kind] = rng.integers(0, 4, shape).astype(dtype)
                    else:
                        cache[kind] = intensity(shape, dtype, rng)
                data = cache[kind]
                slab = np.ascontiguousarray(data[:32])
                for factors in args.factors:
                    t0 = time.perf_counter()
                    K.downsample(data[:4], factors, method)  # compiles or loads this kernel
                    first = time.perf_counter() - t0
                    wall, cpu = best_of(
                        functools.partial(K.downsample, data, factors, method), args.repeat
                    )
                    numpy_col = pairs_col = ""
                    if method not in ("nearest", "gaussian"):
                        fs = tuple(factors)
                        _, tn = best_of(
                            functools.partial(KN.general, slab, fs, method), args.repeat
                        )
                        numpy_col = f"{slab.size / tn / 1e9:.2f}"
                    dt = np.dtype(dtype)
                    if method == "mean" and dt.kind in "iu" and dt.itemsize <= 2:
                        _, tp = best_of(
                            functools.partial(int_pairs_mean, slab, factors), args.repeat
                        )
                        pairs_col = f"{slab.size / tp / 1e9:.2f}"
                    print(
                        f"{method:<8} {kind:<14} {dtype:<8} {factors!s:<10} "
                        f"{voxels / wall / 1e9:6.2f} {voxels / cpu / 1e9:6.2f} "
                        f"{numpy_col:>6} {pairs_col:>6} {first:10.2f}",
                        flush=True,
                    )
        if "labels" in cache:
            print(
                f"#   {dtype} labels: {mixed_fraction(cache['labels']):.1%} of 2x2x2 blocks mixed"
            )


COMPILE_PROBE = """
import time, numpy as np
t0 = time.perf_counter()
from ngffkit import _kernels_numpy as KN
from ngffkit import kernels as K
import ngffkit._kernels_numba
print(f"import ngffkit.kernels + numba: {time.perf_counter() - t0:.2f}")
for dtype, method in [("uint8", "mean"), ("uint16", "mean"), ("float32", "mean"),
                      ("uint16", "max"), ("uint16", "median"), ("uint32", "mode"),
                      ("uint64", "mode")]:
    a = np.zeros((4, 4, 4), dtype)
    t0 = time.perf_counter()
    K.downsample(a, (2, 2, 2), method)
    print(f"{method} {dtype}: {time.perf_counter() - t0:.2f}")
"""


def run_compile_probe() -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src)
    with tempfile.TemporaryDirectory() as cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
        runs = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", COMPILE_PROBE],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs.append([line.rsplit(": ", 1) for line in out.strip().splitlines()])
    print(
        "\n# numba first call (fresh process): cold = empty cache, compiles; warm = loads the cache"
    )
    print(f"{'what':<34} {'cold s':>7} {'warm s':>7}")
    for (what, cold), (_, warm) in zip(runs[0], runs[1], strict=True):
        print(f"{what:<34} {float(cold):7.2f} {float(warm):7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shape", type=int, nargs=3, default=[128, 512, 512], metavar=("Z", "Y", "X")
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(K.METHODS), choices=K.METHODS)
    parser.add_argument("--dtypes", nargs="+", default=DTYPES, choices=DTYPES)
    parser.add_argument(
        "--factors",
        nargs="+",
        default=[",".join(map(str, f)) for f in FACTORS],
        help="z,y,x factor triples, e.g. 2,2,2 1,2,2",
    )
    parser.add_argument("--no-compile-probe", action="store_true")
    args = parser.parse_args()
    args.factors = [tuple(int(v) for v in f.split(",")) for f in args.factors]
    run_matrix(args)
    if not args.no_compile_probe:
        run_compile_probe()


if __name__ == "__main__":
    main()

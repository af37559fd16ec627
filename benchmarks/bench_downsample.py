"""``ngff downsample`` against webknossos ``downsample`` and ngff-zarr ``to_multiscales``.

    python benchmarks/bench_downsample.py                       # 512³ uint8 and uint16
    python benchmarks/bench_downsample.py --size 256 --dtypes uint8 --factors 222

Every tool starts from a stored level 0 in its own format (written untimed, same scroll-like
data) and builds the pyramid below it: 5 levels, factor 2×2×2 (x,y,z) or 2×2×1 (z kept),
64³ chunks, zstd level 5 (ngff-zarr: blosc-zstd 5, its codec), 2 jobs.

* ngffkit: OME-Zarr 0.5 level 0 (64³ chunks, 256³ shards), ``ngff downsample --levels 5``
  (2×2×1 comes from a z voxel 64× coarser: the anisotropic planner then halves only x, y).
* webknossos 4.3: a Zarr v3 dataset with mag 1 only (64³ chunks, 512×512×64 shards),
  ``webknossos downsample --coarsest-mag 16 [--sampling-mode constant_z]`` (median: it has no
  mean for colour layers).
* ngff-zarr 0.50: level 0 read from ``from_ngff_zarr`` of a Zarr v2 copy, ``to_multiscales``
  (``DASK_BIN_SHRINK`` mean) and ``to_ome_zarr``, unsharded (its fastest configuration).

Peers run in their own venvs (``--venvs``, default ``benchmarks/venvs`` or the bench worktree's).
Wall time of the command (1 run by default: the machine is shared) and peak RSS from
``/usr/bin/time``. Nothing is kept: outputs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WK_WRITE = """
import sys, numpy as np, webknossos as wk
data = np.load(sys.argv[2], mmap_mode="r")
ds = wk.Dataset(sys.argv[1], voxel_size=(1, 1, float(sys.argv[3])))
layer = ds.add_layer("color", wk.COLOR_CATEGORY, dtype=data.dtype,
                     data_format="zarr3")
mag = layer.add_mag(1, chunk_shape=64, shard_shape=(512, 512, 64))
mag.write(np.ascontiguousarray(data.transpose(2, 1, 0)), absolute_offset=(0, 0, 0),
          allow_resize=True)
"""

NGFF_ZARR = """
import sys, ngff_zarr as nz
src, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
image = nz.from_ngff_zarr(src).images[0]
f = [{"x": 2**k, "y": 2**k, "z": 2**k if mode == "222" else 1} for k in range(1, 5)]
ms = nz.to_multiscales(image, scale_factors=f, method=nz.Methods.DASK_BIN_SHRINK, chunks=64)
nz.to_ome_zarr(out, ms, version="0.5", overwrite=True, compressors=[{"name": "blosc",
    "configuration": {"cname": "zstd", "clevel": 5, "shuffle": "shuffle",
    "typesize": image.data.dtype.itemsize, "blocksize": 0}}])
"""


def venvs_dir(given: Path | None) -> Path:
    for candidate in (
        given,
        ROOT / "benchmarks" / "venvs",
        Path("/work/wt/bench/benchmarks/venvs"),
    ):
        if candidate is not None and (candidate / "wk").is_dir():
            return candidate
    sys.exit("no peer venvs found; run benchmarks/run.py setup or pass --venvs")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of the largest process) of ``cmd``."""
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", report.name, *cmd],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        return wall, int(report.read().split()[-1]) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--dtypes", nargs="+", default=["uint8", "uint16"])
    p.add_argument("--factors", nargs="+", default=["222", "221"], choices=["222", "221"])
    p.add_argument("--tools", nargs="+", default=["ngffkit", "wk", "ngff-zarr"])
    p.add_argument("--venvs", type=Path, default=None)
    args = p.parse_args()
    from ngffkit.samples import scroll_volume
    from ngffkit.spec import pyramid_spec
    from ngffkit.writer import create_image, finish_image

    venvs = venvs_dir(args.venvs)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores)")
    print("| data | factors | tool | wall s | MVox/s | peak RSS MiB | vs ngffkit |")
    print("|---|---|---|---|---|---|---|")
    for dtype in args.dtypes:
        data = scroll_volume((args.size,) * 3, dtype, seed=3)
        for mode in args.factors:
            zvox = 1.0 if mode == "222" else 64.0
            results: dict[str, tuple[float, float]] = {}
            with tempfile.TemporaryDirectory(prefix="bench-downsample-") as tmp_text:
                tmp = Path(tmp_text)
                np.save(tmp / "level0.npy", data)
                if "ngffkit" in args.tools:
                    spec = pyramid_spec(
                        data.shape,
                        dtype,
                        voxel_size={"z": zvox, "y": 1, "x": 1},
                        levels=1,
                        chunks=64,
                        shards=256,
                        compression="zstd:5",
                    )
                    create_image(tmp / "ours.zarr", spec).levels[0].write(data)
                    finish_image(tmp / "ours.zarr", spec)
                    results["ngffkit"] = timed(
                        [
                            sys.executable,
                            "-m",
                            "ngffkit",
                            "downsample",
                            str(tmp / "ours.zarr"),
                            "--levels",
                            "5",
                            "-q",
                            "--jobs",
                            "2",
                        ],
                        env,
                    )
                if "wk" in args.tools:
                    subprocess.run(
                        [
                            str(venvs / "wk" / "bin" / "python"),
                            "-c",
                            WK_WRITE,
                            str(tmp / "wk"),
                            str(tmp / "level0.npy"),
                            "1",
                        ],
                        check=True,
                        capture_output=True,
                    )
                    extra = ["--sampling-mode", "constant_z"] if mode == "221" else []
                    results["wk"] = timed(
                        [
                            str(venvs / "wk" / "bin" / "webknossos"),
                            "downsample",
                            "--jobs",
                            "2",
                            "--coarsest-mag",
                            "16" if mode == "222" else "16-16-1",
                            *extra,
                            str(tmp / "wk"),
                        ]
                    )
                if "ngff-zarr" in args.tools:
                    spec = pyramid_spec(
                        data.shape,
                        dtype,
                        levels=1,
                        chunks=64,
                        version="0.4",
                        compression="blosc-zstd:5",
                    )
                    create_image(tmp / "v2.zarr", spec).levels[0].write(data)
                    finish_image(tmp / "v2.zarr", spec)
                    results["ngff-zarr"] = timed(
                        [
                            str(venvs / "ngff" / "bin" / "python"),
                            "-c",
                            NGFF_ZARR,
                            str(tmp / "v2.zarr"),
                            str(tmp / "nz.zarr"),
                            mode,
                        ]
                    )
                shutil.rmtree(tmp, ignore_errors=True)
            base = results.get("ngffkit", (float("nan"), 0.0))[0]
            for tool, (wall, rss) in results.items():
                mvox = data.size / wall / 1e6
                print(
                    f"| {dtype} {args.size}³ | {mode[0]}×{mode[1]}×{mode[2]} (x,y,z) | {tool} | "
                    f"{wall:.2f} | {mvox:.0f} | {rss:.0f} | {wall / base:.2f}× |",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Memory at every job count and input kind: the peak against ``--max-memory`` and the plan.

    python benchmarks/bench_memory_jobs.py                         # 300M, jobs 1 2 4, all kinds
    python benchmarks/bench_memory_jobs.py --kinds raw labels --jobs 2 --budget 300M
    /path/to/py3.13/bin/python benchmarks/bench_memory_jobs.py     # the same on another Python

One uint16 volume of 160 × 1024 × 2048 voxels (671 MB, over twice the default 300 MiB
budget) is written once under ``--data`` in each input kind: a TIFF folder, one multi-page
TIFF, a raw file, an HDF5 dataset and a Zarr array; ``labels`` adds a uint32 label stack of
the same shape (1.3 GB) to the converted image. For each kind and ``--jobs`` the plan's
estimate is read from ``--dry-run`` (its ``memory: about N MiB peak`` line), then the run is
measured by ``measure.py`` (PSS of the process tree, sampled every 50 ms) and by the child
itself: its exact peak resident memory (``VmHWM``, read as it exits). A
row is ``ok`` when the peak RSS (the quantity the estimate models: the planner measures its
base as resident memory) is within both the budget and the estimate (+ ``--tolerance``).
``--budget default`` runs without ``--max-memory`` (the default budget).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import run_measured  # noqa: E402

SHAPE = (160, 1024, 2048)  # z, y, x
KINDS = ("tiff-folder", "tiff", "raw", "hdf5", "zarr", "labels")
MIB = 1 << 20

# The child reports its own high-water mark as it exits. wait4's ru_maxrss is not used: Linux
# carries the spawning process's high-water mark through exec into the child's, so a bench
# process that had just written the inputs (600 MiB) made every run read 600 MiB.
PEAK = """
import sys
sys.argv = ["ngff", *sys.argv[1:]]
from ngffkit.cli.entry import main
try:
    main()
finally:
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    sys.stderr.write("\\n" + hwm)
"""


def _plane(z: int) -> np.ndarray:
    """A smooth ramp with noise, so compression has realistic work."""
    rng = np.random.default_rng(z)
    y, x = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    ramp = (y // 4 + x // 8 + 37 * z) % 4096
    return (ramp + rng.integers(0, 64, (SHAPE[1], SHAPE[2]))).astype(np.uint16)


def _labels(z: int) -> np.ndarray:
    y, x = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    return ((z // 20) * 5000 + (y // 100) * 32 + x // 100).astype(np.uint32)


def make_inputs(data: Path) -> dict[str, list[str]]:
    """Each kind's input arguments (written once; a ``.complete`` file marks it done)."""
    import h5py
    import tensorstore as ts
    import tifffile

    data.mkdir(parents=True, exist_ok=True)
    done = data / ".complete"
    if not done.exists():
        (data / "tiffs").mkdir(exist_ok=True)
        (data / "labels").mkdir(exist_ok=True)
        with (
            (data / "volume.raw").open("wb") as raw,
            tifffile.TiffWriter(data / "volume.tif", bigtiff=True) as multi,
            h5py.File(data / "volume.h5", "w") as h5,
        ):
            dset = h5.create_dataset("vol", SHAPE, "uint16", chunks=(16, 256, 256))
            arr = ts.open(
                {
                    "driver": "zarr3",
                    "kvstore": {"driver": "file", "path": str(data / "volume.zarr")},
                    "metadata": {
                        "shape": list(SHAPE),
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
            for z in range(SHAPE[0]):
                plane = _plane(z)
                tifffile.imwrite(data / "tiffs" / f"z{z:04d}.tif", plane)
                multi.write(plane, contiguous=True)
                raw.write(plane.tobytes())
                dset[z] = plane
                arr[z].write(plane).result()
                tifffile.imwrite(data / "labels" / f"z{z:04d}.tif", _labels(z))
        done.touch()
    nz, ny, nx = SHAPE
    return {
        "tiff-folder": [str(data / "tiffs")],
        "tiff": [str(data / "volume.tif")],
        "raw": [
            str(data / "volume.raw"),
            "--raw-shape",
            f"{nx},{ny},{nz}",
            "--raw-dtype",
            "uint16",
        ],
        "hdf5": [f"{data / 'volume.h5'}:/vol"],
        "zarr": [str(data / "volume.zarr")],
    }


def _estimate(python: str, args: list[str], env: dict[str, str]) -> int:
    out = subprocess.run(
        [python, "-m", "ngffkit", *args, "--dry-run"], env=env, capture_output=True, text=True
    )
    found = re.search(r"memory: about (\d+) MiB peak", out.stdout + out.stderr)
    if found is None:
        raise SystemExit(f"no estimate in --dry-run of {args}:\n{out.stdout}{out.stderr}")
    return int(found.group(1)) * MIB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--budget", default="300M")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--data", type=Path, default=HERE / "data" / "memory_jobs")
    ap.add_argument("--tolerance", type=float, default=0.05, help="share over the estimate")
    ap.add_argument("--src", type=Path, default=HERE.parent / "src", help="the ngffkit to run")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "memory_jobs.jsonl")
    args = ap.parse_args()
    # "default": no --max-memory (the default budget, DEFAULT_MAX_MEMORY)
    budget = 2048 * MIB if args.budget == "default" else int(args.budget.rstrip("M")) * MIB
    limit = [] if args.budget == "default" else ["--max-memory", args.budget]
    inputs = make_inputs(args.data)
    env = {**os.environ, "PYTHONPATH": str(args.src)}
    version = subprocess.run(
        [args.python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    rows = []
    for kind in args.kinds:
        for jobs in args.jobs:
            with tempfile.TemporaryDirectory(dir=args.data) as tmp:
                common = [*limit, "--jobs", str(jobs), "-q"]
                if kind == "labels":
                    image = Path(tmp) / "img.ome.zarr"
                    subprocess.run(
                        [
                            args.python,
                            "-m",
                            "ngffkit",
                            "convert",
                            *inputs["zarr"],
                            str(image),
                            "--shards",
                            "128",
                            "-q",
                        ],
                        env=env,
                        check=True,
                    )
                    cmd = ["labels", "add", str(image), str(args.data / "labels")]
                    cmd += ["--name", "cells", *common]
                else:
                    cmd = ["convert", *inputs[kind], str(Path(tmp) / "out.ome.zarr"), *common]
                estimate = _estimate(args.python, cmd, env)
                result = run_measured(
                    [args.python, "-c", PEAK, *cmd],
                    log_path=Path(tmp) / "log.txt",
                    env=env,
                    timeout_s=1800,
                )
                log = (Path(tmp) / "log.txt").read_text(errors="replace")
                if result.returncode != 0:
                    print(log)
                    raise SystemExit(f"{kind} --jobs {jobs} failed ({result.returncode})")
                shutil.rmtree(tmp, ignore_errors=True)
            # RSS: the quantity the estimate models (process_memory measures resident memory);
            # the exact peak of the process (the kernel's high-water mark), which 50 ms
            # samples miss by up to 30 MiB
            found = re.search(r"VmHWM:\s+(\d+) kB", log)
            if found is None:
                raise SystemExit(f"{kind} --jobs {jobs}: no VmHWM in its log:\n{log}")
            peak = int(found.group(1)) * 1024
            row = {
                "python": version,
                "kind": kind,
                "jobs": jobs,
                "budget_MiB": budget / MIB,
                "estimate_MiB": estimate / MIB,
                "peak_pss_MiB": result.peak_tree_pss_mib,
                "peak_rss_MiB": peak / MIB,
                "sampled_rss_MiB": result.peak_tree_rss_mib,
                "wall_s": result.wall_s,
                "cpu_s": result.cpu_s,
                "ok": peak <= budget and peak <= estimate * (1 + args.tolerance),
                "when": time.strftime("%Y-%m-%d %H:%M"),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            args.results.parent.mkdir(parents=True, exist_ok=True)
            with args.results.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    print(
        "\n| python | input | jobs | budget MiB | estimate MiB | peak RSS (PSS) MiB | wall s | ok |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['python']} | {r['kind']} | {r['jobs']} | {r['budget_MiB']:.0f} | "
            f"{r['estimate_MiB']:.0f} | {r['peak_rss_MiB']:.0f} ({r['peak_pss_MiB']:.0f}) | "
            f"{r['wall_s']:.1f} | "
            f"{'yes' if r['ok'] else 'NO'} |"
        )


if __name__ == "__main__":
    main()

"""HDF5 input against a TIFF stack of the same volume: throughput ratio and peak memory.

    python benchmarks/bench_hdf5.py                          # 100×2048×2048 uint16, 200M budget
    python benchmarks/bench_hdf5.py --slices 64 --edge 1024 --budget 1G --rounds 2

The same scroll-like volume is written once under ``benchmarks/data/`` as a folder of
uncompressed TIFF slices and as HDF5 files (chunked gzip level 1, chunked blosc-lz4 through
hdf5plugin, contiguous). Each is converted with ``ngff convert --max-memory BUDGET``, the
inputs interleaved round by round so that a busy machine slows all alike; each run goes
through ``measure.py`` (wall time, CPU, peak PSS of the process tree). Reported: MB/s of
input, the ratio to the TIFF stack's MB/s in the same round, and peak memory against the
budget.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from measure import run_measured, warm_page_cache  # noqa: E402

from ngffkit.cli.options import parse_size  # noqa: E402
from ngffkit.samples import scroll_slice  # noqa: E402

TILE = 1024
H5_LAYOUTS = {
    "h5-gzip1": {"chunks": (16, 256, 256), "compression": "gzip", "compression_opts": 1},
    "h5-blosc-lz4": {"chunks": (16, 256, 256), **hdf5plugin.Blosc(cname="lz4")},
    "h5-contiguous": {},
}


def planes(slices: int, edge: int) -> list[np.ndarray]:
    reps = -(-edge // TILE)
    tiles = [scroll_slice(z, (16, TILE, TILE), "uint16", seed=7) for z in range(16)]
    return [np.tile(tiles[z % 16], (reps, reps))[:edge, :edge] for z in range(slices)]


def write_inputs(folder: Path, slices: int, edge: int) -> dict[str, Path]:
    inputs = {"tiff-stack": folder / "stack"} | {k: folder / f"{k}.h5" for k in H5_LAYOUTS}
    if (folder / ".complete").exists():
        return inputs
    shutil.rmtree(folder, ignore_errors=True)
    inputs["tiff-stack"].mkdir(parents=True)
    data = planes(slices, edge)
    for z, plane in enumerate(data):
        tifffile.imwrite(inputs["tiff-stack"] / f"z{z:05d}.tif", plane)
    for name, layout in H5_LAYOUTS.items():
        with h5py.File(inputs[name], "w") as f:
            d = f.create_dataset(
                "volumes/raw", shape=(slices, edge, edge), dtype="uint16", **layout
            )
            for z, plane in enumerate(data):
                d[z] = plane
        print(f"  wrote {inputs[name].name}", flush=True)
    (folder / ".complete").touch()
    return inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--slices", type=int, default=100)
    ap.add_argument("--edge", type=int, default=2048)
    ap.add_argument("--budget", default="200M")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--results", type=Path, default=HERE / "results" / "hdf5.jsonl")
    args = ap.parse_args()
    budget = parse_size("--budget", args.budget)
    inputs = write_inputs(HERE / "data" / f"hdf5-{args.slices}x{args.edge}", args.slices, args.edge)
    input_bytes = args.slices * args.edge * args.edge * 2
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in inputs}
    (HERE / "results").mkdir(exist_ok=True)
    for _ in range(args.rounds):
        for name, path in inputs.items():
            warm_page_cache(path) if path.is_dir() else path.read_bytes()
            with tempfile.TemporaryDirectory(dir=HERE / "results") as tmp:
                source = f"{path}:/volumes/raw" if path.suffix == ".h5" else str(path)
                argv = [
                    sys.executable,
                    "-m",
                    "ngffkit",
                    "convert",
                    source,
                    f"{tmp}/out.zarr",
                    "--max-memory",
                    args.budget,
                    "--jobs",
                    str(args.jobs),
                    "--quiet",
                ]
                env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
                result = run_measured(argv, log_path=Path(tmp) / "log.txt", env=env, timeout_s=3600)
                if result.returncode != 0:
                    print((Path(tmp) / "log.txt").read_text(errors="replace"))
                    raise SystemExit(f"{name}: ngff convert failed")
            runs[name].append(
                {
                    "wall_s": result.wall_s,
                    "cpu_s": result.cpu_s,
                    "pss_mib": result.peak_tree_pss_mib,
                }
            )
            print(
                f"  {name}: {result.wall_s:.1f} s, peak {result.peak_tree_pss_mib:.0f} MiB",
                flush=True,
            )
    base = statistics.median(r["wall_s"] for r in runs["tiff-stack"])
    print(
        f"\n{input_bytes / 1e6:.0f} MB of uint16, --max-memory {args.budget}, "
        f"--jobs {args.jobs}, {args.rounds} round(s), medians"
    )
    print("| input | wall s | MB/s | vs TIFF stack | CPU s | peak PSS MiB | of budget |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in runs.items():
        wall = statistics.median(r["wall_s"] for r in rows)
        pss = max(r["pss_mib"] for r in rows)
        row = {
            "input": name,
            "MB": input_bytes / 1e6,
            "budget_MiB": budget / 2**20,
            "wall_s": wall,
            "MB_s": input_bytes / 1e6 / wall,
            "vs_tiff": base / wall,
            "cpu_s": statistics.median(r["cpu_s"] for r in rows),
            "peak_pss_MiB": pss,
            "when": time.strftime("%Y-%m-%d %H:%M"),
        }
        with args.results.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(
            f"| {name} | {wall:.1f} | {row['MB_s']:.0f} | {row['vs_tiff']:.2f}× | "
            f"{row['cpu_s']:.1f} | {pss:.0f} | {100 * pss * 2**20 / budget:.0f} % |"
        )


if __name__ == "__main__":
    main()

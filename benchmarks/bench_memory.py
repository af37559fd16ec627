"""Memory under a budget: ``ngff convert --max-memory`` on a volume several times the budget.

    python benchmarks/bench_memory.py                       # 8 slices of 20,000², uint16, 1 GiB
    python benchmarks/bench_memory.py --slices 6 --edge 20000 --budget 1G --compressions none zstd

The issue's case: 20,000 × 20,000 uint16 slices (800 MB each) and ``--max-memory 1G``, on a
volume at least 4× the budget (the default, 8 slices = 6.4 GB, is 6×). Each stack is written
once under ``benchmarks/data/`` (a 2,000² scroll-like tile repeated, so compression sees
realistic data; ``zstd`` writes strip-compressed slices, the case where a reader must decode
whole rows). Each conversion runs under ``measure.py``: peak PSS of the whole process tree,
sampled every 50 ms, against the budget. Output goes to a temporary folder and is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from measure import run_measured  # noqa: E402

from ngffkit.cli.options import parse_size  # noqa: E402
from ngffkit.samples import scroll_slice  # noqa: E402

TILE = 2000


def write_stack(folder: Path, slices: int, edge: int, compression: str) -> Path:
    """``slices`` TIFFs of ``edge``² uint16 (skipped when already complete)."""
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    reps = -(-edge // TILE)
    for z in range(slices):
        tile = scroll_slice(z % 16, (16, TILE, TILE), "uint16", seed=7)
        plane = np.tile(tile, (reps, reps))[:edge, :edge]
        tifffile.imwrite(
            folder / f"z{z:05d}.tif",
            plane,
            compression=None if compression == "none" else compression,
            rowsperstrip=None if compression == "none" else 16,
        )
        del plane
        print(f"  wrote {folder.name}/z{z:05d}.tif", flush=True)
    done.touch()
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--slices", type=int, default=8)
    ap.add_argument("--edge", type=int, default=20000)
    ap.add_argument("--budget", default="1G")
    ap.add_argument("--compressions", nargs="+", default=["none", "zstd"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--results", type=Path, default=HERE / "results" / "memory.jsonl")
    args = ap.parse_args()
    budget = parse_size("--budget", args.budget)
    rows = []
    for compression in args.compressions:
        name = f"wide_u16-{args.slices}x{args.edge}x{args.edge}-{compression}"
        stack = write_stack(HERE / "data" / name, args.slices, args.edge, compression)
        input_bytes = args.slices * args.edge * args.edge * 2
        with tempfile.TemporaryDirectory(dir=HERE / "results") as tmp:
            out = Path(tmp) / "out.ome.zarr"
            # This checkout's ngffkit, whatever `ngff` on PATH points at.
            argv = [
                sys.executable,
                "-m",
                "ngffkit",
                "convert",
                str(stack),
                str(out),
                "--max-memory",
                args.budget,
                "--jobs",
                str(args.jobs),
                "--quiet",
            ]
            env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
            result = run_measured(argv, log_path=Path(tmp) / "log.txt", env=env, timeout_s=3600)
            log = (Path(tmp) / "log.txt").read_text(errors="replace")
            if result.returncode != 0:
                print(log)
                raise SystemExit(f"{name}: ngff convert failed ({result.returncode})")
            out_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            shutil.rmtree(out)
        row = {
            "stack": name,
            "input_GB": input_bytes / 1e9,
            "budget_MiB": budget / 2**20,
            "volume_vs_budget": input_bytes / budget,
            "wall_s": result.wall_s,
            "MB_s": input_bytes / 1e6 / result.wall_s,
            "cpu_s": result.user_s + result.sys_s,
            "peak_tree_pss_MiB": result.peak_tree_pss_mib,
            "peak_vs_budget": result.peak_tree_pss_mib * 2**20 / budget,
            "output_GB": out_bytes / 1e9,
            "when": time.strftime("%Y-%m-%d %H:%M"),
        }
        rows.append(row)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    print(
        "\n| stack | input GB | × budget | wall s | MB/s | CPU s | peak tree PSS MiB | of budget |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['stack']} | {r['input_GB']:.1f} | {r['volume_vs_budget']:.1f} | "
            f"{r['wall_s']:.1f} | {r['MB_s']:.0f} | {r['cpu_s']:.1f} | "
            f"{r['peak_tree_pss_MiB']:.0f} | {100 * r['peak_vs_budget']:.0f} % |"
        )


if __name__ == "__main__":
    main()

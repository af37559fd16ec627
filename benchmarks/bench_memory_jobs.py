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
itself: its exact peak resident memory (``VmHWM``, read as it exits; memory_inputs.py, which
also writes the inputs, says why). A
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import run_measured  # noqa: E402
from memory_inputs import PEAK, peak_bytes, write_inputs  # noqa: E402

SHAPE = (160, 1024, 2048)  # z, y, x
KINDS = ("tiff-folder", "tiff", "raw", "hdf5", "zarr", "labels")
MIB = 1 << 20


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
    inputs = write_inputs(args.data, SHAPE)
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
                    cmd = ["labels", "add", str(image), *inputs["labels"]]
                    cmd += ["--name", "cells", *common]
                else:
                    cmd = ["convert", *inputs[kind], str(Path(tmp) / "out.ome.zarr"), *common]
                estimate = _estimate(args.python, cmd, env)
                result = run_measured(
                    [args.python, "-c", PEAK, "0", *cmd],
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
            peak = peak_bytes(log)
            if peak is None:
                raise SystemExit(f"{kind} --jobs {jobs}: no VmHWM in its log:\n{log}")
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

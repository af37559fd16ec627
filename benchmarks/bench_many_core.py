"""Many cores: ``ngff convert`` at ``--jobs`` 1…N against the floor and ngff-zarr, in one table.

    python benchmarks/bench_many_core.py                      # every stack, jobs 1,2,4,…,cores
    python benchmarks/bench_many_core.py --stacks A_u8        # the 2-core target (256 MiB uint8)
    python benchmarks/bench_many_core.py --small              # a smoke run (minutes, any machine)
    python benchmarks/bench_many_core.py --wheels ~/wheels    # peers' venv from a wheel folder

Stacks (uncompressed TIFF slices, written once with ``ngffkit.samples`` under benchmarks/data/):

* ``stack``  — 512 × 2048 × 4096 uint16 (8 GiB), issue 17's workstation stack;
* ``scroll`` — 48 × 7,888 × 8,096 uint16 (6.1 GB), a slab of a scroll at full width;
* ``A_u8``   — 256 × 1024 × 1024 uint8 (256 MiB), the 2-core benchmark of benchmarks/run.py.

For each stack, in one run with the page cache warm (every input read once before each run):

* **floor** — what tifffile and tensorstore alone need on N threads: every slice read into
  memory by N threads (``read``), then every level array of the pyramid ``ngff convert`` writes
  at those settings (written once beforehand, untimed) written again by tensorstore alone on N
  threads, with that array's metadata and values (``write``; no fsync per chunk file, as
  ``ngff convert`` on one machine). ``floor = read + write``: it reads and compresses what the
  conversion does, and neither downsamples nor overlaps the two. Measured for both settings.
* **ngffkit** at ``--jobs`` 1, 2, 4, … up to the cores, with the default options (0.5, 64³ chunks
  in 256³ shards, zstd 5, whole pyramid) — and at equal settings to ngff-zarr (0.4, blosc-zstd 5,
  64³ chunks, 5 levels, mean) with every core;
* **ngff-zarr 0.50** at those equal settings with every core (its venv is benchmarks/venvs/ngff,
  as benchmarks/run.py builds it; ``--wheels DIR`` installs it from a folder of wheels, with no
  network, for machines that have none; ``--no-peers`` skips it).

Each row gives wall time, throughput (input bytes / wall), CPU seconds (user + sys, whole process
tree) per GB of input, peak memory (tree PSS) and the ratio to the floor of its settings. Times are
medians of ``--repeat`` rounds, each running every floor and command once, in one environment
(so machine drift and, on disk, the deletions of earlier outputs hit all alike); the timed runs
are not sampled (sampling ``smaps`` every 50 ms slowed a 2-core run by 0.1–0.2 s, and the floor
is not sampled); the peak memory comes from one more run of each that is.
Nothing here asserts a number: the table is the result.

With ``--gil`` (needs ``py-spy`` on PATH) each ngffkit setting is run once more under
``py-spy record --gil``: the samples whose thread holds the GIL inside a brick task give the
**GIL-held seconds per brick** and their **share of the run's CPU seconds** — 1 / share is
about how many cores the brick tasks can feed before the GIL serialises them. The thread budget
the planner chose (``--dry-run``'s ``threads:`` line) is printed for each stack.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from measure import RunResult, run_measured, warm_page_cache  # noqa: E402
from run import VENV_SPECS, resolve_ngff, venv_python  # noqa: E402

DATA = BENCH / "data"
VENVS = BENCH / "venvs"
SEED = 0
LEVELS, CHUNK, ZSTD = 5, 64, 5

STACKS: dict[str, tuple[tuple[int, int, int], str]] = {
    "stack": ((512, 2048, 4096), "uint16"),
    "scroll": ((48, 7888, 8096), "uint16"),
    "A_u8": ((256, 1024, 1024), "uint8"),
}
SMALL: dict[str, tuple[int, int, int]] = {
    "stack": (64, 512, 1024),
    "scroll": (16, 1024, 1024),
    "A_u8": (32, 256, 256),
}

# (label, ngff convert options)
DEFAULT: tuple[str, tuple[str, ...]] = ("default (0.5, 256³ shards, zstd 5)", ())
EQUAL: tuple[str, tuple[str, ...]] = (
    "equal to ngff-zarr (0.4, blosc-zstd 5)",
    # ngff-zarr's chunks and level count too: our 0.4 default is 128³ chunks (4 levels here),
    # which writes an eighth of the files and is not the floor's or ngff-zarr's layout.
    (
        "--format",
        "0.4",
        "--compression",
        f"blosc-zstd:{ZSTD}",
        "--method",
        "mean",
        "--chunks",
        str(CHUNK),
        "--levels",
        str(LEVELS),
    ),
)


@dataclass(frozen=True)
class Stack:
    name: str
    shape: tuple[int, int, int]
    dtype: str

    @property
    def folder(self) -> Path:
        return DATA / f"{self.name}-{'x'.join(map(str, self.shape))}"

    @property
    def nbytes(self) -> int:
        import numpy as np

        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass
class Row:
    stack: str
    tool: str
    settings: str
    jobs: int
    wall_s: float
    cpu_s: float
    peak_mib: float
    floor_s: float | None = None
    detail: str = ""
    gil_s: float | None = None
    bricks: int = 0


def make_stack(st: Stack) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from ngffkit.samples import write_tiff_stack

    marker = st.folder / ".complete"
    want = {"shape": list(st.shape), "dtype": st.dtype, "seed": SEED}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return
    print(f"data: writing {st.folder.name} ({st.nbytes / 1e9:.2f} GB) ...", flush=True)
    write_tiff_stack(st.folder, st.shape, st.dtype, SEED, overwrite=True)
    marker.write_text(json.dumps(want))


def peer_venv(wheels: Path | None) -> Path | None:
    """benchmarks/venvs/ngff (ngff-zarr), built as run.py does, or from ``wheels`` offline."""
    python = venv_python("ngff")
    marker = VENVS / "ngff" / ".bench-requirements"
    spec, probe = VENV_SPECS["ngff"]
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(spec) + "\n":
        return python
    print("setup: ngff-zarr venv ...", flush=True)
    base = shutil.which("python3.11") or sys.executable
    index = ["--no-index", "--find-links", str(wheels)] if wheels else []
    steps = [
        [base, "-m", "venv", str(VENVS / "ngff")],
        [str(python), "-m", "pip", "install", "-q", *index, *spec],
        [str(python), "-c", f"import {probe}"],
    ]
    for step in steps:
        if subprocess.run(step).returncode != 0:
            print(f"setup: ngff-zarr venv failed at {' '.join(step)}; skipping the peer")
            return None
    marker.write_text("\n".join(spec) + "\n")
    return python


def level_arrays(pyramid: Path) -> list[tuple[Path, str]]:
    """Each level array of the OME-Zarr ``pyramid`` in level order: (path, tensorstore driver)."""
    levels = []
    for meta in ("zarr.json", ".zarray"):
        found = [p.parent for p in pyramid.glob(f"*/{meta}") if p.parent.name.isdigit()]
        levels += [(p, "zarr3" if meta == "zarr.json" else "zarr") for p in found]
    return sorted(levels, key=lambda level: int(level[0].name))


def floor(st: Stack, threads: int, reference: Path, scratch: Path) -> tuple[float, str]:
    """``read + write`` on ``threads`` threads, tifffile and tensorstore alone.

    ``read``: every slice into memory. ``write``: every level array of ``reference`` (a
    pyramid ``ngff convert`` wrote at these settings, untimed) written again, with its own
    metadata and values, by tensorstore alone: the floor compresses what the conversion
    compresses. (It once took ``8/7 × write L0``, but a downsampled level costs zstd more per
    byte than level 0: 1.5× at level 1 and over 2× above it on ``A_u8``.)
    """
    import numpy as np
    import tensorstore as ts
    import tifffile

    files = sorted(p for p in st.folder.iterdir() if p.suffix in (".tif", ".tiff"))
    volume = np.empty(st.shape, dtype=st.dtype)
    levels = level_arrays(reference)
    # Level 0 is the input itself; the levels above it are the reference's values, read here.
    above = [ts.open({"driver": d, "kvstore": f"file://{p}"}).result() for p, d in levels[1:]]
    values = [volume, *(np.asarray(a.read().result()) for a in above)]
    warm_page_cache(st.folder)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda z: tifffile.imread(files[z], out=volume[z]), range(len(files))))
    read_s = time.perf_counter() - t0

    out = scratch / "floor.zarr"
    shutil.rmtree(out, ignore_errors=True)
    context = ts.Context(
        {
            "data_copy_concurrency": {"limit": threads},
            "file_io_concurrency": {"limit": threads},
            "cache_pool": {"total_bytes_limit": 0},
        }
    )
    arrays = []
    for path, driver in levels:
        copy = out / path.name
        copy.mkdir(parents=True)
        meta = "zarr.json" if driver == "zarr3" else ".zarray"
        shutil.copyfile(path / meta, copy / meta)  # the same array: shape, chunks, shards, codecs
        # No fsync per chunk file, as ngff convert writes on one machine (tasks.level_store,
        # Job.synced_writes) and as ngff-zarr does: the floor does the same I/O, no more.
        kvstore = {"driver": "file", "path": str(copy), "file_io_sync": False}
        spec = {"driver": driver, "kvstore": kvstore, "recheck_cached_data": False}
        arrays.append(ts.open(spec, context=context, write=True).result())
    t0 = time.perf_counter()
    futures = []
    for array, data in zip(arrays, values, strict=True):
        # Whole shards (or chunk rows) per write, as a brick does.
        shape = array.chunk_layout.write_chunk.shape  # a shard, or a chunk where none
        assert shape is not None and shape[0] is not None, array.chunk_layout
        step = shape[0]
        bounds = [(z, min(z + step, data.shape[0])) for z in range(0, data.shape[0], step)]
        futures += [array[a:b].write(data[a:b]) for a, b in bounds]
    for f in futures:
        f.result()
    write_s = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return read_s + write_s, f"read {read_s:.2f} s, write {len(levels)} levels {write_s:.2f} s"


def measured(
    argv: list[str],
    env: dict[str, str],
    st: Stack,
    out: Path,
    logs: Path,
    name: str,
    *,
    sample: bool,
) -> RunResult:
    """One run of ``argv`` writing ``out``, which is deleted before it is synced: as the floor
    deletes its output, so that no run shares the disk with the write-back or the freeing of
    blocks of the run before (ext4 frees a synced tree's blocks through its journal while the
    next run writes)."""
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    warm_page_cache(st.folder)
    result = run_measured(
        argv,
        log_path=logs / f"{name}.log",
        env=env,
        timeout_s=3600,
        sample_memory=sample,
        sync=False,
    )
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    if result.returncode != 0:
        tail = (logs / f"{name}.log").read_text()[-2000:]
        raise SystemExit(f"{name} failed ({result.returncode}):\n{tail}")
    return result


def dry_run(ngff: list[str], env: dict[str, str], argv: list[str]) -> tuple[str, int]:
    """The plan's ``threads:`` line and its number of bricks (``--dry-run``)."""
    full = {**os.environ, **env}
    out = subprocess.run([*ngff, *argv, "--dry-run"], env=full, capture_output=True, text=True)
    threads = next((x for x in out.stdout.splitlines() if x.startswith("threads:")), "threads: ?")
    bricks = sum(int(m) for m in re.findall(r"in (\d+) brick\(s\)", out.stdout))
    return threads.removeprefix("threads: "), bricks


def gil_seconds(
    argv: list[str], env: dict[str, str], st: Stack, logs: Path, rate: int = 200
) -> float:
    """Seconds a brick task held the GIL in one run of ``argv`` (py-spy ``--gil`` samples
    whose stack is inside ``run_brick``, over the sampling rate)."""
    raw = logs / "gil.txt"
    warm_page_cache(st.folder)
    found = Path(sys.executable).with_name("py-spy")
    spy = [
        str(found) if found.exists() else "py-spy",
        "record",
        "--gil",
        "--nonblocking",
        "-r",
        str(rate),
        "-f",
        "raw",
    ]
    full = {**os.environ, **env}
    subprocess.run([*spy, "-o", str(raw), "--", *argv], env=full, capture_output=True, check=True)
    held = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "run_brick" in stack:
            held += int(count)
    return held / rate


@dataclass(frozen=True)
class Command:
    """One timed command of the table: its row's tool, settings and jobs, and how it runs."""

    tool: str
    settings: str
    jobs: int
    argv: list[str]
    env: dict[str, str]
    name: str


def median_run(runs: list[RunResult]) -> RunResult:
    return sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]


def bench_stack(st: Stack, args: argparse.Namespace, peer: Path | None) -> list[Row]:
    rows: list[Row] = []
    cores = os.cpu_count() or 1
    if args.scratch is not None:
        args.scratch.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="many-core-", dir=args.scratch))
    logs = scratch / "logs"
    ngff, extra, _ = resolve_ngff(args.ngff_cmd)
    env = {**os.environ, **extra}  # every command runs in this environment, the peer's too
    out = scratch / "out.ome.zarr"

    def convert(options: tuple[str, ...], jobs: int, output: Path) -> list[str]:
        argv = [*ngff, "convert", str(st.folder), str(output), "--jobs", str(jobs)]
        return [*argv, *options, "--levels", str(LEVELS), "--chunks", str(CHUNK), "--quiet"]

    try:
        # The pyramids the floors write again: ours at each setting, written once, untimed.
        references: dict[str, Path] = {}
        for label, options in (DEFAULT, EQUAL):
            reference = scratch / f"reference-{len(references)}.ome.zarr"
            argv = convert(options, cores, reference)
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"the floor's reference run failed:\n{done.stderr[-2000:]}")
            references[label] = reference
        commands = [
            Command("ngffkit", DEFAULT[0], jobs, convert(DEFAULT[1], jobs, out), env, f"ngffkit-{jobs}")
            for jobs in args.jobs or job_counts(cores)
        ]  # fmt: skip
        commands.append(
            Command("ngffkit", EQUAL[0], cores, convert(EQUAL[1], cores, out), env, "ngffkit-equal")
        )
        if peer is not None:
            argv = [str(peer), str(BENCH / "peers" / "ngff_zarr_driver.py"), str(st.folder)]
            argv += [str(out), "--variant", "v04", "--levels", str(LEVELS)]
            argv += ["--chunk", str(CHUNK), "--clevel", str(ZSTD), "--jobs", str(cores)]
            peer_env = dict(os.environ)
            commands.append(Command("ngff-zarr 0.50", EQUAL[0], cores, argv, peer_env, "ngff-zarr"))

        # Rounds, each running every floor and command once: all of them see the same drift
        # of the machine and, on disk, the same history of deleted outputs (ext4 steps over
        # recently deleted inodes when it allocates new ones, so whatever runs after many
        # deletions pays more). Memory sampling slows a 2-core machine (measure.py) and the
        # floor is not sampled, so the timed runs are not; one more run of each gives the peak.
        floor_runs: dict[str, list[tuple[float, str]]] = {label: [] for label in references}
        timed: dict[str, list[RunResult]] = {c.name: [] for c in commands}
        for i in range(args.repeat):
            for label, reference in references.items():
                floor_runs[label].append(floor(st, cores, reference, scratch))
            for c in commands:
                timed[c.name].append(measured(c.argv, c.env, st, out, logs, f"{c.name}-{i}", sample=False))  # fmt: skip
        floors = {label: sorted(v)[len(v) // 2] for label, v in floor_runs.items()}

        for c in commands:
            r = median_run(timed[c.name])
            peak = measured(c.argv, c.env, st, out, logs, f"{c.name}-peak", sample=True)
            row = Row(st.name, c.tool, c.settings, c.jobs, r.wall_s, r.user_s + r.sys_s,
                      peak.peak_tree_pss_mib, floors[c.settings][0])  # fmt: skip
            if c.tool == "ngffkit":
                threads, row.bricks = dry_run(ngff, env, c.argv[len(ngff) :])
                row.gil_s = gil_seconds(c.argv, env, st, logs) if args.gil else None
                print(
                    f"  ngffkit --jobs {c.jobs} ({c.settings}): {r.wall_s:.2f} s; threads {threads}"
                )
            rows.append(row)
        for label, (seconds, detail) in floors.items():
            rows.append(Row(st.name, "floor", label, cores, seconds, 0.0, 0.0, seconds, detail))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return rows


def job_counts(cores: int) -> list[int]:
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    return [*counts, cores] if cores > 1 else counts


def print_table(rows: list[Row], stacks: dict[str, Stack]) -> None:
    print(f"\nmachine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (1 min)")
    for name, st in stacks.items():
        print(
            f"\n### {name}: {' × '.join(map(str, st.shape))} {st.dtype} ({st.nbytes / 1e6:,.0f} MB)\n"
        )
        gil = any(r.gil_s is not None for r in rows)
        head = "| tool | settings | jobs | wall s | GB/s | CPU s/GB | peak MiB | × floor |"
        print(head + (" GIL ms/brick | GIL share of CPU |" if gil else ""))
        print("|---" * (8 + 2 * gil) + "|")
        for r in (r for r in rows if r.stack == name):
            gbs = st.nbytes / 1e9 / r.wall_s
            cpu = f"{r.cpu_s / (st.nbytes / 1e9):.1f}" if r.cpu_s else r.detail
            peak = f"{r.peak_mib:.0f}" if r.peak_mib else ""
            ratio = f"{r.wall_s / r.floor_s:.2f}" if r.floor_s else ""
            extra = ""
            if gil:
                held = r.gil_s is not None and r.bricks and r.cpu_s
                extra = (
                    f" {1000 * r.gil_s / r.bricks:.0f} | {100 * r.gil_s / r.cpu_s:.0f} % |"  # type: ignore[operator]
                    if held
                    else " | |"
                )
            print(f"| {r.tool} | {r.settings} | {r.jobs} | {r.wall_s:.2f} | {gbs:.2f} | {cpu} "
                  f"| {peak} | {ratio} |{extra}")  # fmt: skip
        peer = next((r for r in rows if r.stack == name and r.tool.startswith("ngff-zarr")), None)
        ours = next(
            (r for r in rows if r.stack == name and r.tool == "ngffkit" and r.settings == EQUAL[0]),
            None,
        )
        if peer and ours:
            print(
                f"\nngffkit vs ngff-zarr at equal settings: {peer.wall_s / ours.wall_s:.2f}× faster"
            )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stacks", default=",".join(STACKS), help="comma list of " + ", ".join(STACKS))
    p.add_argument("--small", action="store_true", help="small stacks: a smoke run")
    p.add_argument("--jobs", type=lambda s: [int(j) for j in s.split(",")], default=None,
                   help="job counts to run (default 1, 2, 4, … up to the cores)")  # fmt: skip
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--no-peers", action="store_true", help="skip ngff-zarr")
    p.add_argument("--wheels", type=Path, default=None, help="folder of wheels for ngff-zarr")
    p.add_argument("--ngff-cmd", default=None, help="the ngff command (default: this venv's)")
    p.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="where outputs go, made if missing (default: tmp)",
    )
    p.add_argument("--keep", action="store_true", help="keep outputs and logs")
    p.add_argument("--gil", action="store_true", help="also measure the GIL-held share (py-spy)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)

    names = [s.strip() for s in args.stacks.split(",") if s.strip()]
    unknown = sorted(set(names) - set(STACKS))
    if unknown:
        p.error(f"unknown stack(s) {unknown}; choose from {list(STACKS)}")
    stacks = {n: Stack(n, SMALL[n] if args.small else STACKS[n][0], STACKS[n][1]) for n in names}
    peer = None if args.no_peers else peer_venv(args.wheels)
    rows: list[Row] = []
    for st in stacks.values():
        make_stack(st)
        print(f"{st.name}: {st.nbytes / 1e6:,.0f} MB", flush=True)
        rows += bench_stack(st, args, peer)
    print_table(rows, stacks)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))


if __name__ == "__main__":
    main()

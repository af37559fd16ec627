"""Overlap of reading, downsampling and writing during ``ngff convert``, at each ``--jobs``.

    python benchmarks/bench_overlap.py                           # A_u8, jobs 1,2,…,2×cores
    python benchmarks/bench_overlap.py --src /path/to/other/checkout --repeat 5
    python benchmarks/bench_overlap.py --small --repeat 1        # a smoke run (seconds)

Issue 17's 2-core proxy for a many-core machine: a pipeline can feed many cores only if its
stages overlap. Each run is ``ngff convert`` of the stack (as bench_many_core.py makes it, at
its default settings and at the settings equal to ngff-zarr) in a child process that first
wraps three names of ``ngffkit.tasks`` from here, with nothing changed in the library:

* **read** — ``read_base``: one brick's input read (and cast) by a brick task;
* **kernel** — ``downsample``: one level of the brick computed in memory;
* **write** — each ``store[region].write(data)`` of a level store (``level_store`` returns a thin
  proxy): from the call to the moment its commit future completes. Tensorstore copies and
  encodes on its own threads, so a write is "in progress" until its chunks are stored.

Every call records ``(thread, stage, t0, t1)`` with ``time.perf_counter``; a brick task's whole
``_run_brick`` is recorded too (``brick``). Per run the table gives: the process's wall and CPU
seconds (``measure.py``: user + sys of the process tree) and **cores busy** = CPU / wall; the
busy seconds of each stage (sum of its spans; writes of several levels of one brick overlap,
so write seconds can exceed the wall); and, over the **pipeline window** (first span to last:
the wall less start-up and the metadata at the end), the share of time during which **≥ 2
stages** are active, during which **reading and writing** are both in progress, during which
**only one** stage is active (the critical-path view: that stage alone stands between the
run and its end), and during which none is (gaps between bricks). Medians over ``--repeat``.

The wrappers' cost is measured, not assumed: each round also runs the same conversion without
them (``--no-overhead`` skips that), and the table gives the median wall and CPU of both; at
the end the cost of one timed call and of one proxied write is measured in this process.
``--src DIR`` runs another checkout's ``src/`` (PYTHONPATH; the child reports which ngffkit it
imported, and the run stops if that is not the one asked for). Nothing here needs the network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
STAGES = ("read", "kernel", "write")

Span = tuple[int, str, float, float]  # (thread, stage, t0, t1), perf_counter seconds


# -- the child: wrappers around ngffkit.tasks, then the CLI ------------------------------------


class _Recorder:
    """Spans of one process. ``list.append`` is atomic under the GIL: no lock on the hot path."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.cpu: list[tuple[float, float]] = []  # (perf_counter, process CPU) at brick ends

    def pending(self) -> bool:
        """Whether a write call's completion has not been recorded yet."""
        kinds = [s[1] for s in self.spans]
        return kinds.count("write-call") > kinds.count("write")

    def brick(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``timed("brick", fn)`` that also notes the process's CPU time (all threads) at the
        brick's start and end: the cores busy within the pipeline window."""
        spans, cpu = self.spans, self.cpu

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            cpu.append((time.perf_counter(), time.process_time()))
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.append((threading.get_ident(), "brick", t0, time.perf_counter()))
                cpu.append((time.perf_counter(), time.process_time()))

        return wrapper

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        spans = self.spans

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.append((threading.get_ident(), stage, t0, time.perf_counter()))

        return wrapper

    def stores(self, level_store: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return _Store(level_store(*args, **kwargs), recorder)

        return wrapped


class _Store:
    """A level store whose regions' ``write`` is timed from the call to its commit."""

    def __init__(self, store: Any, recorder: _Recorder) -> None:
        self._store = store
        self._recorder = recorder

    def __getitem__(self, index: Any) -> Any:
        return _Region(self._store[index], self._recorder)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _Region:
    def __init__(self, region: Any, recorder: _Recorder) -> None:
        self._region = region
        self._recorder = recorder

    def write(self, *args: Any, **kwargs: Any) -> Any:
        spans, tid, t0 = self._recorder.spans, threading.get_ident(), time.perf_counter()
        futures = self._region.write(*args, **kwargs)
        spans.append((tid, "write-call", t0, time.perf_counter()))

        def done(_: Any) -> None:  # on a tensorstore thread, or here if already committed
            spans.append((tid, "write", t0, time.perf_counter()))

        futures.commit.add_done_callback(done)
        return futures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._region, name)


def install(recorder: _Recorder) -> str:
    """Wrap ``ngffkit.tasks``'s brick read, kernel, level stores and brick; its file."""
    import ngffkit.tasks as tasks

    for name in ("read_base", "downsample", "level_store", "_run_brick"):
        if not hasattr(tasks, name):
            raise SystemExit(f"bench_overlap: ngffkit.tasks has no {name}; adapt the wrappers")
    tasks.read_base = recorder.timed("read", tasks.read_base)
    # tasks imports downsample from ngffkit.kernels without re-exporting it; the name to wrap
    # is tasks's own binding (checked by the hasattr loop above).
    tasks.downsample = recorder.timed("kernel", tasks.downsample)  # type: ignore[attr-defined]
    tasks._run_brick = recorder.brick(tasks._run_brick)
    tasks.level_store = recorder.stores(tasks.level_store)
    return str(tasks.__file__)


def child(out: Path, wrap: bool, argv: list[str]) -> None:
    """Run ``ngff ARGV`` in this process (as the ``ngff`` script does), spans to ``out``."""
    if sys.path and Path(sys.path[0]).resolve() == BENCH:
        del sys.path[0]  # benchmarks/run.py and friends must not shadow anything
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI sets it, before numpy loads
    started = time.perf_counter()
    recorder = _Recorder()
    module = install(recorder) if wrap else None
    from ngffkit.cli.entry import main as ngff

    sys.argv = ["ngff", *argv]
    code: Any = 0
    try:
        ngff()
    except SystemExit as exc:
        code = exc.code
    deadline = time.perf_counter() + 1  # a commit's callback may still be on its way
    while recorder.pending() and time.perf_counter() < deadline:
        time.sleep(0.001)
    if module is None:
        import ngffkit.tasks

        module = str(ngffkit.tasks.__file__)
    record = {"tasks": module, "started": started, "ended": time.perf_counter()}
    out.write_text(json.dumps({**record, "spans": recorder.spans, "cpu": recorder.cpu}))
    sys.exit(code)


# -- the analysis (pure) ------------------------------------------------------------------------


def overlap(spans: Iterable[Span], stages: Sequence[str] = STAGES) -> dict[str, Any]:
    """Seconds per set of active stages over the window from the first span to the last.

    A stage is active while any thread has a span of it open. Returns ``window``,
    ``busy`` (sum of span lengths per stage), ``active`` (seconds each stage is active),
    ``sets`` (seconds per sorted tuple of active stages, ``()`` = none) and the shares of
    the window: ``multi`` (≥ 2 stages), ``read_write`` (read and write both), ``alone``
    (per stage: only it), ``idle`` (none) and ``no_write`` (no write in progress: the
    encoders wait on reading or computing) and ``fill`` (before the first write: the
    pipeline filling, of which no read can be hidden); ``hidden`` is, for read and kernel, the share
    of the stage's active time during which a write is in progress too."""
    chosen = [s for s in spans if s[1] in stages]
    busy = {s: sum(t1 - t0 for _, st, t0, t1 in chosen if st == s) for s in stages}
    if not chosen:
        return {"window": 0.0, "busy": busy, "active": dict.fromkeys(stages, 0.0), "sets": {},
                "multi": 0.0, "read_write": 0.0, "alone": dict.fromkeys(stages, 0.0),
                "idle": 0.0, "no_write": 0.0, "fill": 0.0, "hidden": {}}  # fmt: skip
    events = sorted(
        [(t0, 1, st) for _, st, t0, _ in chosen] + [(t1, -1, st) for _, st, _, t1 in chosen]
    )
    count = dict.fromkeys(stages, 0)
    sets: dict[tuple[str, ...], float] = {}
    last = events[0][0]
    for t, step, stage in events:
        if t > last:
            key = tuple(s for s in stages if count[s] > 0)
            sets[key] = sets.get(key, 0.0) + (t - last)
            last = t
        count[stage] += step
    window = events[-1][0] - events[0][0]
    first_write = min((t0 for _, st, t0, _ in chosen if st == "write"), default=events[-1][0])

    def share(pred: Callable[[tuple[str, ...]], bool]) -> float:
        return sum(v for k, v in sets.items() if pred(k)) / window if window else 0.0

    return {
        "window": window,
        "busy": busy,
        "active": {s: sum(v for k, v in sets.items() if s in k) for s in stages},
        "sets": sets,
        "multi": share(lambda k: len(k) >= 2),
        "read_write": share(lambda k: "read" in k and "write" in k),
        "alone": {s: share(lambda k, s=s: k == (s,)) for s in stages},  # type: ignore[misc]
        "idle": share(lambda k: not k),
        "no_write": share(lambda k: "write" not in k),
        # The pipeline's fill: before the first write is issued, nothing can hide a read.
        "fill": (first_write - events[0][0]) / window if window else 0.0,
        "hidden": {
            s: sum(v for k, v in sets.items() if s in k and "write" in k) / a if a else 0.0
            for s in stages
            if s != "write"
            for a in [sum(v for k, v in sets.items() if s in k)]
        },
    }


def brick_threads(spans: Iterable[Span]) -> dict[str, float]:
    """Seconds the brick tasks spent in each part of a brick, summed over bricks: read,
    kernel, issuing writes (the call), and the rest (waiting for the writes to commit,
    journal, handles)."""
    spans = list(spans)
    total = {
        k: sum(t1 - t0 for _, st, t0, t1 in spans if st == k)
        for k in ("brick", "read", "kernel", "write-call")
    }
    return {**total, "wait": total["brick"] - total["read"] - total["kernel"] - total["write-call"]}  # fmt: skip


# -- the parent: runs, medians, the table -------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    load: float
    stats: dict[str, Any] = field(default_factory=dict)
    threads: dict[str, float] = field(default_factory=dict)
    bricks: int = 0
    spans: int = 0
    window_cores: float = 0.0


@dataclass
class Cell:
    tree: str
    settings: str
    jobs: int
    runs: list[Run] = field(default_factory=list)
    bare: list[Run] = field(default_factory=list)
    threads: str = "?"


def src_dir(src: Path) -> Path:
    src = src.resolve()
    return src / "src" if (src / "src" / "ngffkit").is_dir() else src


def one_run(src: Path, argv: list[str], wrap: bool, scratch: Path, folder: Path, log: str) -> Run:
    from measure import run_measured, warm_page_cache

    out = scratch / "spans.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src)}
    child_argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(out)]
    child_argv += [*([] if wrap else ["--bare"]), "--", *argv]
    warm_page_cache(folder)
    load = os.getloadavg()[0]
    r = run_measured(child_argv, log_path=scratch / "logs" / log, env=env, timeout_s=3600)
    if r.returncode != 0:
        tail = (scratch / "logs" / log).read_text()[-2000:]
        raise SystemExit(f"{log} failed ({r.returncode}):\n{tail}")
    record = json.loads(out.read_text())
    if not Path(record["tasks"]).resolve().is_relative_to(src):
        raise SystemExit(f"the child imported {record['tasks']}, not ngffkit from {src}")
    spans = [tuple(s) for s in record["spans"]]
    run = Run(r.wall_s, r.user_s + r.sys_s, load)
    if wrap:
        run.stats = overlap(spans)
        run.threads = brick_threads(spans)
        run.bricks = sum(1 for s in spans if s[1] == "brick")
        run.spans = len(spans)
        marks = sorted(record["cpu"])
        (t0, c0), (t1, c1) = marks[0], marks[-1]
        run.window_cores = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
    return run


def med(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def summary(cell: Cell) -> dict[str, Any]:
    runs = cell.runs
    row: dict[str, Any] = {
        "tree": cell.tree,
        "settings": cell.settings,
        "jobs": cell.jobs,
        "runs": len(runs),
        "bricks": runs[0].bricks,
        "spans": runs[0].spans,
        "load": [round(r.load, 1) for r in runs],
        "wall": med(r.wall for r in runs),
        "cpu": med(r.cpu for r in runs),
        "threads": cell.threads,
        "cores": med(r.cpu / r.wall for r in runs),
        "window_cores": med(r.window_cores for r in runs),
        "no_write": med(r.stats["no_write"] for r in runs),
        "fill": med(r.stats["fill"] for r in runs),
        "hidden_read": med(r.stats["hidden"].get("read", 0.0) for r in runs),
        "hidden_kernel": med(r.stats["hidden"].get("kernel", 0.0) for r in runs),
        "window": med(r.stats["window"] for r in runs),
        "multi": med(r.stats["multi"] for r in runs),
        "read_write": med(r.stats["read_write"] for r in runs),
        "one": med(sum(r.stats["alone"].values()) for r in runs),
        "idle": med(r.stats["idle"] for r in runs),
        "wait": med(r.threads["wait"] for r in runs),
        "write_call": med(r.threads["write-call"] for r in runs),
    }
    for s in STAGES:
        row[f"busy_{s}"] = med(r.stats["busy"][s] for r in runs)
        row[f"alone_{s}"] = med(r.stats["alone"][s] for r in runs)
    row["each"] = [
        {"wall": r.wall, "cpu": r.cpu, "load": r.load, "window_cores": r.window_cores,
         **{k: r.stats[k] for k in ("window", "multi", "read_write", "idle", "no_write", "fill")},
         "hidden": r.stats["hidden"], "alone": r.stats["alone"], "wait": r.threads["wait"]}
        for r in runs
    ]  # fmt: skip
    if cell.bare:
        row["bare_wall"] = med(r.wall for r in cell.bare)
        row["bare_cpu"] = med(r.cpu for r in cell.bare)
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    """Two tables: the overlap, then the critical-path view and the wrappers' cost."""

    def pct(x: float) -> str:
        return f"{100 * x:.0f} %"

    print(f"\nmachine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (1 min)\n")
    print("| tree | settings | jobs | plan: tasks×kernel / encoding / I/O threads | wall s | cores busy: run / window "
          "| read / kernel / write busy s | window s | ≥ 2 stages | read ∥ write "
          "| read / kernel hidden behind writes | load |")  # fmt: skip
    print("|---" * 12 + "|")
    for r in rows:
        print(
            f"| {r['tree']} | {r['settings']} | {r['jobs']} | {r['threads']} | {r['wall']:.2f} "
            f"| {r['cores']:.2f} / {r['window_cores']:.2f} "
            f"| {r['busy_read']:.2f} / {r['busy_kernel']:.2f} / {r['busy_write']:.2f} "
            f"| {r['window']:.2f} | {pct(r['multi'])} | {pct(r['read_write'])} "
            f"| {pct(r['hidden_read'])} / {pct(r['hidden_kernel'])} "
            f"| {min(r['load']):.1f}–{max(r['load']):.1f} |"
        )
    print("\n| tree | settings | jobs | one stage alone: all (read / kernel / write) "
          "| no write in flight (of it before the first write) | none | brick tasks waiting on writes s "
          "| wall / CPU s with wrappers | without |")  # fmt: skip
    print("|---" * 9 + "|")
    for r in rows:
        bare = f"{r['bare_wall']:.2f} / {r['bare_cpu']:.2f}" if "bare_wall" in r else ""
        print(
            f"| {r['tree']} | {r['settings']} | {r['jobs']} "
            f"| {pct(r['one'])} ({pct(r['alone_read'])} / {pct(r['alone_kernel'])} / "
            f"{pct(r['alone_write'])}) | {pct(r['no_write'])} ({pct(r['fill'])}) | {pct(r['idle'])} "
            f"| {r['wait']:.2f} | {r['wall']:.2f} / {r['cpu']:.2f} | {bare} |"
        )


def wrapper_cost(n: int = 20000) -> tuple[float, float]:
    """Seconds the wrappers add per timed call and per write (best of 5, this process): a
    wrapped no-op against a plain one, and a proxied 16³ write to a memory array against a
    direct one."""
    import numpy as np
    import tensorstore as ts

    def best(fn: Callable[[], None], k: int) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            times.append((time.perf_counter() - t0) / k)
        return min(times)

    recorder = _Recorder()
    noop = lambda: None  # noqa: E731
    call = best(recorder.timed("read", noop), n) - best(noop, n)
    spec = {"driver": "array", "array": np.zeros((16, 16, 16), np.uint8), "dtype": "uint8"}
    store = ts.open(spec).result()
    data = np.ones((16, 16, 16), np.uint8)
    proxy = _Store(store, recorder)
    k = n // 10
    write = best(lambda: proxy[:].write(data).result(), k) - best(
        lambda: store[:].write(data).result(), k
    )
    return max(call, 0.0), max(write, 0.0)


def _short(threads: str) -> str:
    """``2 brick task(s) × 1 kernel thread(s), 2 encoding …, 2 file I/O …`` as ``2×1 / 2 / 2``."""
    numbers = [int(x) for x in re.findall(r"(\d+) [a-zA-Z/ ]+?\(s\)", threads)]
    return (
        f"{numbers[0]}×{numbers[1]} / {numbers[2]} / {numbers[3]}" if len(numbers) >= 4 else threads
    )


def plan_threads(src: Path, argv: list[str]) -> str:
    """The ``threads:`` line of ``ngff ARGV --dry-run`` ("?" where the tree prints none)."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-m", "ngffkit", *argv, "--dry-run"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    line = next((x for x in out.stdout.splitlines() if x.startswith("threads:")), "threads: ?")
    return _short(line.removeprefix("threads: "))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stack", default="A_u8", help="a stack of bench_many_core.py (default A_u8)")
    p.add_argument("--small", action="store_true", help="its small shape: a smoke run")
    p.add_argument("--jobs", type=lambda s: [int(j) for j in s.split(",")], default=None,
                   help="job counts (default 1, 2, 4, … the cores, and twice the cores)")  # fmt: skip
    p.add_argument("--settings", default="default,equal", help="default, equal or both")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--src", type=Path, action="append", default=None,
                   help="checkout (or its src/) to run; repeat to compare (default: this one)")  # fmt: skip
    p.add_argument("--no-overhead", action="store_true", help="skip the runs without wrappers")
    p.add_argument("--scratch", type=Path, default=None, help="where outputs go (default: tmp)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)

    import shutil
    import tempfile

    sys.path.insert(0, str(BENCH))
    from bench_many_core import (
        CHUNK,
        DEFAULT,
        EQUAL,
        LEVELS,
        SMALL,
        STACKS,
        Stack,
        job_counts,
        make_stack,
    )

    cores = os.cpu_count() or 1
    # Twice the cores too: --jobs is an upper bound, never a reason to slow down.
    jobs_list = args.jobs or [*job_counts(cores), 2 * cores]

    if args.stack not in STACKS:
        p.error(f"unknown stack {args.stack!r}; choose from {list(STACKS)}")
    shape = SMALL[args.stack] if args.small else STACKS[args.stack][0]
    st = Stack(args.stack, shape, STACKS[args.stack][1])
    make_stack(st)
    known = {"default": DEFAULT, "equal": EQUAL}
    chosen = [s.strip() for s in args.settings.split(",") if s.strip()]
    if not chosen or set(chosen) - set(known):
        p.error(f"--settings: choose from {list(known)}")
    trees = [src_dir(s) for s in (args.src or [REPO])]
    scratch = Path(tempfile.mkdtemp(prefix="overlap-", dir=args.scratch))
    out = scratch / "out.ome.zarr"
    cells = {
        (tree, name, jobs): Cell((tree.parent if tree.name == "src" else tree).name, name, jobs)
        for name in chosen
        for jobs in jobs_list
        for tree in trees
    }
    print(f"{st.name}: {' × '.join(map(str, st.shape))} {st.dtype}, {st.nbytes / 1e6:,.0f} MB")
    try:
        # Rounds interleave every tree, setting and job count (and the runs without
        # wrappers): the machine's drift hits them all alike.
        for i in range(args.repeat):
            for (tree, name, jobs), cell in cells.items():
                options = known[name][1]
                convert = ["convert", str(st.folder), str(out), "--jobs", str(jobs), *options]
                convert += ["--levels", str(LEVELS), "--chunks", str(CHUNK), "--quiet"]
                if i == 0:
                    cell.threads = plan_threads(tree, convert)
                for wrap in (True, False) if not args.no_overhead else (True,):
                    shutil.rmtree(out, ignore_errors=True)
                    log = f"{len(cell.runs)}-{name}-{jobs}-{'w' if wrap else 'b'}-{i}.log"
                    run = one_run(tree, convert, wrap, scratch, st.folder, log)
                    (cell.runs if wrap else cell.bare).append(run)
                print(f"  round {i + 1}: {cell.tree} {name} jobs {jobs}: {cell.runs[-1].wall:.2f} s "
                      f"(load {cell.runs[-1].load:.1f})", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [summary(c) for c in cells.values()]
    print_table(rows)
    call, write = wrapper_cost()
    most = max(rows, key=lambda r: r["spans"])
    print(f"\nwrappers' own cost: {1e6 * call:.1f} µs per timed call, {1e6 * write:.1f} µs per "
          f"write; at most {most['spans']} spans in a run ({most['bricks']} bricks): about "
          f"{1e3 * most['spans'] * max(call, write):.1f} ms of CPU")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        bare = sys.argv[3] == "--bare"
        rest = sys.argv[4 if bare else 3 :]
        child(Path(sys.argv[2]), not bare, rest[1:] if rest[:1] == ["--"] else rest)
    else:
        main()

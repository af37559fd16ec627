"""Start-up: what every ``ngff`` run pays before and after its bricks, as medians of many runs.

    python benchmarks/bench_startup.py                  # 15 runs of each, A_u8-32x256x256
    python benchmarks/bench_startup.py --repeat 31 --stack benchmarks/data/A_u8-256x1024x1024

Rows (each a fresh interpreter, run ``--repeat`` times, interleaved so that the machine's drift
hits every row alike; median and min of wall and of CPU = user + sys of the process):

* ``python -c pass``         the interpreter alone (the floor of every row);
* ``import ngffkit``         the package (it imports nothing behind its names);
* ``ngff --help``            the command line, listing its commands;
* ``import tensorstore``     the writer's library (and ml_dtypes, which it imports);
* ``ngff convert --quiet``   a small conversion, end to end (``-m ngffkit``, as the ``ngff``
  script runs it; with ``--compiled`` the plan takes the numba kernels, as runs above 3 GB do);
* ``… numba kernels``        ``import ngffkit._kernels_numba`` and one call of the 2×2×2 mean
  kernel for uint8 (what a run that uses the compiled kernels pays once, from numba's cache).

Then one table of where the conversion's time goes, from a driver that runs the same
``ngff convert`` in-process and stamps ``time.monotonic()`` (system-wide, so comparable with
the parent's clock) and ``time.process_time()`` at each step: interpreter start (spawn to the
driver's first line), CLI import, the convert command up to planning (its imports: numpy,
tensorstore, pydantic), planning (source probing, the plan), planning to the first brick
(output creation, journal, executor), the bricks, and the end (metadata, summary, interpreter
shutdown). The driver wraps ``execution.run_brick`` and ``source_plan.make_plan`` (the one planning rule's call) to find those
moments, so it follows those names if they move. Nothing here asserts a number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_STACK = BENCH / "data" / "A_u8-32x256x256"

# --compiled: the plan takes the compiled kernels whatever the input's size, as a run above
# plan.COMPILED_KERNELS_FROM (3 GB) does, to measure what loading numba costs a conversion.
FORCE_COMPILED = "import ngffkit.plan; ngffkit.plan.COMPILED_KERNELS_FROM = 0\n"
CONVERT = (
    "import json, sys\n"
    "sys.argv = ['ngff', *json.loads(sys.argv[1])]\n"
    "from ngffkit.cli.entry import main\n"
    "main()\n"
)

DRIVER = r"""
import json, sys, time
stamps = {"driver": (time.monotonic(), time.process_time())}
def stamp(name):
    stamps.setdefault(name, (time.monotonic(), time.process_time()))
import ngffkit.cli.app as app
stamp("cli imported")
# What main() does before a command imports the library (OpenBLAS's threads, pydantic's
# plugins), and the library imported as the convert command imports it.
app.prepare_process()
from ngffkit.cli._common import long_lived
with long_lived():
    import ngffkit.source_plan as conv, ngffkit.execution as ex, ngffkit.plan as plan_module
stamp("library imported")
if sys.argv[2] == "compiled":
    plan_module.COMPILED_KERNELS_FROM = 0
make_plan, run_brick = conv.make_plan, ex.run_brick
def planned(*a, **k):
    stamp("planning")
    try:
        return make_plan(*a, **k)
    finally:
        stamp("planned")
def brick(*a, **k):
    stamp("first brick")
    try:
        return run_brick(*a, **k)
    finally:
        stamp("first brick done")
        stamps["last brick done"] = (time.monotonic(), time.process_time())
conv.make_plan, ex.run_brick = planned, brick
sys.argv = ["ngff", *json.loads(sys.argv[1])]
try:
    app.main()
except SystemExit as exc:
    assert not exc.code, exc.code
stamp("main returned")
sys.stderr.write("STAMPS " + json.dumps(stamps) + "\n")
"""

# The driver imports the library before main() so that the import is one row of its own; in a
# real run the convert command imports it, after main() has prepared the process (as the
# driver does first). Rows are the gaps between consecutive stamps.
PHASES = (
    ("interpreter start", "spawn", "driver"),
    ("CLI import (typer, ngffkit.cli)", "driver", "cli imported"),
    ("library import (numpy, tensorstore, …)", "cli imported", "library imported"),
    ("arguments, source probing", "library imported", "planning"),
    ("planning (make_plan)", "planning", "planned"),
    ("planned → first brick", "planned", "first brick"),
    ("bricks", "first brick", "last brick done"),
    ("  of which the first brick (start → done)", "first brick", "first brick done"),
    ("metadata, summary", "last brick done", "main returned"),
    ("interpreter exit", "main returned", "exit"),
)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str, float, float]:
    """Run ``argv``; its wall seconds, CPU seconds (user + sys), stderr, and the monotonic
    times of its spawn and exit."""
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        end = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{text}")
    return end - start, usage.ru_utime + usage.ru_stime, text, start, end


def driver_stamps(
    convert: list[str], compiled: bool, env: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """One run of :data:`DRIVER` on the ``ngff`` arguments ``convert``: (monotonic time,
    process CPU seconds) at every moment :data:`PHASES` names, ``spawn`` and ``exit`` included."""
    kind = "compiled" if compiled else "plan"
    _, cpu, err, start, end = timed([sys.executable, "-c", DRIVER, json.dumps(convert), kind], env)
    line = next(t for t in err.splitlines() if t.startswith("STAMPS "))
    stamps = {k: (v[0], v[1]) for k, v in json.loads(line[len("STAMPS ") :]).items()}
    stamps["spawn"] = (start, 0.0)
    stamps["exit"] = (end, cpu)
    missing = {name for _, a, b in PHASES for name in (a, b)} - stamps.keys()
    if missing:  # a wrapped name is no longer what the conversion calls
        raise SystemExit(
            f"the driver saw no {', '.join(sorted(missing))}: adapt DRIVER's wrappers to where "
            f"ngffkit now plans and runs bricks\n{err}"
        )
    return stamps


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stack", type=Path, default=DEFAULT_STACK, help="a TIFF folder to convert")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument(
        "--compiled", action="store_true", help="conversions use the compiled (numba) kernels"
    )
    p.add_argument("options", nargs="*", help="extra `ngff convert` options (after --)")
    args = p.parse_args(argv)
    if not args.stack.is_dir():
        raise SystemExit(f"{args.stack}: no such folder (benchmarks/run.py data --small makes it)")

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    out = work / "out.ome.zarr"
    convert = ["convert", str(args.stack), str(out), "--quiet", "--overwrite", *args.options]
    kernel = (
        "import numpy as np; from ngffkit import _kernels_numba as nb; "
        "a = np.zeros((4, 4, 4), np.uint8); b = np.empty((2, 2, 2), np.uint8); "
        "nb.mean_int(a, b, 2, 2, 2, np.empty(4, np.int32))"
    )
    rows: dict[str, list[str]] = {
        "python -c pass": [py, "-c", "pass"],
        "import ngffkit": [py, "-c", "import ngffkit"],
        "ngff --help": [py, "-m", "ngffkit", "--help"],
        "import tensorstore": [py, "-c", "import tensorstore"],
        "ngff convert --quiet": [py, "-m", "ngffkit", *convert]
        if not args.compiled
        else [py, "-c", FORCE_COMPILED + CONVERT, json.dumps(convert)],
        "numba kernels (import + first call)": [py, "-c", kernel],
    }
    if subprocess.run([py, "-c", "import numba"], env=env, capture_output=True).returncode:
        del rows["numba kernels (import + first call)"]  # an environment without numba
    subprocess.run([py, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    for argv_ in rows.values():  # once, unmeasured: bytecode, numba's cache, the page cache
        timed(argv_, env)

    walls: dict[str, list[float]] = {name: [] for name in rows}
    cpus: dict[str, list[float]] = {name: [] for name in rows}
    phases: list[dict[str, tuple[float, float]]] = []
    try:
        for _ in range(args.repeat):
            for name, argv_ in rows.items():
                wall, cpu, _, _, _ = timed(argv_, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
            phases.append(driver_stamps(convert, args.compiled, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    kernels = "compiled kernels" if args.compiled else "the plan's kernels"
    print(f"\n{args.repeat} runs each, {args.stack.name}, {kernels}; seconds\n")
    print("| run | wall median | wall min | CPU median | CPU min |")
    print("|---|---|---|---|---|")
    figures: dict[str, dict[str, float]] = {}
    for name in rows:
        w, c = walls[name], cpus[name]
        figures[name] = {
            "wall_median": statistics.median(w),
            "wall_min": min(w),
            "cpu_median": statistics.median(c),
            "cpu_min": min(c),
        }
        f = figures[name]
        print(
            f"| {name} | {f['wall_median']:.3f} | {f['wall_min']:.3f} | "
            f"{f['cpu_median']:.3f} | {f['cpu_min']:.3f} |"
        )

    print("\nWhere `ngff convert --quiet` spends its time (driver in-process; medians)\n")
    print("| phase | wall | CPU |")
    print("|---|---|---|")
    for label, a, b in PHASES:
        dw = statistics.median(s[b][0] - s[a][0] for s in phases)
        dc = statistics.median(s[b][1] - s[a][1] for s in phases)
        figures[f"phase: {label}"] = {"wall_median": dw, "cpu_median": dc}
        print(f"| {label} | {dw:.3f} | {dc:.3f} |")
    walls_to_first = [s["first brick"][0] - s["spawn"][0] for s in phases]
    cpus_to_first = [s["first brick"][1] for s in phases]
    first = {
        "wall_median": statistics.median(walls_to_first),
        "wall_min": min(walls_to_first),
        "cpu_median": statistics.median(cpus_to_first),
        "cpu_min": min(cpus_to_first),
    }
    print(
        f"| **spawn → first brick** | **{first['wall_median']:.3f}** "
        f"(min {first['wall_min']:.3f}) | **{first['cpu_median']:.3f}** "
        f"(min {first['cpu_min']:.3f}) |"
    )
    figures["spawn to first brick"] = first
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""The plan's memory base is measured, and memory stays within the plan and --max-memory.

* The base (``process_memory``) moves how many bricks run at once and the estimate, not
  the bricks: a resume's fingerprint and what is written do not depend on a measurement
  (except where the bricks leave no room beside it: tests/test_memory_monotonic.py).
* Every input kind converts within the plan's estimate and ``--max-memory`` at every job
  count: tests/test_memory_jobs.py (benchmarks/bench_memory_jobs.py on a bigger volume).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from _support import ngff_command, src_env
from ngffkit.errors import OptionError
from ngffkit.plan import NOMINAL_BASE, ConvertOptions, make_plan, measured_base
from ngffkit.plan_writer import plan_fingerprint
from ngffkit.process_memory import ProcessBase, resident_base

MiB = 1 << 20
ZYX = ("z", "y", "x")
# The estimate is a model of a sampled peak: allowed this share above it.
TOLERANCE = 0.05

CASES = [
    ((160, 1280, 1536), "uint32", {"method": "mode", "shards": 128}),  # labels: compiled
    ((96, 1024, 2048), "uint16", {}),
    ((48, 7888, 8096), "uint16", {}),  # scroll-shaped
    ((600, 2048, 2048), "uint8", {"method": "median"}),
]


@pytest.mark.parametrize(("shape", "dtype", "extra"), CASES)
@pytest.mark.parametrize("jobs", [1, 2, 4, 16])
def test_a_measured_base_never_moves_the_bricks_or_the_fingerprint(
    shape: tuple[int, ...], dtype: str, extra: dict[str, str], jobs: int
) -> None:
    options = ConvertOptions(max_memory=300 * MiB, jobs=jobs, **extra)  # type: ignore[arg-type]
    nominal = make_plan(shape, dtype, ZYX, options, window_cheap=True)
    bases = [
        ProcessBase(70 * MiB, 90 * MiB),
        ProcessBase(110 * MiB, 160 * MiB),
        ProcessBase(160 * MiB, 200 * MiB),
        measured_base(),
    ]
    for base in bases:
        plan = make_plan(shape, dtype, ZYX, options, window_cheap=True, process_base=base)
        assert plan.stages == nominal.stages and plan.spec == nominal.spec
        assert plan_fingerprint(plan, None) == plan_fingerprint(nominal, None)
        assert plan.memory_estimate <= options.max_memory
        assert plan.base_memory >= base.process
        assert 1 <= plan.workers <= jobs


def test_no_room_for_the_kernels_uses_the_numpy_path_then_says_what_it_needs() -> None:
    options = ConvertOptions(max_memory=300 * MiB, jobs=2, method="mode", shards=128)
    shape = (160, 1280, 1536)
    nominal = make_plan(shape, "uint16", ZYX, options, window_cheap=True)
    assert nominal.compiled_kernels
    task = nominal.task_memory
    # the process fits one task, not with the kernels beside it
    tight = ProcessBase(300 * MiB - task - 10 * MiB, 120 * MiB)
    plan = make_plan(shape, "uint16", ZYX, options, window_cheap=True, process_base=tight)
    assert not plan.compiled_kernels and plan.workers == 1
    assert plan.stages == nominal.stages and plan.memory_estimate <= options.max_memory
    assert any("numpy path" in note for note in plan.notes)
    with pytest.raises(OptionError, match=r"this process holds 2\d\d MiB before any data"):
        make_plan(
            shape, "uint16", ZYX, options, window_cheap=True, process_base=ProcessBase(290 * MiB, 0)
        )


HEAVY = """
import sys
import numpy as np
held = np.ones(int(sys.argv[1]), np.uint8)  # the process holds more before it plans
sys.argv = ["ngff", *sys.argv[2:]]
from ngffkit.cli.entry import main
main()
"""


def test_a_bigger_measured_base_writes_the_same_bytes(tmp_path: Path) -> None:
    # labels (mode: the compiled kernels); a second process holds 250 MB more when it plans,
    # so its plan has no room for the kernels: the numpy path. The budget is set from this
    # machine's own base (it differs by Python and numba version): the kernels fit beside
    # the plain process, not beside the heavy one.
    labels = np.random.default_rng(5).integers(0, 40, (64, 256, 256)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "l.tif", labels)
    source = ["convert", str(tmp_path / "l.tif")]
    options = ["--method", "mode", "--jobs", "2", "--name", "cells", "-q"]

    def dry_run(cmd: list[str], out: str, budget: int) -> str:
        argv = [*cmd, *source, str(tmp_path / out), *options, "--max-memory", f"{budget}M"]
        return subprocess.run(
            [*argv, "--dry-run"], env=src_env(), capture_output=True, text=True, check=True
        ).stdout

    found = re.search(r"× (\d+) MiB \+ (\d+) MiB base", dry_run(ngff_command(), "a", 400))
    assert found, "the --dry-run memory line changed"
    task, base = int(found[1]), int(found[2])
    held = 250
    budget = base + held + task - 24  # the heavy process's kernels no longer fit
    args = [*source, "", *options, "--max-memory", f"{budget}M"]
    plain = dry_run(ngff_command(), "a", budget)
    heavy = [sys.executable, "-c", HEAVY, str(held * MiB)]
    planned = dry_run(heavy, "b", budget)
    assert "numpy path" in planned and "numpy path" not in plain
    for out, cmd in (("a", ngff_command()), ("b", heavy)):
        args[2] = str(tmp_path / f"{out}.ome.zarr")
        subprocess.run(
            [*cmd, *args],
            env=src_env(),
            check=True,
        )
    a, b = tmp_path / "a.ome.zarr", tmp_path / "b.ome.zarr"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(files) > 3
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_the_command_counts_its_process_a_library_call_the_nominal_base() -> None:
    code = (
        "from ngffkit.plan import measured_base\n"
        "from ngffkit.process_memory import count_whole_process, resident\n"
        "library = measured_base()\n"
        "count_whole_process()\n"  # what the ngff command's entry point does
        "command = measured_base()\n"
        "print(library.process, library.drift, resident(), command.process, command.drift)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=src_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    library, library_drift, now, command, drift = (int(v) for v in out)
    # a measurement moves from process to process: the least budget a refusal names keeps a
    # margin for the next one's (a refusal named 244 MiB, the next process needed 245)
    assert library_drift == 0 and drift > 0
    # a library call's process is its caller's: the nominal base, whatever it holds
    assert library == NOMINAL_BASE.process
    # the command's: at least the nominal base, and what it holds plus the runtime's share
    assert command >= max(NOMINAL_BASE.process, now)
    assert command <= now + 64 * MiB
    assert resident_base(0, 1) == 1  # this test runner is a library caller


def test_the_kernels_cost_more_before_numba_has_cached_them(tmp_path: Path) -> None:
    code = (
        "import numpy as np\n"
        "from ngffkit.plan import measured_base\n"
        "print(measured_base().kernels)\n"
        "from ngffkit import kernels\n"
        "kernels.downsample(np.ones((8, 8, 8), np.uint16), (2, 2, 2), 'mean')\n"
        "print(measured_base().kernels)\n"
    )

    def run() -> list[int]:
        env = src_env({"NUMBA_CACHE_DIR": str(tmp_path / "numba")})
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return [int(v) for v in done.stdout.split()]

    cold, loaded = run()  # an empty cache: the kernels compile; then numba is loaded
    cached, _ = run()  # the next process loads what the first compiled
    assert cold > cached >= NOMINAL_BASE.kernels
    assert loaded < cold  # numba itself is already in the process


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="psutil is the reading there")
def test_resident_reads_what_psutil_reports_without_importing_it() -> None:
    # /proc/self/statm's resident pages, as psutil reads them on Linux; the measurement
    # must not import psutil (its import was 5 ms of every run's start-up)
    code = (
        "import sys\n"
        "from ngffkit.process_memory import resident\n"
        "mine = resident()\n"
        "imported = 'psutil' in sys.modules\n"
        "import psutil\n"
        "print(imported, mine, resident(), psutil.Process().memory_info().rss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=src_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "False"
    _, after, theirs = (int(v) for v in out[1:])
    assert abs(after - theirs) <= MiB  # the same count, a page or two apart in time

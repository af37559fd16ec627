"""The thread budget (issue 17): brick tasks, tensorstore's encoding and file I/O threads and
kernel threads planned as one budget of cores — the pure chooser, the planner's use of it,
``--dry-run`` showing it, the write context holding tensorstore to it, and outputs that are
the same file for file whatever the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

import ngffkit
from _support import cli
from ngffkit._dask import runs_here
from ngffkit.execution import cpu_count
from ngffkit.parallelism import (
    COPY_THREAD_STATE,
    READ_SHARE,
    Budget,
    choose_budget,
    copy_thread_limit,
    local_jobs,
    per_process,
    run_cores,
    task_limit,
)
from ngffkit.plan import ConvertOptions, make_plan
from ngffkit.samples import write_tiff_stack
from ngffkit.storage import threads_context
from run_helpers import tree_digest

STACK = (512, 2048, 4096)  # issue 17's 8 GiB uint16 stack


def _plan(
    cores: int,
    jobs: int | None = None,
    *,
    cheap: bool = True,
    memory: int = 2 << 30,
    here: bool = True,
):
    options = ConvertOptions(jobs=jobs, max_memory=memory)
    return make_plan(
        STACK, "uint16", "zyx", options, cpu_count=cores, window_cheap=cheap, here=here
    )


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 8, 16, 32, 64, 128])
@pytest.mark.parametrize("jobs", [None, 1, 2, 5, 16])
@pytest.mark.parametrize("cost", list(READ_SHARE))
def test_budget_never_exceeds_the_cores(cores: int, jobs: int | None, cost: str) -> None:
    usable = run_cores(cores, jobs)
    tasks = task_limit(cores, jobs, cost)  # type: ignore[arg-type]
    assert 1 <= tasks <= usable
    if usable >= 2:
        assert tasks >= 2  # one brick read while another is compressed
    budget = choose_budget(cores, jobs, tasks)
    assert budget.cores == usable
    assert budget.tasks * budget.kernel_threads <= budget.cores
    assert budget.copy_threads <= budget.cores and budget.io_threads <= budget.cores
    if jobs is not None:  # --jobs is an upper bound on every kind of thread
        assert max(budget.tasks, budget.copy_threads, budget.io_threads) <= jobs


def test_tasks_feed_the_encoding_threads_and_no_more() -> None:
    # Compression is most of the CPU: every core encodes, tasks only keep it fed.
    assert [task_limit(c, None, "mapped") for c in (1, 2, 4, 16, 64)] == [1, 2, 2, 8, 32]
    # A task that decodes its input (compressed TIFF strips) does more of the work itself.
    assert [task_limit(c, None, "decode") for c in (1, 2, 4, 16, 64)] == [1, 2, 4, 16, 64]
    for cores in (2, 16, 64):
        b = choose_budget(cores, None, task_limit(cores, None))
        assert b.copy_threads == cores and b.io_threads == cores
    # Asking for fewer jobs never plans more of anything; more jobs never fewer tasks.
    for cores in (2, 16, 64):
        limits = [task_limit(cores, j) for j in range(1, cores + 1)]
        assert limits == sorted(limits)


def test_an_impossible_budget_is_refused() -> None:
    with pytest.raises(AssertionError):
        Budget(cores=2, tasks=3, copy_threads=2, io_threads=2)
    with pytest.raises(AssertionError):
        Budget(cores=2, tasks=2, copy_threads=4, io_threads=2)
    with pytest.raises(AssertionError):
        Budget(cores=4, tasks=2, copy_threads=4, io_threads=4, kernel_threads=4)


def test_planner_chooses_the_budget_from_cores_memory_and_read_cost() -> None:
    two, sixteen, many = _plan(2), _plan(16), _plan(64)
    assert (two.workers, two.threads.copy_threads) == (2, 2)
    assert (sixteen.workers, sixteen.threads.copy_threads) == (8, 16)
    assert many.threads.copy_threads == 64 and many.workers <= 32
    for plan in (two, sixteen, many):
        assert plan.workers == plan.threads.tasks
        assert plan.memory_estimate <= plan.max_memory
    # Strip-compressed input: more tasks, since each decodes its own brick (16 would, but
    # 2 GiB holds 15 beside the compiled kernels).
    assert _plan(16, cheap=False).workers == 15
    # --jobs bounds everything.
    one = _plan(16, jobs=1)
    assert (one.workers, one.threads.copy_threads, one.threads.io_threads) == (1, 1, 1)
    # Memory bounds the tasks: a tight budget runs fewer bricks at once, never more
    # than it holds — the encoding threads' own memory counted.
    tight = _plan(64, memory=1 << 30)
    assert tight.workers < many.workers
    assert tight.memory_estimate <= tight.max_memory
    assert tight.pool_memory > 0 and two.pool_memory == 0


def test_dask_workers_get_a_per_process_share() -> None:
    budget = choose_budget(16, None, 8)
    # A local cluster of 4 one-thread processes on 16 cores: 4 cores each.
    local = per_process(budget, 4, 1, 16 // 4)
    assert (local.cores, local.tasks, local.copy_threads, local.processes) == (4, 1, 4, 4)
    # A remote worker with 8 threads: its threads are its cores.
    remote = per_process(budget, 3, 8, 8)
    assert (remote.cores, remote.tasks, remote.copy_threads) == (8, 8, 8)
    assert "in each of 3 processes" in remote.summary()


def test_write_context_holds_tensorstore_to_the_budget() -> None:
    budget = choose_budget(3, None, 2)
    context = threads_context(budget.context_spec())
    assert context["data_copy_concurrency"].to_json() == {"limit": 3}
    assert context["file_io_concurrency"].to_json() == {"limit": 3}
    assert threads_context(budget.context_spec()) is context  # one per set of limits


def test_dry_run_shows_the_budget(tmp_path: Path) -> None:
    write_tiff_stack(tmp_path / "in", (16, 64, 64), "uint8")
    code, out, err = cli(
        "convert", tmp_path / "in", tmp_path / "out.zarr", "--dry-run", "--jobs", "1"
    )
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("threads:"))
    assert line == (
        "threads: 1 brick task(s) × 1 kernel thread(s), 1 encoding thread(s), "
        "1 file I/O thread(s) on 1 core(s)"
    )
    assert not (tmp_path / "out.zarr").exists()


def test_a_run_here_uses_at_most_the_cores_and_the_bricks_follow_jobs() -> None:
    """--jobs is an upper bound: above this machine's cores, more tasks and threads would
    only take turns on them. The bricks still follow --jobs, so that a resume on a cluster
    of that size (or from one) cuts the same ones."""
    assert local_jobs(4, None) is None and local_jobs(4, 3) == 3 and local_jobs(4, 16) == 4
    here, there = _plan(2, 16), _plan(2, 16, here=False)
    assert here.stages == there.stages
    assert here.threads.cores == 2 and here.threads.copy_threads <= 2 and here.workers <= 2
    assert there.threads.cores == 16 and there.workers > 2
    assert _plan(2, 2) == _plan(2, 2, here=False)  # within the cores: nothing to bound


def test_tasks_run_here_unless_a_cluster_runs_them() -> None:
    for executor in ("local", "sequential", "dask"):  # "dask" alone: a local cluster
        assert runs_here(executor, None)
    assert not runs_here("dask", "tcp://127.0.0.1:8786")  # nothing is contacted


def test_more_jobs_than_cores_run_on_the_cores(tmp_path: Path) -> None:
    write_tiff_stack(tmp_path / "in", (16, 64, 64), "uint8")

    def threads(jobs: int) -> str:
        code, out, err = cli(
            "convert", tmp_path / "in", tmp_path / "out.zarr", "--dry-run", "--jobs", str(jobs)
        )
        assert code == 0, err
        return next(x for x in out.splitlines() if x.startswith("threads:"))

    cores = cpu_count()
    assert threads(cores + 7) == threads(cores)
    assert threads(cores + 7).endswith(f"on {cores} core(s)")


@pytest.mark.parametrize(
    "settings",
    [{}, {"version": "0.4", "compression": "blosc-zstd:5"}],
    ids=["default", "v04-blosc"],
)
def test_outputs_are_the_same_whatever_the_budget(tmp_path: Path, settings: dict) -> None:
    stack = tmp_path / "in"
    write_tiff_stack(stack, (48, 160, 192), "uint16", seed=3)
    digests = []
    cores = cpu_count()
    for jobs in (1, cores + 2):  # the second runs on every core (more count as the cores)
        out = tmp_path / f"j{jobs}" / "img.zarr"
        plan = ngffkit.plan_convert(stack, out, jobs=jobs, chunks=32, **settings)
        used = min(jobs, cores)
        assert plan.threads.cores == used and plan.threads.copy_threads == used
        ngffkit.convert(stack, out, jobs=jobs, chunks=32, **settings)
        digests.append(tree_digest(out, skip=(".ngffkit",)))
    assert digests[0] == digests[1] and len(digests[0]) > 10


def test_a_tight_memory_budget_runs_fewer_encoding_threads_instead_of_refusing() -> None:
    chunk = 1 << 20  # a 64³ uint32 chunk
    per_thread = COPY_THREAD_STATE + 2 * chunk
    assert copy_thread_limit(16, None, chunk, room=100 * per_thread) == 16
    assert copy_thread_limit(16, None, chunk, room=3 * per_thread) == 5  # the measured 2 + 3
    assert copy_thread_limit(16, None, chunk, room=0) == 2
    assert copy_thread_limit(1, None, chunk, room=0) == 1
    budget = choose_budget(16, None, 4, copy_threads=5)
    assert budget.copy_threads == 5 and budget.io_threads == 16
    assert budget.pool_memory(chunk) == 3 * per_thread
    # --jobs 16 on this machine with a 300 MiB budget: planned, with fewer encoding threads
    plan = make_plan(
        (160, 1280, 1536),
        "uint32",
        ("z", "y", "x"),
        ConvertOptions(max_memory=300 << 20, jobs=16, method="mode", shards=128),
        window_cheap=True,
    )
    assert 2 <= plan.threads.copy_threads < 16
    assert plan.memory_estimate <= 300 << 20

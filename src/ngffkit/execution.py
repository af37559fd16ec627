"""Running plans: executors (anything shaped like ``concurrent.futures.Executor``) and
:func:`run_plan`, which runs a plan's stages brick by brick on one of them.

The local default is a thread pool: the heavy parts of a task — TIFF decoding, the numba
kernels, tensorstore's compression and I/O — all release the GIL, so threads use every core
without copying bricks between processes (and without paying process start-up).

Dask distributed runs the same tasks on a cluster; its plumbing (:class:`DaskExecutor`,
connecting, local clusters, sizing a plan from a cluster) is in :mod:`ngffkit._dask`; this
module only picks it as one executor among others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ThreadPoolExecutor,
)
from concurrent.futures import wait as futures_wait
from typing import Any, Literal

import numpy as np

from ngffkit._dask import (
    LOST_SCHEDULER,
    WATCH_INTERVAL,
    DaskExecutor,
    client_of,
    connect,
    local_cluster_size,
    start_local_cluster,
    task_error,
)
from ngffkit.bricks import Stage
from ngffkit.errors import InputError, NgffWarning, TaskError
from ngffkit.plan import ConversionPlan
from ngffkit.tasks import Job, Journal, boot_id, forget_handles, open_levels_ahead, run_brick

ExecutorKind = Literal["local", "sequential", "dask"]

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as bricks finish."""

Notice = Callable[[str], None]
"""Called with one line for the user (where the Dask cluster and its dashboard are)."""


class SequentialExecutor(Executor):
    """Runs each task at once in the calling thread (debugging, tests, one-core runs)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity / cgroup-limited sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def make_executor(
    kind: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    *,
    plan: ConversionPlan | None = None,
) -> Executor:
    """An executor of ``kind`` with ``workers`` concurrent tasks.

    ``dask`` connects to ``scheduler`` when given; otherwise it starts a LocalCluster of
    ``workers`` one-thread processes on 127.0.0.1 sharing ``plan.max_memory`` (see
    :func:`local_cluster_size`).
    """
    if kind == "local":
        return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ngffkit")
    if kind == "sequential":
        return SequentialExecutor()
    if kind == "dask":
        if scheduler:
            return connect(scheduler)
        n, memory = local_cluster_size(plan, workers)
        return start_local_cluster(n, memory)
    raise InputError(f"unknown executor {kind!r}; use local, sequential or dask")


def as_executor(executor: Any) -> Executor:
    """``executor`` as a concurrent.futures executor: a ``distributed.Client`` is wrapped
    (and left open afterwards), any ``Executor`` is used as it is."""
    if isinstance(executor, Executor):
        return executor
    client = client_of(executor)
    if client is not None:
        return DaskExecutor(client)
    raise InputError(
        f"executor must be local, sequential, dask, a concurrent.futures "
        f"Executor or a distributed.Client; got {type(executor).__name__}"
    )


def brick_bytes(plan: ConversionPlan, stage: Stage, index: int) -> int:
    """Bytes a brick reads: the weight of its share of the progress bar."""
    itemsize = np.dtype(plan.source_dtype if stage.from_input else plan.spec.dtype).itemsize
    return math.prod(b - a for a, b in stage.box(index)) * itemsize


def run_plan(
    job: Job,
    executor: Executor | str | Any,
    journal: Journal,
    *,
    progress: Progress | None = None,
    scheduler: str | None = None,
    notice: Notice | None = None,
) -> None:
    """Run every stage of ``job.plan`` in order, skipping bricks the journal has.

    ``executor`` is an executor to use (left running), a ``distributed.Client`` (left open)
    or a kind for ``make_executor`` (shut down afterwards). Stages run one after another
    because a stage reads the levels the previous one wrote; the first failing brick cancels
    the rest and its error is raised. ``notice`` hears where a Dask run takes place.
    """
    run_plans([(job, journal)], executor, progress=progress, scheduler=scheduler, notice=notice)


def run_plans(
    jobs: Sequence[tuple[Job, Journal]],
    executor: Executor | str | Any,
    *,
    progress: Progress | None = None,
    scheduler: str | None = None,
    notice: Notice | None = None,
) -> None:
    """:func:`run_plan` for several plans in turn (an image's levels and its labels) on one
    executor, with one progress total across them."""
    if not jobs:
        return
    owned = isinstance(executor, str)
    biggest = max((job.plan for job, _ in jobs), key=lambda p: p.workers * p.task_memory)
    pool = (
        make_executor(executor, max(j.plan.workers for j, _ in jobs), scheduler, plan=biggest)
        if isinstance(executor, str)
        else as_executor(executor)
    )
    try:
        if isinstance(pool, DaskExecutor):
            if any(job.output.startswith("memory://") for job, _ in jobs):
                raise InputError(
                    "a memory:// output lives in one process and Dask workers "
                    "cannot reach it; write to a file or object store URL"
                )
            pool.forget_handles()
            if notice:
                notice(pool.display())
                budget = pool.worker_budget(biggest.threads)
                notice(f"dask: threads per worker: {budget.summary()}")
        try:
            totals = [
                sum(brick_bytes(j.plan, s, i) for s in j.plan.stages for i in range(s.n_bricks))
                for j, _ in jobs
            ]
            offset = 0
            for (job, journal), total in zip(jobs, totals, strict=True):

                def report(done: int, _total: int, base: int = offset) -> None:
                    if progress is not None:
                        progress(base + done, sum(totals))

                job = _with_write_mode(job, journal, pool)
                if isinstance(pool, DaskExecutor):
                    # Each worker process holds its tensorstore threads to its own share.
                    budget = pool.worker_budget(job.plan.threads)
                    job = dataclasses.replace(
                        job, plan=dataclasses.replace(job.plan, budget=budget)
                    )
                _run_stages(job, pool, journal, report)
                offset += total
        finally:
            if isinstance(pool, DaskExecutor):
                # Tidying only: the run may have failed because the cluster went away.
                with contextlib.suppress(Exception):
                    pool.forget_handles()
    finally:
        if owned:
            pool.shutdown(wait=True)
        forget_handles()


def _with_write_mode(job: Job, journal: Journal, pool: Executor) -> Job:
    """``job`` with its chunk files synced to disk only where the journal needs that.

    A run on this machine (threads or local processes) writes through the page cache, as
    zarr-python and the other tools do: a killed run loses nothing, and a crash of the
    machine is caught by the journal's boot check. Dask workers may be other machines,
    whose crashes that check cannot see, so their writes are synced before a brick counts
    as done; so are runs where the boot cannot be told (not Linux).
    """
    synced = job.synced_writes
    if synced is None:
        synced = isinstance(pool, DaskExecutor) or boot_id() is None
    if not journal.start(synced):
        warnings.warn(
            f"{job.output}: the machine restarted since this run began, so bricks "
            "written before may not have reached the disk; writing every brick again",
            NgffWarning,
            stacklevel=2,
        )
    return dataclasses.replace(job, synced_writes=synced)


def _stop(pending: set[Future[Any]], error: BaseException) -> BaseException:
    """Cancel the bricks not yet done (running ones finish first) and return ``error``."""
    for other in pending:
        other.cancel()
    futures_wait(pending)
    return error


def _run_stages(job: Job, executor: Executor, journal: Journal, progress: Progress | None) -> None:
    plan = job.plan
    done = journal.done()
    total = sum(brick_bytes(plan, s, i) for s in plan.stages for i in range(s.n_bricks))
    finished = 0
    dask = executor if isinstance(executor, DaskExecutor) else None
    for k, stage in enumerate(plan.stages):
        todo = []
        for i in range(stage.n_bricks):
            if Journal.key(k, i) in done:
                finished += brick_bytes(plan, stage, i)
            else:
                todo.append(i)
        if progress:
            progress(finished, total)
        futures = {executor.submit(run_brick, job, k, i): i for i in todo}
        if k == 0 and isinstance(executor, ThreadPoolExecutor):
            # Its bricks run on this process's threads and read their input first: their
            # level arrays open meanwhile (see tasks.open_levels_ahead).
            open_levels_ahead(job)
        pending: set[Future[Any]] = set(futures)
        while pending:
            # Bounded waits: a lost scheduler must end the run even if a task never settles.
            completed, pending = futures_wait(
                pending, timeout=WATCH_INTERVAL, return_when=FIRST_COMPLETED
            )
            if not completed and dask is not None and not dask.connected:
                raise _stop(pending, TaskError(f"the Dask client stopped: {LOST_SCHEDULER}"))
            for future in completed:
                error = task_error(
                    None if future.cancelled() else future.exception(),
                    future,
                    f"brick {futures[future]} of stage {k}",
                    dask is not None,
                )
                if error is not None:
                    raise _stop(pending, error)
                finished += brick_bytes(plan, stage, futures[future])
                if progress:
                    progress(finished, total)


__all__ = [
    "ExecutorKind",
    "Notice",
    "Progress",
    "SequentialExecutor",
    "as_executor",
    "brick_bytes",
    "cpu_count",
    "make_executor",
    "run_plan",
    "run_plans",
]

"""Executors: where brick tasks run. Anything shaped like ``concurrent.futures.Executor``.

The local default is a thread pool: the heavy parts of a task — TIFF decoding, the numba
kernels, tensorstore's compression and I/O — all release the GIL, so threads use every core
without copying bricks between processes (and without paying process start-up). Dask
distributed plugs in through ``Client.get_executor()``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, ThreadPoolExecutor, wait
from typing import Any, Literal

import numpy as np

from ngffkit.errors import InputError
from ngffkit.pipeline import Job, Journal, forget_handles, run_brick
from ngffkit.plan import ConversionPlan, Stage

ExecutorKind = Literal["local", "sequential", "dask"]

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as bricks finish."""


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


def make_executor(kind: str = "local", workers: int = 1, scheduler: str | None = None) -> Executor:
    """An executor of ``kind`` with ``workers`` concurrent tasks."""
    if kind == "local":
        return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ngffkit")
    if kind == "sequential":
        return SequentialExecutor()
    if kind == "dask":
        raise InputError(
            "--executor dask is not available yet in this version; use --executor local"
        )
    raise InputError(f"unknown executor {kind!r}; use local, sequential or dask")


def brick_bytes(plan: ConversionPlan, stage: Stage, index: int) -> int:
    """Bytes a brick reads: the weight of its share of the progress bar."""
    itemsize = np.dtype(plan.source_dtype if stage.from_input else plan.spec.dtype).itemsize
    return math.prod(b - a for a, b in stage.box(index)) * itemsize


def run_plan(job: Job, executor: Executor | str, journal: Journal, *,
             progress: Progress | None = None, scheduler: str | None = None) -> None:
    """Run every stage of ``job.plan`` in order, skipping bricks the journal has.

    ``executor`` is an executor to use (left running) or a kind for ``make_executor`` (shut
    down afterwards). Stages run one after another because a stage reads the levels the
    previous one wrote; the first failing brick cancels the rest and its error is raised.
    """
    pool = (make_executor(executor, job.plan.workers, scheduler) if isinstance(executor, str)
            else executor)
    try:
        _run_stages(job, pool, journal, progress)
    finally:
        if isinstance(executor, str):
            pool.shutdown(wait=True)
        forget_handles()


def _run_stages(job: Job, executor: Executor, journal: Journal, progress: Progress | None) -> None:
    plan = job.plan
    done = journal.done()
    total = sum(brick_bytes(plan, s, i) for s in plan.stages for i in range(s.n_bricks))
    finished = 0
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
        pending: set[Future[Any]] = set(futures)
        while pending:
            completed, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in completed:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    wait(pending)
                    raise error
                finished += brick_bytes(plan, stage, futures[future])
                if progress:
                    progress(finished, total)


__all__ = ["ExecutorKind", "Progress", "SequentialExecutor", "brick_bytes", "cpu_count",
           "make_executor", "run_plan"]

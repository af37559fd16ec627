"""Executors: where brick tasks run. Anything shaped like ``concurrent.futures.Executor``.

The local default is a thread pool: the heavy parts of a task — TIFF decoding, the numba
kernels, tensorstore's compression and I/O — all release the GIL, so threads use every core
without copying bricks between processes (and without paying process start-up).

Dask distributed runs the same tasks on a cluster (:class:`DaskExecutor`): a running one
(``scheduler=ADDRESS``, or a ``distributed.Client`` passed as the executor) or a
``LocalCluster`` of processes started for the run. Dask is imported only then, so importing
ngffkit stays fast and starts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import socket
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    CancelledError,
    Executor,
    Future,
    InvalidStateError,
    ThreadPoolExecutor,
)
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ngffkit.errors import InputError, NgffkitError, NgffWarning, StorageError, TaskError
from ngffkit.pipeline import Job, Journal, boot_id, forget_handles, run_brick
from ngffkit.plan import BASE_MEMORY, DEFAULT_MAX_MEMORY, ConversionPlan, Stage

ExecutorKind = Literal["local", "sequential", "dask"]

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as bricks finish."""

Notice = Callable[[str], None]
"""Called with one line for the user (where the Dask cluster and its dashboard are)."""

# Share of a Dask worker's memory limit the plan may fill: Dask pauses a worker at 80 % and
# kills it at 95 %, and freed memory is not always returned to the system at once.
WORKER_MEMORY_SHARE = 0.7

# How often a run waiting on Dask tasks checks that the scheduler is still there, and how
# long closing a client may take when it is not.
WATCH_INTERVAL = 1.0
CLOSE_TIMEOUT = 5.0

LOST_SCHEDULER = ("the connection to the Dask scheduler was lost, or the cluster shut down; "
                  "run the same command again with --resume to finish")


class SequentialExecutor(Executor):
    """Runs each task at once in the calling thread (debugging, tests, one-core runs)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster, through a ``distributed.Client``.

    Tasks are submitted impure (every brick runs, nothing is deduplicated by value). When a
    worker dies, Dask runs its tasks again on another worker (up to
    ``distributed.scheduler.allowed-failures`` times per task); that is safe because a brick
    rewrites whole shards and is journalled only after every write is committed.
    ``shutdown`` closes the client and the cluster only when this executor started them.

    Not ``client.get_executor()``: its futures stay pending for ever when fetching a
    finished task's result fails because the scheduler has just gone away (the error is
    only logged), and a process waiting on them never ends. Here every outcome — result,
    error, cancellation, a lost connection — settles the future.
    """

    def __init__(self, client: Any, *, cluster: Any = None, owned: bool = False) -> None:
        self.client = client
        self._cluster = cluster
        self._owned = owned
        self._lock = threading.Lock()
        self._outstanding: set[Future[Any]] = set()
        self._closed = False

    @property
    def connected(self) -> bool:
        """Whether the client still talks to the scheduler: when the connection drops, Dask
        forgets every task the client submitted, even if it reconnects."""
        return bool(self.client.status == "running")

    @property
    def dashboard(self) -> str | None:
        """The dashboard's address, when the scheduler serves one (without bokeh, a page that
        says how to install it)."""
        info = self.client.scheduler_info(n_workers=0)
        if "dashboard" not in info.get("services", {}):
            return None
        return str(self.client.dashboard_link)

    def describe(self) -> str:
        """One line for the user: where the tasks run."""
        info = self.client.scheduler_info(n_workers=-1)
        workers = info["workers"]
        threads = sum(int(w["nthreads"]) for w in workers.values())
        where = "local cluster" if self._cluster is not None else "cluster"
        line = (f"dask: {where} {info['address']}, {len(workers)} worker(s), "
                f"{threads} thread(s)")
        dashboard = self.dashboard
        return line + (f", dashboard {dashboard}" if dashboard else "")

    def forget_handles(self) -> None:
        """Drop every worker's cached sources and stores: on long-lived workers an output may
        have been replaced since they were opened. Not closed: on a cluster shared by
        several runs another run's task may be using one."""
        if self.connected:  # not while it waits to reconnect
            self.client.run(forget_handles, False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._closed:
            raise RuntimeError("cannot submit tasks after shutdown")
        task = self.client.submit(fn, *args, pure=False, **kwargs)
        future: Future[Any] = Future()
        with self._lock:
            self._outstanding.add(future)

        def done(f: Future[Any]) -> None:
            with self._lock:
                self._outstanding.discard(f)
            if f.cancelled():
                # Whoever cancelled it (the caller, or _settle for Dask) wakes waiters now: a
                # task already running on a worker cannot be stopped, only forgotten.
                task.release()
                f.set_running_or_notify_cancel()

        future.add_done_callback(done)
        self.client.loop.add_callback(_settle, self.client, task, future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        with self._lock:
            outstanding = list(self._outstanding)
        if cancel_futures:
            for future in outstanding:
                future.cancel()
        elif wait:
            futures_wait(outstanding)
        if self._owned:
            # Bounded: with the scheduler gone Dask would wait its connect timeout twice over.
            with contextlib.suppress(Exception):
                self.client.close(timeout=CLOSE_TIMEOUT)
            if self._cluster is not None:
                self._cluster.close()


async def _settle(client: Any, task: Any, future: Future[Any]) -> None:
    """Give ``future`` the outcome of the Dask ``task`` (runs on the client's event loop)."""
    try:
        value = (await client.gather([task], asynchronous=True))[0]
    except BaseException as exc:  # the task's error, or why its result cannot be fetched
        if task.cancelled() or isinstance(exc, CancelledError | asyncio.CancelledError):
            future.cancel()  # its callback notifies waiters
        else:
            with contextlib.suppress(InvalidStateError):  # cancelled by the caller meanwhile
                future.set_exception(exc)
    else:
        with contextlib.suppress(InvalidStateError):
            future.set_result(value)


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity / cgroup-limited sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def make_executor(kind: str = "local", workers: int = 1, scheduler: str | None = None, *,
                  plan: ConversionPlan | None = None) -> Executor:
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


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - a dependency, but an optional-looking one
        raise InputError("--executor dask needs Dask distributed: pip install "
                         "'dask[distributed]'") from None
    return distributed


def connect(scheduler: str) -> DaskExecutor:
    """An executor on the running Dask cluster whose scheduler is at ``scheduler``: an
    address (tcp://HOST:PORT) or the JSON file ``dask scheduler --scheduler-file`` wrote."""
    distributed = _distributed()
    by_file = scheduler.endswith(".json") and os.path.isfile(scheduler)
    problem = _unanswered(scheduler, by_file)
    if problem is not None:
        raise StorageError(
            f"could not reach a Dask scheduler at {scheduler!r}: {problem}; give the address "
            "the scheduler prints (tcp://HOST:PORT) and check that it is running, or leave "
            "out --scheduler to start a local cluster"
        )
    try:
        # Waits Dask's distributed.comm.timeouts.connect (30 s unless configured) for it.
        client = (distributed.Client(scheduler_file=scheduler, set_as_default=False) if by_file
                  else distributed.Client(scheduler, set_as_default=False))
    except Exception as exc:
        raise StorageError(
            f"could not reach a Dask scheduler at {scheduler!r} ({type(exc).__name__}: {exc}); "
            "give the address the scheduler prints (tcp://HOST:PORT) and check that it is "
            "running, or leave out --scheduler to start a local cluster"
        ) from None
    return DaskExecutor(client, owned=True)


def _unanswered(scheduler: str, by_file: bool, timeout: float = 5.0) -> str | None:
    """Why the scheduler's TCP port does not answer at all, or None (it answers, or the
    address is not plain TCP). Dask would wait its connect timeout (30 s) to say so; a
    scheduler that never answered once is not coming, so say it now."""
    import json
    from urllib.parse import urlsplit

    address = scheduler
    if by_file:
        try:
            address = str(json.loads(Path(scheduler).read_text()).get("address", ""))
        except (OSError, ValueError, AttributeError):
            return None
    if "://" not in address:
        address = "tcp://" + address
    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        return None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return f"nothing listens on {parts.hostname}:{parts.port} (connection refused)"
    except TimeoutError:
        return f"{parts.hostname}:{parts.port} did not answer within {timeout:.0f} s"
    except OSError as exc:
        return f"{parts.hostname}:{parts.port}: {exc.strerror or exc}"


def local_cluster_size(plan: ConversionPlan | None, workers: int) -> tuple[int, int]:
    """(processes, memory limit per process) for a LocalCluster running ``plan``.

    Each process carries its own interpreter and libraries (``plan.base_memory``) besides one
    task, so there are no more processes than ``max_memory`` holds at that cost; the budget
    is then split evenly and becomes each worker's memory limit (Dask restarts a worker that
    goes over it, and the task runs again).
    """
    if plan is None:
        return max(1, workers), DEFAULT_MAX_MEMORY // max(1, workers)
    per_process = plan.base_memory + plan.task_memory
    n = max(1, min(workers, plan.max_memory // per_process))
    return n, max(plan.max_memory // n, per_process)


def start_local_cluster(workers: int, memory_limit: int) -> DaskExecutor:
    """A LocalCluster of ``workers`` one-thread processes on 127.0.0.1, and its client."""
    distributed = _distributed()
    import dask

    # Tasks return only a small record, so Dask holds no data to spill; pausing a worker
    # because of memory the tensorstore/numpy allocator has not handed back would only stall.
    memory = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
              "distributed.worker.memory.pause": False}
    try:
        with dask.config.set(memory):
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", memory_limit=memory_limit, silence_logs=40,
            )
    except Exception as exc:
        raise NgffkitError(
            f"could not start a local Dask cluster ({exc}); worker processes start by "
            "importing the main module, so a script must call convert under "
            "`if __name__ == '__main__':`"
        ) from exc
    try:
        client = distributed.Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return DaskExecutor(client, cluster=cluster, owned=True)


def as_executor(executor: Any) -> Executor:
    """``executor`` as a concurrent.futures executor: a ``distributed.Client`` is wrapped
    (and left open afterwards), any ``Executor`` is used as it is."""
    if isinstance(executor, Executor):
        return executor
    client = _client_of(executor)
    if client is not None:
        return DaskExecutor(client)
    raise InputError(f"executor must be local, sequential, dask, a concurrent.futures "
                     f"Executor or a distributed.Client; got {type(executor).__name__}")


def _client_of(executor: Any) -> Any:
    """The ``distributed.Client`` behind ``executor``, or None."""
    if isinstance(executor, DaskExecutor):
        return executor.client
    if callable(getattr(executor, "get_executor", None)) and callable(
            getattr(executor, "scheduler_info", None)):
        return executor
    return None


def cluster_budget(executor: Any, scheduler: str | None, jobs: int | None,
                   max_memory: int | None) -> tuple[int | None, int]:
    """``(jobs, max_memory)`` to plan with: what was asked, else what the cluster holds.

    On a running Dask cluster (a ``distributed.Client``, or ``dask`` with ``scheduler``)
    the defaults are its thread count and the memory its workers may fill
    (``WORKER_MEMORY_SHARE`` of each limit, less each process's own ``BASE_MEMORY``), so
    that every concurrent task's brick fits the worker it runs on. Elsewhere: unchanged,
    with ``DEFAULT_MAX_MEMORY`` when no budget was given.
    """
    default = DEFAULT_MAX_MEMORY if max_memory is None else max_memory
    running = executor == "dask" and bool(scheduler)
    client = _client_of(executor)
    # A scheduler address is always tried here, before any output exists: a wrong address
    # must not leave a partial dataset behind.
    if not running and (client is None or (jobs is not None and max_memory is not None)):
        return jobs, default
    if client is None:
        pool = connect(str(scheduler))
        try:
            workers = pool.client.scheduler_info(n_workers=-1)["workers"]
        finally:
            pool.shutdown()
    else:
        workers = client.scheduler_info(n_workers=-1)["workers"]
    if jobs is not None and max_memory is not None:
        return jobs, max_memory
    if not workers:
        raise NgffkitError("the Dask cluster has no workers yet; start some (or wait for "
                           "them), or pass --jobs and --max-memory to plan without them")
    threads = sum(int(w["nthreads"]) for w in workers.values())
    usable = BASE_MEMORY
    for w in workers.values():
        limit = int(w.get("memory_limit") or 0) or DEFAULT_MAX_MEMORY * int(w["nthreads"])
        usable += max(int(limit * WORKER_MEMORY_SHARE) - BASE_MEMORY, 0)
    return (jobs if jobs is not None else threads,
            max_memory if max_memory is not None else usable)


def brick_bytes(plan: ConversionPlan, stage: Stage, index: int) -> int:
    """Bytes a brick reads: the weight of its share of the progress bar."""
    itemsize = np.dtype(plan.source_dtype if stage.from_input else plan.spec.dtype).itemsize
    return math.prod(b - a for a, b in stage.box(index)) * itemsize


def run_plan(job: Job, executor: Executor | str | Any, journal: Journal, *,
             progress: Progress | None = None, scheduler: str | None = None,
             notice: Notice | None = None) -> None:
    """Run every stage of ``job.plan`` in order, skipping bricks the journal has.

    ``executor`` is an executor to use (left running), a ``distributed.Client`` (left open)
    or a kind for ``make_executor`` (shut down afterwards). Stages run one after another
    because a stage reads the levels the previous one wrote; the first failing brick cancels
    the rest and its error is raised. ``notice`` hears where a Dask run takes place.
    """
    run_plans([(job, journal)], executor, progress=progress, scheduler=scheduler, notice=notice)


def run_plans(jobs: Sequence[tuple[Job, Journal]], executor: Executor | str | Any, *,
              progress: Progress | None = None, scheduler: str | None = None,
              notice: Notice | None = None) -> None:
    """:func:`run_plan` for several plans in turn (an image's levels and its labels) on one
    executor, with one progress total across them."""
    if not jobs:
        return
    owned = isinstance(executor, str)
    biggest = max((job.plan for job, _ in jobs), key=lambda p: p.workers * p.task_memory)
    pool = (make_executor(executor, max(j.plan.workers for j, _ in jobs), scheduler,
                          plan=biggest)
            if isinstance(executor, str) else as_executor(executor))
    try:
        if isinstance(pool, DaskExecutor):
            if any(job.output.startswith("memory://") for job, _ in jobs):
                raise InputError("a memory:// output lives in one process and Dask workers "
                                 "cannot reach it; write to a file or object store URL")
            pool.forget_handles()
            if notice:
                notice(pool.describe())
        try:
            totals = [sum(brick_bytes(j.plan, s, i) for s in j.plan.stages
                          for i in range(s.n_bricks)) for j, _ in jobs]
            offset = 0
            for (job, journal), total in zip(jobs, totals, strict=True):
                def report(done: int, _total: int, base: int = offset) -> None:
                    if progress is not None:
                        progress(base + done, sum(totals))
                job = _with_write_mode(job, journal, pool)
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
        warnings.warn(f"{job.output}: the machine restarted since this run began, so bricks "
                      "written before may not have reached the disk; writing every brick again",
                      NgffWarning, stacklevel=2)
    return dataclasses.replace(job, synced_writes=synced)


def _task_error(error: BaseException | None, future: Future[Any], brick: str,
                dask: bool) -> BaseException | None:
    """The error to report for a finished task: Dask's own failures, and any error a task
    on a cluster raised that ngffkit does not word, as a :class:`TaskError` naming
    ``brick``."""
    if future.cancelled():
        return TaskError(f"{brick} was cancelled: {LOST_SCHEDULER}")
    if error is None or isinstance(error, NgffkitError):
        return error
    if type(error).__name__ == "CommClosedError":  # fetching a result from a lost scheduler
        return TaskError(f"the result of {brick} could not be fetched: {LOST_SCHEDULER}")
    if type(error).__name__ == "KilledWorker":
        return TaskError(
            f"Dask workers died repeatedly while running {brick} ({error}); they are "
            "probably running out of memory: give workers more memory or plan smaller "
            "bricks with a lower --max-memory, then rerun with --resume")
    if dask and isinstance(error, Exception):
        wrapped = TaskError(f"{brick} failed on the Dask cluster: {type(error).__name__}: "
                            f"{error}; rerun with --resume once the cause is fixed")
        wrapped.__cause__ = error
        return wrapped
    return error


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
        pending: set[Future[Any]] = set(futures)
        while pending:
            # Bounded waits: a lost scheduler must end the run even if a task never settles.
            completed, pending = futures_wait(pending, timeout=WATCH_INTERVAL,
                                              return_when=FIRST_COMPLETED)
            if not completed and dask is not None and not dask.connected:
                raise _stop(pending, TaskError(f"the Dask client stopped: {LOST_SCHEDULER}"))
            for future in completed:
                error = _task_error(None if future.cancelled() else future.exception(), future,
                                    f"brick {futures[future]} of stage {k}", dask is not None)
                if error is not None:
                    raise _stop(pending, error)
                finished += brick_bytes(plan, stage, futures[future])
                if progress:
                    progress(finished, total)


__all__ = ["DaskExecutor", "ExecutorKind", "Notice", "Progress",
           "SequentialExecutor", "as_executor", "brick_bytes", "cluster_budget", "connect",
           "cpu_count", "local_cluster_size", "make_executor", "run_plan", "run_plans",
           "start_local_cluster"]

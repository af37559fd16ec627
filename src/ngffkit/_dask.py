"""Dask distributed plumbing: :class:`DaskExecutor` (tasks on a cluster, every outcome
settled), connecting to a running scheduler, starting a ``LocalCluster`` sized from a plan,
sizing a plan from a running cluster, and Dask's failures in ngffkit's words.

:mod:`ngffkit.execution` runs plans on any executor and re-exports the public names here.
Dask itself is imported only when a cluster is used, so importing ngffkit stays fast and
starts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor, Future, InvalidStateError
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ngffkit.errors import ClusterError, NgffkitError, TaskError
from ngffkit.parallelism import Budget, per_process
from ngffkit.plan import BASE_MEMORY, DEFAULT_MAX_MEMORY
from ngffkit.tasks import forget_handles

if TYPE_CHECKING:
    from ngffkit.plan import ConversionPlan

# Share of a Dask worker's memory limit the plan may fill: Dask pauses a worker at 80 % and
# kills it at 95 %, and freed memory is not always returned to the system at once.
WORKER_MEMORY_SHARE = 0.7

# How often a run waiting on Dask tasks checks that the scheduler is still there, and how
# long closing a client may take when it is not.
WATCH_INTERVAL = 1.0
CLOSE_TIMEOUT = 5.0

LOST_SCHEDULER = (
    "the connection to the Dask scheduler was lost, or the cluster shut down; "
    "run the same command again with [[resume=True]] to finish"
)


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

    def display(self) -> str:
        """One line for the user: where the tasks run."""
        info = self.client.scheduler_info(n_workers=-1)
        workers = info["workers"]
        threads = sum(int(w["nthreads"]) for w in workers.values())
        where = "local cluster" if self._cluster is not None else "cluster"
        line = f"dask: {where} {info['address']}, {len(workers)} worker(s), {threads} thread(s)"
        dashboard = self.dashboard
        return line + (f", dashboard {dashboard}" if dashboard else "")

    def worker_budget(self, budget: Budget) -> Budget:
        """``budget`` for each worker process of this cluster: a local cluster's processes
        share the cores the plan was made for, a remote worker's threads are its cores; each
        runs as many brick tasks as it has threads (Dask hands them out)."""
        workers = _workers(self.client)
        if not workers:
            return budget
        threads = min(int(w["nthreads"]) for w in workers.values())
        local = self._cluster is not None
        cores = max(1, budget.cores // len(workers)) if local else threads
        return per_process(budget, len(workers), threads, cores)

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


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - a dependency, but an optional-looking one
        raise ClusterError(
            "[[executor=dask]] needs Dask distributed: pip install 'dask[distributed]'"
        ) from None
    return distributed


def connect(scheduler: str) -> DaskExecutor:
    """An executor on the running Dask cluster whose scheduler is at ``scheduler``: an
    address (tcp://HOST:PORT) or the JSON file ``dask scheduler --scheduler-file`` wrote."""
    distributed = _distributed()
    by_file = scheduler.endswith(".json") and os.path.isfile(scheduler)
    problem = _unanswered(scheduler, by_file)
    if problem is not None:
        raise ClusterError(
            f"could not reach a Dask scheduler at {scheduler!r}: {problem}; give the address "
            "the scheduler prints (tcp://HOST:PORT) and check that it is running, or leave "
            "out [[scheduler]] to start a local cluster"
        )
    try:
        # Waits Dask's distributed.comm.timeouts.connect (30 s unless configured) for it.
        client = (
            distributed.Client(scheduler_file=scheduler, set_as_default=False)
            if by_file
            else distributed.Client(scheduler, set_as_default=False)
        )
    except Exception as exc:
        raise ClusterError(
            f"could not reach a Dask scheduler at {scheduler!r} ({type(exc).__name__}: {exc}); "
            "give the address the scheduler prints (tcp://HOST:PORT) and check that it is "
            "running, or leave out [[scheduler]] to start a local cluster"
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
    memory = {
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
    }
    try:
        with dask.config.set(memory):
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                memory_limit=memory_limit,
                silence_logs=40,
            )
    except Exception as exc:
        raise ClusterError(
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


def client_of(executor: Any) -> Any:
    """The ``distributed.Client`` behind ``executor``, or None."""
    if isinstance(executor, DaskExecutor):
        return executor.client
    if callable(getattr(executor, "get_executor", None)) and callable(
        getattr(executor, "scheduler_info", None)
    ):
        return executor
    return None


def runs_here(executor: Any, scheduler: str | None) -> bool:
    """Whether the tasks run on this machine: in threads, or in a local cluster of processes
    (not on a running Dask cluster, reached through ``scheduler`` or a ``distributed.Client``)."""
    return not (executor == "dask" and bool(scheduler)) and client_of(executor) is None


def cluster_budget(
    executor: Any, scheduler: str | None, jobs: int | None, max_memory: int | None
) -> tuple[int | None, int]:
    """``(jobs, max_memory)`` to plan with: what was asked, else what the cluster holds.

    On a running Dask cluster (a ``distributed.Client``, or ``dask`` with ``scheduler``)
    the defaults are its thread count and the memory its workers may fill
    (``WORKER_MEMORY_SHARE`` of each limit, less each process's own ``BASE_MEMORY``), so
    that every concurrent task's brick fits the worker it runs on. Elsewhere: unchanged,
    with ``DEFAULT_MAX_MEMORY`` when no budget was given.
    """
    default = DEFAULT_MAX_MEMORY if max_memory is None else max_memory
    running = executor == "dask" and bool(scheduler)
    client = client_of(executor)
    # A scheduler address is always tried here, before any output exists: a wrong address
    # must not leave a partial dataset behind.
    given = jobs is not None and max_memory is not None
    if runs_here(executor, scheduler) or (not running and given):
        return jobs, default
    if client is None:
        pool = connect(str(scheduler))
        try:
            workers = _workers(pool.client)
        finally:
            pool.shutdown()
    else:
        workers = _workers(client)
    if jobs is not None and max_memory is not None:
        return jobs, max_memory
    if not workers:
        raise ClusterError(
            "the Dask cluster has no workers yet; start some (or wait for "
            "them), or pass [[jobs]] and [[max_memory]] to plan without them"
        )
    threads = sum(int(w["nthreads"]) for w in workers.values())
    usable = BASE_MEMORY
    for w in workers.values():
        limit = int(w.get("memory_limit") or 0) or DEFAULT_MAX_MEMORY * int(w["nthreads"])
        usable += max(int(limit * WORKER_MEMORY_SHARE) - BASE_MEMORY, 0)
    return (jobs if jobs is not None else threads, max_memory if max_memory is not None else usable)


def _workers(client: Any) -> dict[str, Any]:
    """The workers the scheduler of ``client`` knows, by address."""
    try:
        return dict(client.scheduler_info(n_workers=-1)["workers"])
    except Exception as exc:  # a closed client, a scheduler gone away
        raise ClusterError(
            f"the Dask scheduler did not answer ({type(exc).__name__}: {exc}); check that "
            "it is running and that the client is connected"
        ) from exc


def task_error(
    error: BaseException | None, future: Future[Any], brick: str, dask: bool
) -> BaseException | None:
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
            "bricks with a lower [[max_memory]], then rerun with [[resume=True]]"
        )
    if dask and isinstance(error, Exception):
        wrapped = TaskError(
            f"{brick} failed on the Dask cluster: {type(error).__name__}: "
            f"{error}; rerun with [[resume=True]] once the cause is fixed"
        )
        wrapped.__cause__ = error
        return wrapped
    return error


__all__ = [
    "CLOSE_TIMEOUT",
    "LOST_SCHEDULER",
    "WATCH_INTERVAL",
    "WORKER_MEMORY_SHARE",
    "DaskExecutor",
    "client_of",
    "cluster_budget",
    "connect",
    "local_cluster_size",
    "runs_here",
    "start_local_cluster",
    "task_error",
]

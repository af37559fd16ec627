"""Executors: where brick tasks run. Anything shaped like ``concurrent.futures.Executor``.

The local default is a thread pool: the heavy parts of a task — TIFF decoding, the numba
kernels, tensorstore's compression and I/O — all release the GIL, so threads use every core
without copying bricks between processes (and without paying process start-up). Dask
distributed plugs in through ``Client.get_executor()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Literal

from ngffkit.errors import InputError

ExecutorKind = Literal["local", "sequential", "dask"]


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


__all__ = ["ExecutorKind", "SequentialExecutor", "cpu_count", "make_executor"]

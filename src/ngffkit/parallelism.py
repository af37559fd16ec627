"""How many threads a conversion runs, planned as one budget: pure arithmetic, no I/O.

A process converting bricks runs three kinds of threads, all from this one budget:

* **brick tasks** (the executor's workers): each reads a brick, casts it, downsamples it in
  memory and hands every level to tensorstore, then waits for its writes. Their CPU work is
  small next to compression and mostly releases the GIL (populated mmaps, numpy copies,
  the kernels);
* **tensorstore's data-copy threads** (the context's ``data_copy_concurrency``): they copy
  the levels into chunks, then encode and compress them — most of a conversion's CPU. One
  pool per process, shared by every task, so it does not multiply with the tasks;
* **tensorstore's file I/O threads** (``file_io_concurrency``): they write the chunk files
  (blocking system calls: the copy into the page cache).

The kernels run one thread per call (``kernel_threads``): the tasks are the parallelism.

The rule: never more copy threads, I/O threads or tasks × kernel threads than the cores the
run may use (``--jobs``, by default every core: an upper bound, never a reason to run more);
as many copy threads as cores, since compression is where the CPU goes and a pool thread
with no chunk to encode costs nothing; and only as many tasks as keep that pool fed. A task
spends ``read_share`` of a brick's CPU in its own thread (reading, casting, downsampling)
and waits for its writes the rest of the time, so twice the cores' worth of task work keeps
as many bricks compressing as reading — and no more: every extra task holds a brick of
memory and competes for the GIL for nothing (issue 17: 16 tasks on 16 cores ran 1.6× slower
than 2). Memory and the number of bricks bound the tasks further (the planner's part).
On Dask each worker process gets the same budget for its own share of the cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

ReadCost = Literal["mapped", "decode"]
"""What reading a brick costs its task: ``mapped`` — the input is copied as stored
(uncompressed TIFF or raw files, memory-mapped; a stored level, which tensorstore decodes in
its own pool); ``decode`` — the task decompresses it (strip-compressed TIFF), which costs
about what compressing it again does."""

# The share of a brick's CPU spent in its task's thread, by read cost. Measured on the
# 256 × 1024 × 1024 uint8 benchmark (issue 17, 2 cores): about 0.05 CPU-s of 0.38 per
# 256×256×512 brick at blosc-zstd 5, about twice that share at zstd 5 (cheaper compression);
# a strip-compressed TIFF's deflate decoding costs about as much as the encoding.
READ_SHARE: dict[ReadCost, float] = {"mapped": 0.25, "decode": 0.6}

# What one copy thread holds while it encodes a chunk, besides the chunk's own bytes: the
# compressor's state (zstd at level 9, blosc-zstd 5's level, keeps about 2-3 MiB of tables
# for a 64³ chunk). The plan's base memory was measured with two copy threads; each one more
# adds this plus two chunks (the chunk copied in and its encoding).
COPY_THREAD_STATE = 4 << 20
MEASURED_COPY_THREADS = 2


@dataclass(frozen=True)
class Budget:
    """The threads of one process running a plan's bricks."""

    cores: int
    """Cores the process may use (the machine's, or fewer with ``--jobs``)."""
    tasks: int
    """Brick tasks at once (the executor's workers)."""
    copy_threads: int
    """tensorstore's ``data_copy_concurrency``: chunks encoded and compressed at once."""
    io_threads: int
    """tensorstore's ``file_io_concurrency``: chunk files written at once."""
    kernel_threads: int = 1
    """Threads of one downsampling call."""
    processes: int = 1
    """Processes running the plan, each with this budget (Dask workers)."""

    def __post_init__(self) -> None:
        # The one rule of the budget, asserted where every budget is made.
        assert 1 <= self.tasks * self.kernel_threads <= self.cores, self
        assert 1 <= self.copy_threads <= self.cores, self
        assert 1 <= self.io_threads <= self.cores, self

    def pool_memory(self, chunk_bytes: int) -> int:
        """Memory the copy threads hold beyond what the plan's base memory counts."""
        extra = max(0, self.copy_threads - MEASURED_COPY_THREADS)
        return extra * (COPY_THREAD_STATE + 2 * chunk_bytes)

    def context_spec(self) -> dict[str, dict[str, int]]:
        """The tensorstore context resources that hold its threads to this budget."""
        return {
            "data_copy_concurrency": {"limit": self.copy_threads},
            "file_io_concurrency": {"limit": self.io_threads},
        }

    def summary(self) -> str:
        where = f" in each of {self.processes} processes" if self.processes > 1 else ""
        return (
            f"{self.tasks} brick task(s) × {self.kernel_threads} kernel thread(s), "
            f"{self.copy_threads} encoding thread(s), {self.io_threads} file I/O thread(s) "
            f"on {self.cores} core(s){where}"
        )


def task_limit(cores: int, jobs: int | None, read_cost: ReadCost = "mapped") -> int:
    """Brick tasks worth running on ``cores`` (``jobs`` bounding them), before memory and
    the number of bricks are counted: enough to keep the copy threads fed, and at least two
    where there are two cores, so that one brick is read while another is compressed."""
    usable = run_cores(cores, jobs)
    wanted = math.ceil(2 * usable * READ_SHARE[read_cost])
    return max(1, min(usable, max(wanted, 2)))


def run_cores(cores: int, jobs: int | None) -> int:
    """Cores a run may use: ``jobs`` when given (the user's word: on a Dask cluster the
    cores are elsewhere), else this machine's."""
    return max(1, jobs or cores)


def local_jobs(cores: int, jobs: int | None) -> int | None:
    """``jobs`` for tasks that run on this machine's ``cores``: at most those. More would only
    add tasks and threads taking turns on them (measured: ``--jobs 8`` on 2 cores ran 4 tasks
    and 8 encoding threads, 4 % slower than ``--jobs 2``, with 75 % more memory planned)."""
    return None if jobs is None else min(jobs, cores)


def copy_thread_limit(cores: int, jobs: int | None, chunk_bytes: int, room: int) -> int:
    """Copy threads worth running whose memory beyond the measured two fits ``room`` bytes:
    a tight ``--max-memory`` takes encoding threads away before it refuses a plan."""
    per_thread = COPY_THREAD_STATE + 2 * chunk_bytes
    fit = MEASURED_COPY_THREADS + max(0, room) // per_thread
    return max(1, min(run_cores(cores, jobs), fit))


def choose_budget(
    cores: int, jobs: int | None, tasks: int, copy_threads: int | None = None
) -> Budget:
    """The budget of a process with ``cores`` (``jobs`` bounding them) that runs ``tasks``
    brick tasks at once (:func:`task_limit`, further bounded by memory and bricks) and at
    most ``copy_threads`` encoding threads (:func:`copy_thread_limit`; default every core)."""
    usable = run_cores(cores, jobs)
    tasks = max(1, min(tasks, usable))
    copy = max(1, min(copy_threads or usable, usable))
    return Budget(cores=usable, tasks=tasks, copy_threads=copy, io_threads=usable)


def per_process(budget: Budget, processes: int, threads: int, cores: int) -> Budget:
    """``budget`` for each of ``processes`` worker processes with ``cores`` each that run
    ``threads`` tasks each (a Dask cluster: a local one splits the machine's cores, a remote
    worker's thread count is its cores)."""
    cores = max(1, cores, threads)
    return replace(
        budget,
        cores=cores,
        tasks=max(1, threads),
        copy_threads=cores,
        io_threads=cores,
        processes=max(1, processes),
    )


__all__ = [
    "COPY_THREAD_STATE",
    "READ_SHARE",
    "Budget",
    "ReadCost",
    "choose_budget",
    "copy_thread_limit",
    "local_jobs",
    "per_process",
    "run_cores",
    "task_limit",
]

"""What a process holds besides the data it works on: the base of every memory plan.

Measured, not assumed: the planners (:func:`ngffkit.plan.make_plan` for convert, labels,
downsample and compress; :mod:`ngffkit.surfaces.flattening`) are given this process's
resident memory when it plans (the interpreter and every library already imported) plus
what the run will still add: tensorstore's pools and the allocator's arenas once bricks
run, and the compiled kernels when they are used and not loaded yet. A library that grows
with a new release or Python version then moves the plan, not a constant.

Two limits keep the measurement honest:

* never below the planner's nominal base (``floor``), which is what a fresh process holds
  on the versions measured (72 MiB on Python 3.11 and 3.13), so a lean process does not
  plan more workers than the nominal base allows;
* only the ``ngff`` command counts its whole process (its entry point calls
  :func:`count_whole_process`): a library call's process belongs to its caller (a
  notebook's arrays, a test runner), whose memory is not the run's, so there the nominal
  base is used and the budget bounds what the run adds.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
# What tensorstore's thread pools, the input's codecs and the allocator's arenas add once
# bricks run: the exact peak (VmHWM) less the tasks' share (plan._task_memory) less the
# resident memory at planning. Measured at --jobs 1 on a 160 × 1024 × 2048 uint16 volume:
# 1-22 MiB reading raw, TIFF and TIFF-folder input by pread, 8 for HDF5, 36 for Zarr,
# whose chunks tensorstore decodes in its own pool (2 MiB chunks, a few in flight) before
# they are copied into the brick; it varies by up to 20 MiB from run to run with the
# allocator's reuse of freed chunk buffers.
RUNTIME_MEMORY = 40 * MiB
# Loading numba and llvmlite (measured 60 MiB on 3.11 and 3.13, numba 0.60-0.62).
NUMBA_IMPORT_MEMORY = 60 * MiB
# What the compiled kernels add besides numba itself: loading cached machine code (63-65
# MiB for the kernels a conversion uses; flatten's sampler, with the runtime's growth,
# adds 97-100 MiB to the process that imported its module, on 3.11 and 3.13), or
# compiling it when the cache is empty (a fresh clone, a new Python: 102-105 MiB for a
# mean and a mode; a few MiB more per dtype).
KERNELS_CACHED_MEMORY = 65 * MiB
KERNELS_COLD_MEMORY = 105 * MiB
# How much the resident memory of the same command, at the same point, moves from one
# process to the next (1 MiB seen on Python 3.13: a refusal named 244 MiB, the next
# process needed 245). Margin for the least budget a refusal names.
BASE_DRIFT = 4 * MiB


@dataclass(frozen=True)
class ProcessBase:
    """The memory a plan counts before any data: ``process`` always, ``kernels`` more
    when the compiled kernels are used. ``drift``: how much more the next process of the
    same command may measure (0 where nothing is measured), which a refusal adds to the
    least budget it names, so that the next run plans at it."""

    process: int
    kernels: int
    drift: int = 0

    def least_text(self, need: int) -> str:
        """What a refusal says of the least budget, ``need`` bytes plus the drift."""
        text = f"allow at least {-(-(need + self.drift) // MiB)} MiB"
        if self.drift:
            text += f" ({self.drift // MiB} MiB of it because a process's memory varies by run)"
        return text


_whole_process = False


def count_whole_process() -> None:
    """Count this process's resident memory in every plan: the process is the run's own
    (the ``ngff`` command), not a library caller's."""
    global _whole_process
    _whole_process = True


def resident() -> int:
    """This process's resident memory now, in bytes.

    On Linux the second field of ``/proc/self/statm`` (pages), which is what psutil reads
    there: importing psutil cost every ``ngff`` run 5 ms of start-up before its first brick.
    psutil elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import psutil

        return int(psutil.Process().memory_info().rss)


def resident_base(adds: int, floor: int) -> int:
    """This process's resident memory plus ``adds`` (what the run will still load), never
    below ``floor``; ``floor`` in a library caller's process (:func:`count_whole_process`)."""
    if not _whole_process:
        return floor
    return max(floor, resident() + adds)


def measure_base(floor: int, kernels_floor: int) -> ProcessBase:
    """The base :func:`ngffkit.plan.make_plan` counts for a run in this process: its
    resident memory and the runtime's growth (at least ``floor``), and what the compiled
    kernels will add (at least ``kernels_floor``)."""
    kernels = kernels_memory(Path(__file__).parent / "_kernels_numba.py")
    drift = BASE_DRIFT if _whole_process else 0
    return ProcessBase(resident_base(RUNTIME_MEMORY, floor), max(kernels, kernels_floor), drift)


def kernels_memory(module: Path) -> int:
    """What the numba kernels of ``module`` (its source file) will add to this process when
    first called: numba itself unless imported, and their machine code, loaded from numba's
    cache or compiled (:data:`KERNELS_CACHED_MEMORY`, :data:`KERNELS_COLD_MEMORY`)."""
    numba = 0 if "numba" in sys.modules else NUMBA_IMPORT_MEMORY
    return numba + (KERNELS_CACHED_MEMORY if _kernels_cached(module) else KERNELS_COLD_MEMORY)


def _kernels_cached(module: Path) -> bool:
    """Whether numba has cached machine code of ``module``'s kernels for this Python (its
    index files, beside the module or under ``NUMBA_CACHE_DIR``); a look at two folders."""
    tag = f"py{sys.version_info.major}{sys.version_info.minor}.nbi"
    chosen = os.environ.get("NUMBA_CACHE_DIR")  # numba then caches only there
    places = list(Path(chosen).glob("*")) if chosen else [module.parent / "__pycache__"]
    for place in places:
        try:
            if any(p.name.endswith(tag) for p in place.glob(f"{module.stem}.*")):
                return True
        except OSError:
            continue
    return False


__all__ = [
    "ProcessBase",
    "count_whole_process",
    "kernels_memory",
    "measure_base",
    "resident",
    "resident_base",
]

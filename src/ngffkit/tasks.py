"""Running one brick of a conversion plan, and the journal that makes runs resumable.

A task is ``run_brick(job, stage, index)``: small picklable arguments, so it runs the same in a
thread, a process or a Dask worker. It opens the input and the output itself (cached per
process), reads its brick once, writes the base level (stage 0), downsamples in memory and
writes the matching region of every level the stage reaches. Writes are issued
asynchronously so that tensorstore compresses level 0 while the next level is computed.
Only when every write is committed is the brick recorded in the journal.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorstore as ts

from ngffkit.arrays import open_array, read_array_info, tensorstore_spec
from ngffkit.bricks import Stage
from ngffkit.casting import cast
from ngffkit.errors import NgffkitError, StorageError
from ngffkit.kernels import downsample, load_compiled
from ngffkit.markers import JOURNAL
from ngffkit.parallelism import Budget
from ngffkit.plan import ConversionPlan
from ngffkit.sources import SourceSpec, open_source
from ngffkit.sources.base import SourceBase
from ngffkit.storage import (
    Location,
    StorageOptions,
    default_options,
    mapped_errors,
    resolve,
    shared_context,
    threads_context,
    using,
)


@dataclass(frozen=True)
class Job:
    """What every task of one conversion shares: where to read, where to write, the plan."""

    output: str
    plan: ConversionPlan
    source: SourceSpec | None = None
    base: str | None = None
    """URL of a stored array that stage 0 reads as it is stored (same axes, no cast) instead
    of ``source``: ``ngff compress`` copies a level into a new encoding this way."""
    verify: bool = False
    """Read every written region back and compare it with what was written (compress)."""
    synced_writes: bool | None = None
    """Flush each chunk file to the disk before its brick counts as done (``fsync``). None:
    the executor decides (``execution.run_plans``): runs on one machine leave it to the
    page cache, as the other tools do, and rely on the journal's boot check
    (:meth:`Journal.start`) for a resume after a crash. ``ngff compress`` always syncs: it
    deletes the original once the copy is written."""

    expand: tuple[int, ...] = ()
    """Axes of the output that ``source`` lacks (size 1 there), inserted after each read: a
    z,y,x label stack written beside a c,z,y,x image."""

    storage: StorageOptions = field(default_factory=default_options)
    """How the tasks reach remote stores: the options in effect where the job was made (a
    call's ``storage_options=``, else the process's), so that worker threads and Dask
    processes read and write with them too."""

    @property
    def syncs(self) -> bool:
        """Whether chunk files are synced (undecided counts as yes: the safe side)."""
        return self.synced_writes is not False


@dataclass(frozen=True)
class BrickResult:
    stage: int
    index: int
    bytes_in: int
    seconds: float


def boot_id() -> str | None:
    """This boot of the machine (Linux), or None where the system does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


class Journal:
    """Which bricks are finished, one small key per brick (works on any store)."""

    #: How the journalled bricks were written: ``{"boot_id": ..., "synced": bool}``.
    WRITES = "writes.json"

    def __init__(self, output: Location) -> None:
        self.location = output.child(JOURNAL)

    @staticmethod
    def key(stage: int, index: int) -> str:
        return f"s{stage}-b{index}"

    def mark(self, stage: int, index: int) -> None:
        self.location.write(self.key(stage, index), b"")

    def start(self, synced: bool) -> bool:
        """Record how this run writes; False when the bricks journalled before cannot be
        trusted and were forgotten.

        Unsynced chunk writes are safe across a killed process (the page cache keeps them)
        but not across a crash or power loss of the machine, after which a journalled
        brick's chunks may never have reached the disk. So a journal of unsynced writes
        made during another boot is dropped, and every brick is written again.
        """
        record = self.location.read_json(self.WRITES)
        boot = boot_id()
        trusted = True
        if record is not None and not record.get("synced", True) and record.get("boot_id") != boot:
            self.clear()
            record, trusted = None, False
        all_synced = synced and (record is None or bool(record.get("synced", True)))
        self.location.write_json(self.WRITES, {"boot_id": boot, "synced": all_synced})
        return trusted

    def done(self) -> set[str]:
        local = self.location.local_path
        if local is not None:
            found = {p.name for p in local.iterdir()} if local.is_dir() else set()
        else:
            found = set(self.location.list_keys() or ())
        return found - {self.WRITES}

    def clear(self) -> None:
        self.location.delete_tree()


# -- per-process handles ----------------------------------------------------------------------

_handles_lock = threading.Lock()
# Keyed with the storage options too: one URL may name two stores (two S3 endpoints).
_sources: dict[tuple[SourceSpec, StorageOptions], Any] = {}
# (output, level path, write_empty, synced, thread limits as JSON, storage options)
_StoreKey = tuple[str, str, bool, bool, str, StorageOptions]
_stores: dict[_StoreKey, ts.TensorStore] = {}
# Level arrays open_levels_ahead started opening, taken by level_store.
_opening: dict[_StoreKey, tuple[Location, ts.Future[ts.TensorStore]]] = {}
_readers: dict[tuple[str, StorageOptions], ts.TensorStore] = {}


def _source(spec: SourceSpec) -> Any:
    key = (spec, default_options())
    with _handles_lock:
        if key not in _sources:
            _sources[key] = open_source(spec)
        return _sources[key]


def level_store(
    output: str,
    path: str,
    *,
    write_empty: bool,
    synced: bool = True,
    threads: Budget | None = None,
) -> ts.TensorStore:
    """The level array at ``output/path``, opened for writing (cached per process).
    ``synced=False`` leaves a local store's chunk files in the page cache (no ``fsync``);
    ``threads`` holds tensorstore's encoding and file I/O threads to a plan's budget."""
    key = _store_key(output, path, write_empty, synced, threads)
    with _handles_lock:
        store = _stores.get(key)
        if store is not None:
            return store
        started = _opening.pop(key, None)
        loc, opening = started if started is not None else _open_level(key)
        with mapped_errors(loc):
            store = opening.result()
        _stores[key] = store
        return store


def open_levels_ahead(job: Job) -> None:
    """Start opening every level array of ``job`` for writing, as the bricks will ask
    :func:`level_store` for them, without waiting.

    A process's first open starts tensorstore's thread pools (measured 6-9 ms); the first
    brick paid it after reading its input, holding the other bricks' opens behind the
    handles' lock. Called as the bricks start, tensorstore does it on its own threads while
    they read their input. For bricks that run in this process; an array that cannot be
    opened here is left for its brick to open again and report."""
    plan = job.plan
    with using(job.storage):
        for path in _level_paths(plan):
            key = _store_key(job.output, path, plan.write_empty_chunks, job.syncs, plan.threads)
            with _handles_lock:  # one level at a time: a brick may want the lock meanwhile
                if key in _stores or key in _opening:
                    continue
                try:
                    _opening[key] = _open_level(key)
                except NgffkitError:
                    continue


def _store_key(
    output: str, path: str, write_empty: bool, synced: bool, threads: Budget | None
) -> _StoreKey:
    limits = threads.context_spec() if threads is not None else None
    return (output, path, write_empty, synced, json.dumps(limits), default_options())


def _open_level(key: _StoreKey) -> tuple[Location, ts.Future[ts.TensorStore]]:
    """Start opening the level array of ``key`` (:func:`_store_key`): where it is, and the
    open under way."""
    output, path, write_empty, synced, limits, _ = key
    loc = resolve(output).child(path) if path else resolve(output)
    info = read_array_info(loc)
    if info is None:
        raise StorageError(
            f"the level array {loc.display()} is missing; rerun with "
            "[[overwrite=True]] to start again"
        )
    spec = tensorstore_spec(loc, info)
    # Skipping chunks equal to the fill value is tensorstore's default; keep them if asked.
    spec["store_data_equal_to_fill_value"] = write_empty
    if spec["kvstore"].get("driver") == "file":
        # Two fsyncs per chunk file (the file, then its folder) cost 7 % of a small
        # conversion's time; see Job.synced_writes for when they are worth it.
        spec["kvstore"]["file_io_sync"] = synced
    threads = json.loads(limits)
    with mapped_errors(loc):
        opening = ts.open(
            spec,
            read=True,
            write=True,
            open=True,
            context=shared_context() if threads is None else threads_context(threads),
        )
    return loc, opening


def array_reader(url: str) -> ts.TensorStore:
    """The stored array at ``url``, opened read-only (cached per process)."""
    key = (url, default_options())
    with _handles_lock:
        store = _readers.get(key)
        if store is None:
            loc = resolve(url)
            info = read_array_info(loc)
            if info is None:
                raise StorageError(f"the array {loc.display()} is missing")
            store = open_array(loc, info)
            _readers[key] = store
        return store


class _InputBuffers:
    """One input buffer per worker thread, kept from one brick to the next.

    A fresh brick-sized array is mapped, page-faulted and zeroed by the kernel and unmapped
    again for every brick (measured: 0.1 of 2.8 CPU-s converting a 256 MiB stack). A brick
    takes its thread's buffer and gives it back only when all its writes are done: one that
    fails may leave tensorstore still copying from it, so it is never handed out again.
    """

    def __init__(self) -> None:
        self._free: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> np.ndarray:
        """This thread's buffer of at least ``nbytes`` bytes, out of the pool until given back."""
        with self._lock:
            buffer = self._free.pop(threading.get_ident(), None)
        if buffer is None or buffer.nbytes < nbytes:
            buffer = None  # the smaller one is freed before the bigger one is made
            buffer = np.empty(nbytes, np.uint8)
        return buffer

    def give_back(self, buffer: np.ndarray) -> None:
        with self._lock:
            self._free[threading.get_ident()] = buffer

    def drop(self) -> None:
        """Free this thread's buffer: its next bricks read no input (a later stage), and the
        plan counts one brick's memory per task, not an idle buffer beside it."""
        with self._lock:
            self._free.pop(threading.get_ident(), None)

    def clear(self) -> None:
        with self._lock:
            self._free.clear()


_input_buffers = _InputBuffers()


def forget_handles(close: bool = True) -> None:
    """Drop cached handles and buffers (after a run, or in tests). ``close=False`` leaves
    closing to the garbage collector: on a shared Dask worker another run's task may hold
    one."""
    with _handles_lock:
        for source in _sources.values() if close else ():
            source.close()
        _sources.clear()
        _stores.clear()
        _opening.clear()
        _readers.clear()
    _input_buffers.clear()


# -- the work -------------------------------------------------------------------------------------


def _level_paths(plan: ConversionPlan) -> list[str]:
    return [""] if plan.zarr_only else [lv.path for lv in plan.spec.levels]


def read_base(
    job: Job,
    stage: Stage,
    box: tuple[tuple[int, int], ...],
    *,
    taken: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The stage's base data for ``box``: the (cast) input for stage 0, else a stored level.

    With ``taken``, the input is read into this thread's reused buffer, which is added to
    ``taken``: the caller gives it back (``_input_buffers.give_back``) once nothing uses it.
    """
    plan = job.plan
    if stage.from_input and job.base is not None:
        index = tuple(slice(a, b) for a, b in box)
        with mapped_errors(resolve(job.base)):
            return np.asarray(array_reader(job.base)[index].read(order="C").result())
    if stage.from_input:
        assert job.source is not None
        source = _source(job.source)
        offset = [a for a, _ in plan.region]
        region = tuple(
            slice(o + a, o + b)
            for i, (o, (a, b)) in enumerate(zip(offset, box, strict=True))
            if i not in job.expand
        )
        if taken is not None and isinstance(source, SourceBase):
            shape = tuple(r.stop - r.start for r in region)
            nbytes = math.prod(shape) * source.dtype.itemsize
            buffer = _input_buffers.take(nbytes)
            taken.append(buffer)
            data = source.read_into(region, buffer[:nbytes].view(source.dtype).reshape(shape))
        else:
            data = source.read(region)
        if job.expand:
            data = np.expand_dims(data, job.expand)
        return cast(data, plan.window, plan.out_dtype)
    store = level_store(
        job.output,
        _level_paths(plan)[stage.base_level],
        write_empty=plan.write_empty_chunks,
        synced=job.syncs,
        threads=plan.threads,
    )
    index = tuple(slice(a, b) for a, b in box)
    with mapped_errors(resolve(job.output), _level_paths(plan)[stage.base_level]):
        return np.asarray(store[index].read().result())


def _check_written(
    store: ts.TensorStore, region: tuple[slice, ...], data: np.ndarray, where: Location
) -> None:
    """Read ``region`` back and compare it with ``data`` (NaNs equal to NaNs)."""
    with mapped_errors(where):
        back = np.asarray(store[region].read().result())
    if not np.array_equal(back, data, equal_nan=data.dtype.kind in "fc"):
        box = ", ".join(f"{r.start}:{r.stop}" for r in region)
        raise StorageError(
            f"verification failed: the data read back from {where.display()} at {box} "
            "differs from what was written; the original is untouched — check the disk "
            "and run the command again"
        )


def run_brick(job: Job, stage_index: int, index: int) -> BrickResult:
    """Process brick ``index`` of stage ``stage_index``; record it in the journal."""
    with using(job.storage):
        return _run_brick(job, stage_index, index)


def _run_brick(job: Job, stage_index: int, index: int) -> BrickResult:
    started = time.perf_counter()
    plan = job.plan
    stage = plan.stages[stage_index]
    box = stage.box(index)
    method = plan.spec.method or "mean"
    if plan.compiled_kernels:  # numba loads in the background while bricks go on without it
        load_compiled(plan.out_dtype, plan.factors, method)
    taken: list[np.ndarray] = []
    if not stage.from_input:
        _input_buffers.drop()
    data = read_base(job, stage, box, taken=taken)
    bytes_in = int(data.nbytes)
    paths = _level_paths(plan)
    pending: list[Any] = []
    written: list[tuple[ts.TensorStore, tuple[slice, ...], np.ndarray]] = []
    start = [a for a, _ in box]
    with mapped_errors(resolve(job.output)):
        for level in stage.levels:
            if level != stage.base_level:
                data = downsample(
                    data,
                    plan.factors[level - 1],
                    method,
                    compiled="when-loaded" if plan.compiled_kernels else False,
                )
                start = [s // f for s, f in zip(start, plan.factors[level - 1], strict=True)]
            elif not stage.from_input:
                continue  # the base of a reduction stage is already stored
            store = level_store(
                job.output,
                paths[level],
                write_empty=plan.write_empty_chunks,
                synced=job.syncs,
                threads=plan.threads,
            )
            region = tuple(slice(s, s + n) for s, n in zip(start, data.shape, strict=True))
            # Copied into chunk order (plan.TASK_OVERHEAD counts the copy): encoding chunks
            # gathered from the brick's strides costs a third more CPU.
            pending.append(store[region].write(data))
            if job.verify:
                written.append((store, region, data))
        for future in pending:
            future.result()
        for w_store, w_region, w_data in written:
            _check_written(w_store, w_region, w_data, resolve(job.output))
    for buffer in taken:  # only now: every write has finished reading it
        _input_buffers.give_back(buffer)
    Journal(resolve(job.output)).mark(stage_index, index)
    return BrickResult(stage_index, index, bytes_in, time.perf_counter() - started)


__all__ = [
    "BrickResult",
    "Job",
    "Journal",
    "array_reader",
    "boot_id",
    "cast",
    "forget_handles",
    "level_store",
    "open_levels_ahead",
    "read_base",
    "run_brick",
]

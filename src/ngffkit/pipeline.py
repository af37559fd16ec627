"""Running one brick of a conversion plan, and the journal that makes runs resumable.

A task is ``run_brick(job, stage, index)``: small picklable arguments, so it runs the same in a
thread, a process or a Dask worker. It opens the input and the output itself (cached per
process), reads its brick once, writes the base level (stage 0), downsamples in memory and
writes the matching region of every level the stage reaches. Writes are issued
asynchronously so that tensorstore compresses level 0 while the next level is computed.
Only when every write is committed is the brick recorded in the journal.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorstore as ts

from ngffkit.arrays import read_array_info, tensorstore_spec
from ngffkit.errors import StorageError
from ngffkit.kernels import downsample
from ngffkit.plan import ConversionPlan, Stage
from ngffkit.sources import SourceSpec, open_source
from ngffkit.storage import Location, map_error, resolve, shared_context

JOURNAL = ".ngffkit-journal"


@dataclass(frozen=True)
class Job:
    """What every task of one conversion shares: where to read, where to write, the plan."""

    output: str
    plan: ConversionPlan
    source: SourceSpec | None = None


@dataclass(frozen=True)
class BrickResult:
    stage: int
    index: int
    bytes_in: int
    seconds: float


class Journal:
    """Which bricks are finished, one small key per brick (works on any store)."""

    def __init__(self, output: Location) -> None:
        self.location = output.child(JOURNAL)

    @staticmethod
    def key(stage: int, index: int) -> str:
        return f"s{stage}-b{index}"

    def mark(self, stage: int, index: int) -> None:
        self.location.write(self.key(stage, index), b"")

    def done(self) -> set[str]:
        local = self.location.local_path
        if local is not None:
            return {p.name for p in local.iterdir()} if local.is_dir() else set()
        listed = self.location.list_sizes()
        return set(listed) if listed is not None else set()

    def clear(self) -> None:
        self.location.delete_tree()


# -- per-process handles ----------------------------------------------------------------------

_handles_lock = threading.Lock()
_sources: dict[SourceSpec, Any] = {}
_stores: dict[tuple[str, str, bool], ts.TensorStore] = {}


def _source(spec: SourceSpec) -> Any:
    with _handles_lock:
        if spec not in _sources:
            _sources[spec] = open_source(spec)
        return _sources[spec]


def level_store(output: str, path: str, *, write_empty: bool) -> ts.TensorStore:
    """The level array at ``output/path``, opened for writing (cached per process)."""
    key = (output, path, write_empty)
    with _handles_lock:
        store = _stores.get(key)
        if store is not None:
            return store
        loc = resolve(output).child(path) if path else resolve(output)
        info = read_array_info(loc)
        if info is None:
            raise StorageError(f"the level array {loc.describe()} is missing; rerun with "
                               "--overwrite to start again")
        spec = tensorstore_spec(loc, info)
        # Skipping chunks equal to the fill value is tensorstore's default; keep them if asked.
        spec["store_data_equal_to_fill_value"] = write_empty
        try:
            store = ts.open(spec, read=True, write=True, open=True,
                            context=shared_context()).result()
        except Exception as exc:
            raise map_error(exc, loc, "") from exc
        _stores[key] = store
        return store


def forget_handles() -> None:
    """Drop cached handles (after a run, or in tests)."""
    with _handles_lock:
        for source in _sources.values():
            source.close()
        _sources.clear()
        _stores.clear()


# -- the work -------------------------------------------------------------------------------------


def cast(data: np.ndarray, window: tuple[float, float] | None, dtype: np.dtype[Any]) -> np.ndarray:
    """Map ``window`` (input values) linearly onto ``dtype``'s range, clipping outside."""
    if data.dtype == dtype:
        return data
    if window is None:
        return data.astype(dtype)
    lo, hi = window
    span = float(hi - lo) or 1.0
    if dtype.kind == "f":
        return ((data.astype(np.float32) - lo) / span).astype(dtype)
    info = np.iinfo(dtype)
    top = float(info.max)
    scaled = (data.astype(np.float32) - lo) * (top / span) + 0.5
    np.clip(scaled, 0.0, top, out=scaled)
    return scaled.astype(dtype)


def _level_paths(plan: ConversionPlan) -> list[str]:
    return [""] if plan.zarr_only else [lv.path for lv in plan.spec.levels]


def read_base(job: Job, stage: Stage, box: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The stage's base data for ``box``: the (cast) input for stage 0, else a stored level."""
    plan = job.plan
    if stage.from_input:
        assert job.source is not None
        source = _source(job.source)
        offset = [a for a, _ in plan.region]
        region = tuple(slice(o + a, o + b) for o, (a, b) in zip(offset, box, strict=True))
        data = source.read(region)
        return cast(data, plan.window, plan.out_dtype)
    store = level_store(job.output, _level_paths(plan)[stage.base_level],
                        write_empty=plan.write_empty_chunks)
    index = tuple(slice(a, b) for a, b in box)
    try:
        return np.asarray(store[index].read().result())
    except Exception as exc:
        raise map_error(exc, resolve(job.output), _level_paths(plan)[stage.base_level]) from exc


def run_brick(job: Job, stage_index: int, index: int) -> BrickResult:
    """Process brick ``index`` of stage ``stage_index``; record it in the journal."""
    started = time.perf_counter()
    plan = job.plan
    stage = plan.stages[stage_index]
    box = stage.box(index)
    data = read_base(job, stage, box)
    bytes_in = int(data.nbytes)
    paths = _level_paths(plan)
    method = plan.spec.method or "mean"
    pending: list[Any] = []
    start = [a for a, _ in box]
    try:
        for level in stage.levels:
            if level != stage.base_level:
                data = downsample(data, plan.factors[level - 1], method)
                start = [s // f for s, f in zip(start, plan.factors[level - 1], strict=True)]
            elif not stage.from_input:
                continue  # the base of a reduction stage is already stored
            store = level_store(job.output, paths[level], write_empty=plan.write_empty_chunks)
            region = tuple(slice(s, s + n) for s, n in zip(start, data.shape, strict=True))
            pending.append(store[region].write(data))
        for future in pending:
            future.result()
    except StorageError:
        raise
    except Exception as exc:
        raise map_error(exc, resolve(job.output), "") from exc
    Journal(resolve(job.output)).mark(stage_index, index)
    return BrickResult(stage_index, index, bytes_in, time.perf_counter() - started)


__all__ = ["JOURNAL", "BrickResult", "Job", "Journal", "cast", "forget_handles",
           "level_store", "read_base", "run_brick"]

"""The conversion plan: pure arithmetic from a source's shape and the user's options.

Nothing here reads or writes data. :func:`make_plan` decides the levels (factors, shapes,
chunks, shards, codecs — an :class:`~ngffkit.spec.ImageSpec`), the region of the input,
the dtype cast, and how the work is cut:

* **Stage 0** reads the input in *bricks*: level-0 boxes aligned to level-0 shards (chunks
  when unsharded), sized so that every level the brick reaches maps onto whole shards of
  that level. One task reads its brick once, writes level 0, downsamples in memory and
  writes the same region of each lower level it reaches. No two tasks write one shard.
* **Later stages** (the reduction) build the coarsest levels, which a brick is too small to
  reach, from the last stored level — the same mechanism with a stored level as input.

Brick size and the number of workers come from the memory budget (``max_memory``) and from
what reading the input costs (strip-compressed TIFFs prefer full-width bricks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from ngffkit.bricks import (
    TASK_SCRATCH,
    Grid,
    Stage,
    check_whole_shards,
    choose_brick,
    fitting_grid,
    shape_text,
    task_held,
)
from ngffkit.casting import cast_record, check_cast
from ngffkit.compression import Compression
from ngffkit.errors import InputError, OptionError
from ngffkit.grid import (
    clip_shards,
    cumulative_factors,
    default_shards,
    input_region,
    per_axis,
    relative_factors,
)
from ngffkit.kernels import METHODS, plan_factors
from ngffkit.metadata.models import ChannelInfo, is_space_name
from ngffkit.parallelism import (
    Budget,
    ReadCost,
    choose_budget,
    copy_thread_limit,
    local_jobs,
    task_limit,
)
from ngffkit.process_memory import ProcessBase, measure_base
from ngffkit.series import axis_lines, channels_for, time_axis
from ngffkit.spec import ImageSpec, make_axes, pyramid_spec
from ngffkit.voxel import missing_voxel_note

MiB = 1 << 20
GiB = 1 << 30
DEFAULT_MAX_MEMORY = 2 * GiB
# The nominal base: what the interpreter, numpy, tensorstore and their thread pools hold
# before any data (measured: 72-90 MiB), and what loading the compiled kernels adds (LLVM:
# about 120 MiB). The brick grid is planned with these constants, so that what is written
# and a resume's fingerprint do not depend on a measurement; a run measures its own base
# (:func:`ngffkit.process_memory.measure_base`) and that decides how many bricks run at once
# and the estimate (and smaller bricks, only where the planned ones leave it no room).
BASE_MEMORY = 100 * MiB
COMPILED_KERNELS_MEMORY = 120 * MiB
NOMINAL_BASE = ProcessBase(BASE_MEMORY, COMPILED_KERNELS_MEMORY)
# Bytes held per byte of brick while a task runs, by which the brick grid is chosen (the
# estimate and the workers count a task term by term: :func:`ngffkit.bricks.task_held`):
# the brick, its cast copy, the lower levels, the encoded chunks and tensorstore's copy in
# chunk order (referencing the brick instead makes encoding gather bytes from its strides:
# +35 % encoding CPU, issue 17).
TASK_OVERHEAD = 3.3
DEFAULT_CHUNKS = {"0.5": 64, "0.4": 128}
# Below this many bytes of input the compiled kernels cost more to load (about 0.7 s of CPU
# and 120 MiB, once per process) than they save over the numpy path. Measured on one core,
# 2×2×2 mean, Gvox/s numpy vs compiled: uint8 2.7 vs 8.3, uint16 1.5 vs 4.9, float32 0.7
# vs 2.1 — the load pays for itself after about 3 GB whatever the type. Median and mode are
# slow enough in numpy that they always use them.
COMPILED_KERNELS_FROM = 3 << 30
# The brick size the planner aims for (bytes of one task's input). Larger bricks are no
# faster on the benchmarks (256³ uint8 bricks run as fast as 256×512×512 ones) but hold
# more memory; smaller ones add stages and per-task overhead.
BRICK_TARGET = 32 * MiB


class ConvertOptions(BaseModel):
    """What the user asked for (array order, level-0 voxels, bytes)."""

    model_config = ConfigDict(frozen=True)

    version: Literal["0.4", "0.5"] = "0.5"
    voxel_size: dict[str, float] | None = None
    unit: str | None = None
    chunks: tuple[int, ...] | int | None = None
    shards: tuple[int, ...] | int | Literal["none"] | None = None  # "none": unsharded 0.5
    compression: str = "zstd:5"
    levels: int | None = None
    method: str = "mean"
    anisotropic: bool = True
    region: tuple[tuple[int | None, int | None], ...] | None = None
    crop_to_origin: bool = False
    dtype: str | None = None
    window: tuple[float, float] | None = None
    window_auto: bool = False  # the window was measured from the input (recorded as such)
    max_memory: int = DEFAULT_MAX_MEMORY
    jobs: int | None = None
    write_empty_chunks: bool = False
    zarr_only: bool = False
    name: str | None = None
    channel_names: tuple[str, ...] | None = None
    time_step: float | None = None
    time_unit: str | None = None
    # the downsampling factors per level (array order), when they must follow another
    # image's pyramid (a label image follows its image); None: planned from the voxel size
    factors: tuple[tuple[int, ...], ...] | None = None

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {value!r}")
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            dtype = np.dtype(value)
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "uifb":
            raise ValueError(
                f"{value!r} is not a data type ngffkit writes; use one of uint8, "
                "uint16, uint32, uint64, int8, int16, int32, int64, float32, "
                "float64"
            )
        return value

    @field_validator("levels")
    @classmethod
    def _positive_levels(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"levels must be at least 1 (level 0 only), got {value}")
        return value

    @field_validator("max_memory")
    @classmethod
    def _enough_memory(cls, value: int) -> int:
        # The least a run can need; what this input needs is decided by make_plan.
        if value <= BASE_MEMORY:
            raise ValueError(
                f"{value / MiB:.0f} MiB is less than the interpreter and libraries alone hold "
                f"({BASE_MEMORY / MiB:.0f} MiB)"
            )
        return value


@dataclass(frozen=True)
class ConversionPlan:
    """Everything a conversion will do, decided before anything is written
    (:func:`ngffkit.plan_convert` makes one; ``print(plan)`` shows it as ``--dry-run`` does).

    Attributes:
        spec: the image to write (:class:`ImageSpec`: levels, chunks, shards, codec).
        source_shape: the input's shape, in the output's axis order.
        source_dtype: the input's data type.
        region: the part of the input converted, (start, stop) per axis.
        factors: the reduction from each level to the next, per axis.
        stages: the passes over bricks (stage 0 reads the input; later ones a level).
        workers: how many bricks run at once.
        task_memory: the memory one brick's task holds, in bytes.
        window: the input values mapped onto the output range by a cast, if any.
        window_auto: the window was measured from the input.
        write_empty_chunks: chunks holding only the fill value are stored too.
        zarr_only: one plain Zarr array is written (no OME metadata, no pyramid).
        max_memory: the memory budget of the run, in bytes.
        notes: what the plan guessed or chose that the user should know.
        compiled_kernels: the compiled (numba) kernels are used.
        budget: the threads of the run (brick tasks, tensorstore's encoding and file I/O
            threads, kernel threads), planned as one budget of cores
            (:mod:`ngffkit.parallelism`); ``workers`` is its ``tasks``.
        process_memory: what the process holds before any data (measured when planned).
        kernels_memory: what loading the compiled kernels adds.
    """

    spec: ImageSpec
    source_shape: tuple[int, ...]
    source_dtype: str
    region: tuple[tuple[int, int], ...]
    factors: tuple[tuple[int, ...], ...]
    stages: tuple[Stage, ...]
    workers: int
    task_memory: int
    window: tuple[float, float] | None
    window_auto: bool
    write_empty_chunks: bool
    zarr_only: bool
    max_memory: int
    notes: tuple[str, ...] = field(default=())
    compiled_kernels: bool = True
    process_memory: int = BASE_MEMORY
    kernels_memory: int = COMPILED_KERNELS_MEMORY
    budget: Budget | None = None

    @property
    def threads(self) -> Budget:
        """The run's thread budget (one that runs ``workers`` tasks when none was planned)."""
        return self.budget or choose_budget(self.workers, None, self.workers)

    @property
    def out_dtype(self) -> np.dtype[Any]:
        return np.dtype(self.spec.dtype)

    @property
    def memory_estimate(self) -> int:
        return self.base_memory + self.data_memory

    @property
    def data_memory(self) -> int:
        """What the run holds beside its base: the tasks and the encoding threads."""
        return self.workers * self.task_memory + self.pool_memory

    @property
    def pool_memory(self) -> int:
        """What tensorstore's encoding threads hold beyond the measured base."""
        chunk = math.prod(self.spec.levels[0].chunks) * self.out_dtype.itemsize
        return self.threads.pool_memory(chunk)

    @property
    def base_memory(self) -> int:
        return self.process_memory + (self.kernels_memory if self.compiled_kernels else 0)

    def cumulative(self, level: int) -> tuple[int, ...]:
        """Level-0 voxels per voxel of ``level``, per axis."""
        return cumulative_factors(self.factors, level, len(self.source_shape))

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """The plan as text, for ``--dry-run``."""
        names = self.spec.axis_names
        lines = [
            f"input: shape {shape_text(self.source_shape)} ({','.join(names)}), {self.source_dtype}",
            *([f"input axes: {self.spec.input_axes}"] if self.spec.input_axes else []),
            f"region: {', '.join(f'{n} {a}:{b}' for n, (a, b) in zip(names, self.region, strict=True))}",
            f"output: OME-Zarr {self.spec.version} (Zarr v{self.spec.zarr_format})"
            + (", one plain Zarr array (--zarr-only)" if self.zarr_only else "")
            + f", {self.spec.dtype}, {self.spec.compression}, method {self.spec.method}",
        ]
        lines.extend(axis_lines(self.spec.axes, self.spec.channels))
        if self.window is not None:
            lines.append(
                f"cast: {self.source_dtype} -> {self.spec.dtype}, window "
                f"{self.window[0]:g}:{self.window[1]:g}"
                + (" (auto, measured from the input)" if self.window_auto else "")
                + " mapped linearly onto the output range"
            )
        elif self.source_dtype != self.spec.dtype:
            lines.append(f"cast: {self.source_dtype} -> {self.spec.dtype}, values kept")
        lines.append("levels:")
        for i, level in enumerate(self.spec.levels):
            f = self.cumulative(i)
            lines.append(
                f"  {level.path}: shape {shape_text(level.shape)}  chunks {shape_text(level.chunks)}  "
                f"shards {shape_text(level.shards) if level.shards else '-'}  factor {shape_text(f)}  "
                f"scale {shape_text(tuple(round(s, 6) for s in level.scale))}"
            )
        lines.append("work:")
        for k, stage in enumerate(self.stages):
            src = "input" if stage.from_input else f"level {stage.base_level}"
            lines.append(
                f"  stage {k}: read {src} in {stage.n_bricks} brick(s) of {shape_text(stage.brick)} "
                f"(grid {shape_text(stage.grid)}), write levels "
                f"{', '.join(str(x) for x in stage.levels)}"
            )
        lines.append(
            f"memory: about {self.memory_estimate / MiB:.0f} MiB peak "
            f"({self.workers} worker(s) × {self.task_memory / MiB:.0f} MiB + "
            f"{self.base_memory / MiB:.0f} MiB base"
            + (f" + {self.pool_memory / MiB:.0f} MiB encoding threads" if self.pool_memory else "")
            + f") of --max-memory {self.max_memory / MiB:.0f} MiB"
        )
        lines.append(f"threads: {self.threads.summary()}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _per_spatial(
    value: int | Sequence[int] | None, axes: Sequence[str], space: Sequence[bool], what: str
) -> tuple[int, ...] | None:
    """One number for every space axis (t, c get 1), or one value per space axis / axis."""
    if value is None:
        return None
    try:
        return per_axis(value, axes, space, (1,) * len(axes), int, what=what)
    except InputError as exc:
        raise OptionError(what, str(exc).removeprefix(f"{what} ")) from None


def make_plan(
    source_shape: Sequence[int],
    source_dtype: str | np.dtype[Any],
    axes: Sequence[str],
    options: ConvertOptions,
    *,
    source_voxel_size: Mapping[str, float] | None = None,
    source_unit: str | None = None,
    window_cheap: bool,
    input_axes: str | None = None,
    source_origin: Mapping[str, float] | None = None,
    source_channels: Sequence[ChannelInfo] = (),
    source_time: tuple[float | None, str | None] = (None, None),
    cpu_count: int = 2,
    here: bool = True,
    base_stored: bool = False,
    process_base: ProcessBase = NOMINAL_BASE,
) -> ConversionPlan:
    """Plan a conversion of a ``source_shape`` input with ``axes`` (array order).

    ``window_cheap``: reading a y/x window of the input costs only that window (the
    source's ``ReadCost.window_cheap``; a stored level, an array in memory: True). False
    (rows decoded whole) plans full-width bricks and more tasks. Required: a default once
    hid a planner that never passed it.

    ``process_base``: what the running process holds before any data (:func:`measured_base` for
    this process; the nominal one by default). It decides the workers and the estimate; the
    bricks only where those of the nominal base do not fit beside it (then smaller ones).

    ``here``: the tasks run on this machine (threads, a local cluster), so on at most its
    ``cpu_count`` cores whatever ``options.jobs``; the bricks follow ``options.jobs``.

    ``base_stored=True`` plans ``ngff downsample``: the "input" is level 0 of the plan's
    spec, already stored, so stage 0 reads it like a reduction stage and writes only the
    levels below it.
    """
    shape = tuple(int(s) for s in source_shape)
    if len(shape) != len(axes):
        raise InputError(f"shape {shape} and axes {tuple(axes)} differ in length")
    space = [is_space_name(a) for a in axes]
    region = input_region(shape, options.region, axes, space)
    out_shape = tuple(b - a for a, b in region)
    in_dtype = np.dtype(source_dtype)
    out_dtype = np.dtype(options.dtype) if options.dtype else in_dtype
    window = check_cast(in_dtype, out_dtype, options.window)
    version = options.version
    voxel = dict(source_voxel_size or {})
    voxel.update(options.voxel_size or {})
    unit = options.unit or source_unit
    time_step, time_unit = time_axis(
        axes,
        step=options.time_step,
        unit=options.time_unit,
        source_step=source_time[0],
        source_unit=source_time[1],
    )
    axis_objs = make_axes(list(axes), unit, time_unit)
    compression = Compression.parse(options.compression)

    chunk_default = DEFAULT_CHUNKS[version]
    asked = _per_spatial(
        options.chunks if options.chunks is not None else chunk_default, axes, space, "chunks"
    )
    assert asked is not None
    unsharded = options.shards == "none"
    shards_asked = None if unsharded else _per_spatial(options.shards, axes, space, "shards")  # type: ignore[arg-type]
    notes: list[str] = []
    if version == "0.4" and shards_asked is not None:
        raise OptionError("shards", "needs OME-Zarr 0.5: OME-Zarr 0.4 (Zarr v2) has no sharding")
    if shards_asked is not None:
        # the user's own numbers, before either is clipped to the image
        for name, c, s in zip(axes, asked, shards_asked, strict=True):
            if s % c:
                raise OptionError(
                    "shards",
                    f"{s} on axis {name} is not a multiple of the chunk size {c} "
                    f"on that axis; each shard must hold whole chunks",
                )
    # Chunks and shards are clipped to the image alike: a chunk no bigger than the extent,
    # a shard no bigger than the whole chunks that cover it.
    chunks = tuple(min(c, s) if s > 0 else c for c, s in zip(asked, out_shape, strict=True))
    shards: tuple[int, ...] | None
    if shards_asked is not None:
        shards = clip_shards(shards_asked, chunks, out_shape)
    elif version == "0.5" and not unsharded:
        shards = clip_shards(default_shards(chunks, space), chunks, out_shape)
    else:
        shards = None

    spatial = [i for i, s in enumerate(space) if s]
    voxel_list = [float(voxel.get(axes[i], 1.0)) for i in spatial]
    if options.zarr_only:
        steps: list[tuple[int, ...]] = []
    elif options.factors is not None:
        steps = [tuple(int(f) for f in step) for step in options.factors]
    else:
        spatial_steps = plan_factors(
            [out_shape[i] for i in spatial],
            voxel_list,
            levels=options.levels,
            anisotropic=options.anisotropic,
            min_size=[chunks[i] for i in spatial],
        )
        steps = []
        for step in spatial_steps:
            full = [1] * len(shape)
            for i, f in zip(spatial, step, strict=True):
                full[i] = f
            steps.append(tuple(full))
    # Where level 0 sits: the input's own origin (an OME-Zarr input's translation), moved
    # by the region's start unless the region is put at the origin.
    base_origin = dict(source_origin or {})
    origin = None
    if not options.crop_to_origin:
        start = [
            base_origin.get(name, 0.0) + a * float(voxel.get(name, 1.0)) if sp else 0.0
            for (a, _), name, sp in zip(region, axes, space, strict=True)
        ]
        origin = start if any(start) else None
    spatial_names = [axes[i] for i in spatial]
    if not options.zarr_only and (not all(n in voxel for n in spatial_names) or unit is None):
        notes.append(missing_voxel_note(spatial_names, voxel, unit))
    spec = pyramid_spec(
        out_shape,
        out_dtype,
        axes=axis_objs,
        # one value per axis: the voxel size on space axes, the time step on t
        voxel_size=[
            float(voxel.get(a, 1.0)) if sp else float(time_step or 1.0) if a == "t" else 1.0
            for a, sp in zip(axes, space, strict=True)
        ],
        factors=steps,
        chunks=chunks,
        shards=shards,
        compression=compression,
        version=version,
        method=options.method,
        name=options.name,
        origin=origin,
        cast=cast_record(in_dtype, out_dtype, window, auto=options.window_auto),
    )
    if input_axes:
        spec = spec.model_copy(update={"input_axes": f"{input_axes} -> {','.join(axes)}"})
    channels = channels_for(axes, out_shape, names=options.channel_names, source=source_channels)
    if channels:
        spec = spec.model_copy(update={"channels": channels})
    if "t" in axes and not options.zarr_only and (time_step is None or time_unit is None):
        notes.append(
            "the input gives no time step and unit: t is written with scale "
            f"{time_step or 1:g} and {time_unit or 'no unit'}; give --time-step and --time-unit"
        )

    # How many bricks run at once is the thread budget's first part (parallelism.py): the
    # tasks that keep the encoding threads fed, no more; memory and bricks bound it below.
    cost: ReadCost = "mapped" if window_cheap else "decode"
    jobs = task_limit(cpu_count, options.jobs, cost)
    big = math.prod(out_shape) * out_dtype.itemsize >= COMPILED_KERNELS_FROM
    compiled = options.method in ("median", "mode") or big
    # Memory is the hard limit: below it the numpy path does the same work, only slower.
    compiled = compiled and options.max_memory >= BASE_MEMORY + COMPILED_KERNELS_MEMORY + 64 * MiB
    budget_total = options.max_memory - BASE_MEMORY - (COMPILED_KERNELS_MEMORY if compiled else 0)
    # Encoding threads beyond the measured base hold their chunks and compressor state; a
    # quarter of the room left is theirs at most (a tight budget runs fewer of them).
    chunk_bytes = math.prod(chunks) * out_dtype.itemsize
    copy_threads = copy_thread_limit(cpu_count, options.jobs, chunk_bytes, budget_total // 4)
    pool_memory = choose_budget(cpu_count, options.jobs, 1, copy_threads).pool_memory(chunk_bytes)
    budget_total -= pool_memory
    itemsize = max(in_dtype.itemsize, out_dtype.itemsize)
    task_budget = int((budget_total - TASK_SCRATCH) / TASK_OVERHEAD)  # a thread's scratch

    def held(stage: Stage) -> int:  # what one task of ``stage`` holds (bricks.task_held)
        rel = [relative_factors(steps, stage.base_level, k, ndim) for k in stage.levels]
        chunked = [spec.levels[k].chunks for k in stage.levels]
        cast = window is not None or in_dtype != out_dtype
        return task_held(stage, rel, chunked, in_dtype.itemsize, out_dtype.itemsize, cast=cast)

    n_levels = len(spec.levels)
    ndim = len(shape)

    def cut(task_budget: int) -> Grid | None:
        """The stages a task budget cuts (None: no brick reaching a lower level fits it)."""
        stages: list[Stage] = []
        base = 0
        while True:
            levels = spec.levels[base:]
            units = [lv.shards or lv.chunks for lv in levels]
            cum = [relative_factors(steps, base, base + k, ndim) for k in range(len(levels))]
            wide = base == 0 and not window_cheap
            pick = partial(choose_brick, levels[0].shape, units, cum, itemsize, target=BRICK_TARGET)
            brick, reach, over = pick(
                max(task_budget // jobs, 1), min_bricks=2 * jobs, full_width=wide
            )
            if over and jobs > 1:  # fewer workers, each with more memory
                brick, reach, over = pick(max(task_budget, 1), min_bricks=1, full_width=wide)
            if over:
                return None
            stage = Stage(
                base_level=base,
                levels=tuple(range(base, base + reach)),
                base_shape=levels[0].shape,
                brick=brick,
                from_input=base == 0 and not base_stored,
            )
            check_whole_shards(stage, units, cum)
            stages.append(stage)
            last = base + reach - 1
            if last >= n_levels - 1:
                return tuple(stages)
            base = last

    measured = process_base
    # The bricks follow the nominal budget; where this process's measured base leaves no
    # room for them, smaller ones (as a smaller budget would choose); a refusal only where
    # even the smallest do not fit, naming the least budget that runs.
    largest = math.prod(out_shape) * itemsize + 1
    grid, fits = fitting_grid(
        cut,
        lambda g: max(map(held, g)),
        task_budget,
        options.max_memory - measured.process,
        largest,
    )
    stages = list(grid)
    task_memory = max(held(stage) for stage in stages)
    if not fits:
        need = measured.process + task_memory
        raise OptionError(
            "max_memory",
            f"{options.max_memory / MiB:.0f} MiB is too small for this input: this process "
            f"holds {measured.process / MiB:.0f} MiB before any data and one task on the "
            f"smallest bricks ({shape_text(max(stages, key=held).brick)} voxels) needs "
            f"{task_memory / MiB:.0f} MiB more; {measured.least_text(need)}, "
            "or choose smaller chunks and shards",
        )
    # Bricks follow --jobs (a resume elsewhere cuts the same); runs here use ≤ its cores.
    run_jobs = local_jobs(cpu_count, options.jobs) if here else options.jobs
    most = min(task_limit(cpu_count, run_jobs, cost), max(s.n_bricks for s in stages))
    # A measured base can leave less room than the nominal one: fewer encoding threads
    # first (the bricks stay as planned), then the numpy path; the bricks fit either way.
    spare = options.max_memory - measured.process - task_memory
    if spare < pool_memory or run_jobs != options.jobs:
        room = copy_thread_limit(cpu_count, run_jobs, chunk_bytes, spare)
        copy_threads = min(copy_threads, room)
        pool_memory = choose_budget(cpu_count, run_jobs, 1, copy_threads).pool_memory(chunk_bytes)

    def fitting(compiled: bool) -> int:  # tasks beside the base and the encoding threads
        free = options.max_memory - measured.process - pool_memory
        return max(0, min(most, (free - measured.kernels * compiled) // max(task_memory, 1)))

    workers = fitting(compiled)
    if workers == 0 and compiled:
        # memory is the hard limit: the numpy path computes the same values in less
        compiled = False
        workers = fitting(False)
        notes.append(
            "the compiled kernels do not fit the memory budget beside this process's "
            f"{measured.process / MiB:.0f} MiB; the numpy path is used (the same values, slower)"
        )
    assert workers >= 1, "fitting_grid chose bricks whose task fits beside the base"
    budget = choose_budget(cpu_count, run_jobs, workers, copy_threads)
    return ConversionPlan(
        spec=spec,
        source_shape=shape,
        source_dtype=in_dtype.name,
        region=region,
        factors=tuple(steps),
        stages=tuple(stages),
        workers=int(workers),
        task_memory=task_memory,
        window=window,
        window_auto=options.window_auto and window is not None,
        write_empty_chunks=options.write_empty_chunks,
        zarr_only=options.zarr_only,
        max_memory=options.max_memory,
        notes=tuple(notes),
        compiled_kernels=compiled,
        budget=budget,
        process_memory=measured.process,
        kernels_memory=measured.kernels,
    )


def measured_base() -> ProcessBase:
    """This process's base for :func:`make_plan`: measured, never below the nominal one."""
    return measure_base(BASE_MEMORY, COMPILED_KERNELS_MEMORY)


__all__ = ["DEFAULT_MAX_MEMORY", "ConversionPlan", "ConvertOptions", "make_plan", "measured_base"]

"""``ngffkit.convert``: an input (stack, file, array) to a multiscale OME-Zarr image.

Order of work, so that nothing is lost and nothing unfinished looks finished:
open and check the input → plan (``dry_run`` stops here) → create the level arrays beside
a partial marker → run the plan's stages brick by brick, journalling each brick → write the
OME group metadata last. ``resume=True`` continues a partial output made by the same plan.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ngffkit._output import check_apart, claim_output, holds_data, output_lock
from ngffkit.arrays import create_array, read_array_info
from ngffkit.errors import ConflictError, NgffWarning, OptionError
from ngffkit.execution import Notice, Progress, cluster_budget, cpu_count, run_plan
from ngffkit.grid import given_per_axis
from ngffkit.image import Image, open_image, read_group_attrs
from ngffkit.layout import ImageSpec, create_image, finish_image
from ngffkit.markers import PARTIAL_MARKER, fingerprint, marker, resumable
from ngffkit.metadata.models import is_space_name
from ngffkit.plan import ConversionPlan, ConvertOptions, make_plan
from ngffkit.sources import SourceSpec
from ngffkit.sources.channels import open_inputs
from ngffkit.storage import Location, StorageOptionsArg, accepts_storage_options, resolve
from ngffkit.tasks import Job, Journal


def estimate_window(source: Any, samples: int = 16, edge: int = 2048) -> tuple[float, float]:
    """A contrast window from a sample of the input: 0.1 and 99.9 percentiles of the
    non-zero voxels (zero is the mask of masked scroll volumes) of up to ``samples`` slices."""
    axes = list(source.axes)
    z_axis = axes.index("z")
    shape = source.shape
    values = []
    for z in np.linspace(0, shape[z_axis] - 1, min(samples, shape[z_axis])).astype(int):
        box = []
        for i, extent in enumerate(shape):
            if i == z_axis:
                box.append(slice(int(z), int(z) + 1))
            elif axes[i] in ("y", "x"):
                lo = max(0, extent // 2 - edge // 2)
                box.append(slice(lo, min(extent, lo + edge)))
            else:
                box.append(slice(0, extent))
        data = np.asarray(source.read(tuple(box))).ravel()
        values.append(data[data != 0] if np.any(data) else data)
    sample = np.concatenate(values)
    lo, hi = (float(v) for v in np.percentile(sample, [0.1, 99.9]))
    return (lo, hi if hi > lo else lo + 1)


def _fingerprint(plan: ConversionPlan, source: SourceSpec | None) -> str:
    # The plan's data that fixes the output and the brick grid (never its wording, so a
    # reworded --dry-run line does not break a pending --resume); not the workers or the
    # memory (how many run the bricks), so a resume on a cluster of another size can reuse
    # the same journal.
    return fingerprint(
        {
            "spec": plan.spec.model_dump(mode="json"),
            "source_shape": plan.source_shape,
            "source_dtype": plan.source_dtype,
            "region": plan.region,
            "factors": plan.factors,
            "stages": [dataclasses.asdict(stage) for stage in plan.stages],
            "window": plan.window,
            "window_auto": plan.window_auto,
            "write_empty_chunks": plan.write_empty_chunks,
            "zarr_only": plan.zarr_only,
            "source": dataclasses.asdict(source) if source is not None else None,
        }
    )


def _prepare_output(
    out: Location,
    plan: ConversionPlan,
    fp: str,
    *,
    overwrite: bool,
    resume: bool,
    notice: Notice | None,
) -> None:
    if resume:
        found = out.read_json(PARTIAL_MARKER)
        if found is None:
            if read_group_attrs(out) is not None:
                raise ConflictError(f"{out.describe()} is already complete; nothing to resume")
            if holds_data(out):
                raise ConflictError(
                    f"{out.describe()} holds no partial conversion to resume; run without --resume"
                )
            # The first write failed (a full disk): nothing to resume, so start.
            if notice is not None:
                notice(f"nothing of {out.describe()} was written yet; starting the conversion")
            resume = False
        elif not resumable(found, fp):
            raise ConflictError(
                f"{out.describe()} was started with a different input or options; resume "
                "with the same command, or start again with --overwrite"
            )
        else:
            _create_missing_arrays(out, plan)
            return
    note = marker("ngff convert", fp)
    if plan.zarr_only:
        _create_plain_array(out, plan.spec, overwrite=overwrite, note=note)
    else:
        create_image(out, plan.spec, overwrite=overwrite, note=note)


def _create_missing_arrays(out: Location, plan: ConversionPlan) -> None:
    """Create the level arrays an interrupted run did not get to (its disk filled up)."""
    spec = plan.spec
    for level in spec.levels[:1] if plan.zarr_only else spec.levels:
        loc = out if plan.zarr_only else out.child(level.path)
        if read_array_info(loc) is None:
            create_array(
                loc,
                zarr_format=spec.zarr_format,
                shape=level.shape,
                dtype=np.dtype(spec.dtype),
                chunks=level.chunks,
                shards=level.shards,
                compression=spec.compression,
                fill_value=spec.fill_value,
                dimension_names=spec.axis_names,
            )


def _create_plain_array(
    out: Location, spec: ImageSpec, *, overwrite: bool, note: Mapping[str, Any]
) -> None:
    claim_output(out, overwrite)
    out.write(PARTIAL_MARKER, json.dumps({**note, "spec": spec.model_dump(mode="json")}).encode())
    level = spec.levels[0]
    create_array(
        out,
        zarr_format=spec.zarr_format,
        shape=level.shape,
        dtype=np.dtype(spec.dtype),
        chunks=level.chunks,
        shards=level.shards,
        compression=spec.compression,
        fill_value=spec.fill_value,
        dimension_names=spec.axis_names,
    )


@accepts_storage_options
def convert(
    input: str | os.PathLike[str] | SourceSpec | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    version: str = "0.5",
    voxel_size: float | Sequence[float] | Mapping[str, float] | None = None,
    unit: str | None = None,
    chunks: int | Sequence[int] | None = None,
    shards: int | Sequence[int] | str | None = None,
    compression: str = "zstd:5",
    levels: int | None = None,
    method: str = "mean",
    anisotropic: bool = True,
    region: Sequence[tuple[int | None, int | None]] | None = None,
    crop_to_origin: bool = False,
    dtype: str | None = None,
    window: tuple[float, float] | str | None = None,
    max_memory: int | None = None,
    jobs: int | None = None,
    executor: Executor | str | Any = "local",
    scheduler: str | None = None,
    write_empty_chunks: bool = False,
    zarr_only: bool = False,
    name: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    dry_run: bool = False,
    input_format: str | None = None,
    allow_gaps: bool = False,
    raw_shape: tuple[int, int, int] | None = None,
    raw_dtype: str | None = None,
    raw_order: str = "C",
    channel_names: Sequence[str] | None = None,
    pattern: str | None = None,
    time_step: float | None = None,
    time_unit: str | None = None,
    progress: Progress | None = None,
    notice: Notice | None = None,
    storage_options: StorageOptionsArg = None,
) -> Image | ConversionPlan:
    """Convert ``input`` to an OME-Zarr image at ``output`` and return it opened.

    Name the axes of a voxel size: ``voxel_size=Voxel(x=11.24, y=11.24, z=25)`` or
    ``{"x": 11.24, "y": 11.24, "z": 25}`` (or one number for all three). A bare sequence is
    array order, z,y,x — the CLI's x,y,z triple pasted here would swap x and z, so prefer
    the names. ``region`` is (start, stop) per axis in array order.
    ``shards="none"`` writes unsharded OME-Zarr 0.5 (default: 4 chunks per axis).
    ``raw_shape`` alone is x,y,z, as the raw file's own description usually is.
    Several inputs (a list) become the channels of one image, named ``channel_names`` (else
    after the inputs); ``pattern`` reads a folder of files named like
    ``img_t{t}_c{c}_z{z}.tif`` as t,c,z (see docs/channels.md). ``time_step`` and
    ``time_unit`` set the t axis's scale and unit (over the input's own). With
    ``dry_run=True`` nothing is written and the plan is returned.

    ``executor`` is ``"local"`` (threads), ``"dask"`` (the cluster at ``scheduler``, or a
    LocalCluster of processes started for the run), a ``distributed.Client`` or any
    concurrent.futures executor. ``max_memory`` (bytes) is the budget of the whole run;
    without it, 2 GiB — or, on a running Dask cluster, what its workers may hold, with
    ``jobs`` its thread count.
    """
    out = resolve(output)
    jobs, budget = cluster_budget(executor, scheduler, jobs, max_memory)
    source = open_inputs(
        input,
        pattern=pattern,
        input_format=input_format,
        allow_gaps=allow_gaps,
        raw_shape=raw_shape,
        raw_dtype=raw_dtype,
        raw_order=raw_order,
    )
    try:
        spec = source.spec()
        axes = tuple(source.axes)
        space = [a for a in axes if is_space_name(a)]
        voxel = (
            None
            if voxel_size is None
            else given_per_axis(voxel_size, space, float, what="voxel size")
        )
        win: tuple[float, float] | None
        if window is not None and dtype is None:
            raise OptionError(
                "window", "a window maps input values onto another dtype; give the dtype too"
            )
        if window == "auto":
            win = estimate_window(source)
        elif isinstance(window, str):
            raise OptionError("window", f"{window!r} must be (LO, HI) numbers or 'auto'")
        else:
            win = window
        options = _options(
            version=version,
            voxel_size=voxel,
            unit=unit,
            chunks=_tuple(chunks),
            shards=_shards(shards),
            compression=compression,
            levels=levels,
            method=method,
            anisotropic=anisotropic,
            region=tuple(region) if region else None,
            crop_to_origin=crop_to_origin,
            dtype=dtype,
            window=win,
            window_auto=window == "auto",
            max_memory=budget,
            jobs=jobs,
            write_empty_chunks=write_empty_chunks,
            zarr_only=zarr_only,
            name=name if name is not None else _default_name(out),
            channel_names=tuple(channel_names) if channel_names is not None else None,
            time_step=time_step,
            time_unit=time_unit,
        )
        plan = _plan(source, axes, options)
        if dry_run:
            return plan
        for note in plan.notes:
            if note.startswith("no voxel size") or note.startswith("no unit"):
                warnings.warn(note, NgffWarning, stacklevel=2)
        for part in spec.parts or (spec,):
            check_apart(Path(part.path) if part.path and "://" not in part.path else None, out)
        source.check_all()
    finally:
        source.close()
    fp = _fingerprint(plan, spec)
    with output_lock(out, "ngff convert"):
        _prepare_output(out, plan, fp, overwrite=overwrite, resume=resume, notice=notice)
        job = Job(output=out.url, plan=plan, source=spec)
        journal = Journal(out)
        run_plan(job, executor, journal, progress=progress, scheduler=scheduler, notice=notice)
        if plan.zarr_only:
            out.delete(PARTIAL_MARKER)
            journal.clear()
            return plan  # a plain array has no OME image to open
        image = finish_image(out, plan.spec)
        journal.clear()
    return open_image(image.location)


def _plan(source: Any, axes: tuple[str, ...], options: ConvertOptions) -> ConversionPlan:
    try:
        return make_plan(
            source.shape,
            source.dtype,
            axes,
            options,
            source_voxel_size=source.voxel_size,
            source_unit=source.unit,
            window_cheap=source.cost.window_cheap,
            cpu_count=cpu_count(),
            input_axes=source.input_axes,
            source_origin=source.origin,
            source_channels=source.channels,
            source_time=(source.time_step, source.time_unit),
        )
    except OptionError as exc:
        if exc.option != "ranges" or not source.input_axes:
            raise
        # Ranges count voxels from 0 on every axis; say how the input's own numbering
        # (07000.tif ...) maps onto z, so that a user who gave file numbers sees why.
        raise OptionError(
            "ranges",
            f"{exc.detail}. Ranges count voxels from 0: z counts "
            f"slices in order, not the numbers in file names "
            f"(input: {source.input_axes})",
        ) from None


def _options(**kwargs: Any) -> ConvertOptions:
    try:
        return ConvertOptions(**kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "options"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise OptionError(field, message) from None


def _default_name(out: Location) -> str:
    name = out.name
    for suffix in (".ome.zarr", ".zarr"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or name
    return name


def _tuple(value: int | Sequence[int] | None) -> int | tuple[int, ...] | None:
    if value is None or isinstance(value, int):
        return value
    return tuple(int(v) for v in value)


def _shards(value: int | Sequence[int] | str | None) -> int | tuple[int, ...] | str | None:
    if isinstance(value, str):
        if value.strip().lower() != "none":
            raise OptionError("shards", f"{value!r}: give numbers, or 'none' for unsharded")
        return "none"
    return _tuple(value)


__all__ = ["Progress", "convert", "estimate_window"]

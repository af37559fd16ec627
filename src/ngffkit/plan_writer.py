"""Running a checked :class:`~ngffkit.plan.ConversionPlan` into its output: the one writer
behind ``convert``, ``ngff convert`` and ``ngff labels add``.

Order of work, so that nothing is lost and nothing unfinished looks finished: the writer's
lock → the level arrays beside a partial marker (or, with ``resume``, the check that the
marker is this plan's) → the plan's stages brick by brick, each brick journalled → the OME
group metadata last (with the ``omero`` block, for images).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

from ngffkit._output import claim_output, holds_data, output_lock
from ngffkit.arrays import create_array, read_array_info
from ngffkit.errors import ConflictError
from ngffkit.execution import Notice, Progress, run_plan
from ngffkit.image import Image, read_group_attrs
from ngffkit.markers import PARTIAL_MARKER, check_resume, fingerprint, marker
from ngffkit.omero import with_rendering
from ngffkit.plan import ConversionPlan
from ngffkit.sources import SourceSpec
from ngffkit.spec import ImageSpec
from ngffkit.storage import Location
from ngffkit.tasks import Job, Journal
from ngffkit.writer import create_image, finish_image, open_partial


def first_level_only(plan: ConversionPlan) -> ConversionPlan:
    """``plan`` writing level 0 alone (its first stage, the input's bricks, level 0 only):
    for a caller that fills the coarser levels itself (``ngff convert WK_DATASET`` copies
    WEBKNOSSOS's own mags there) instead of computing levels it would then replace. The
    spec keeps every level: their arrays are created, their metadata written. Used by
    :func:`write_plan` with ``fill_levels``."""
    first = dataclasses.replace(plan.stages[0], levels=(plan.stages[0].base_level,))
    return dataclasses.replace(plan, stages=(first,))


def write_plan(
    out: Location,
    plan: ConversionPlan,
    source: SourceSpec,
    *,
    overwrite: bool,
    resume: bool,
    executor: Executor | str | Any,
    scheduler: str | None,
    progress: Progress | None,
    notice: Notice | None,
    tool: str = "ngff convert",
    expand: tuple[int, ...] = (),
    fill_levels: Callable[[Image], None] | None = None,
) -> Location:
    """Run a checked plan of ``source`` into ``out``: the writer's lock, the partial marker
    (or the resume check), the bricks, the group metadata last (with the ``omero`` block,
    for images). ``expand`` inserts size-1 axes after each read (a z,y,x label of a
    c,z,y,x image); ``tool`` names the writer in the marker and the lock. ``fill_levels``:
    only level 0 is computed, then it writes the coarser levels (given the image open for
    writing, still partial and locked) before the metadata is measured and written."""
    if fill_levels is not None:
        plan = first_level_only(plan)
    fp = plan_fingerprint(plan, source)
    if expand:
        fp = fingerprint([fp, expand])
    with output_lock(out, tool):
        _prepare_output(out, plan, fp, overwrite=overwrite, resume=resume, notice=notice, tool=tool)
        job = Job(output=out.url, plan=plan, source=source, expand=expand)
        journal = Journal(out)
        run_plan(job, executor, journal, progress=progress, scheduler=scheduler, notice=notice)
        if fill_levels is not None:
            fill_levels(open_partial(out, plan.spec))
        if plan.zarr_only:
            out.delete(PARTIAL_MARKER)
        else:
            finish_image(out, with_rendering(out, plan.spec))
        journal.clear()
    return out


def plan_fingerprint(plan: ConversionPlan, source: SourceSpec | None) -> str:
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
    tool: str = "ngff convert",
) -> None:
    if resume:
        found = out.read_json(PARTIAL_MARKER)
        if check_resume(found, fp, where=out.display(), work="conversion", restart="overwrite"):
            _create_missing_arrays(out, plan)
            return
        if found is None:
            if read_group_attrs(out) is not None:
                raise ConflictError(f"{out.display()} is already complete; nothing to resume")
            if holds_data(out):
                raise ConflictError(
                    f"{out.display()} holds no partial conversion to resume; run without [[resume=True]]"
                )
            # The first write failed (a full disk): nothing to resume, so start.
            if notice is not None:
                notice(f"nothing of {out.display()} was written yet; starting the conversion")
            resume = False
    note = marker(tool, fp)
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
            create_array(loc, spec.array_layout(level))


def _create_plain_array(
    out: Location, spec: ImageSpec, *, overwrite: bool, note: Mapping[str, Any]
) -> None:
    claim_output(out, overwrite)
    out.write(PARTIAL_MARKER, json.dumps({**note, "spec": spec.model_dump(mode="json")}).encode())
    create_array(out, spec.array_layout(spec.levels[0]))


def is_complete(out: Location) -> bool:
    """Whether ``out`` holds a finished image: its group metadata, and no partial marker
    (what :func:`write_plan` writes last and removes last)."""
    return out.read(PARTIAL_MARKER) is None and read_group_attrs(out) is not None


__all__ = ["first_level_only", "is_complete", "plan_fingerprint", "write_plan"]

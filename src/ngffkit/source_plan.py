"""The plan for an opened input: :func:`plan_source`, the one place where a source and the
options become a :class:`~ngffkit.plan.ConversionPlan`. ``convert``, ``add_labels`` and the
WEBKNOSSOS import all plan through it.

``make_plan`` is pure: it knows the input only by its arguments. Which arguments an opened
source gives is decided here, once:

- the input's shape, dtype and own frame (voxel size, unit, origin, channels, time step,
  which dimension is which), unless the plan is made in another image's frame (a label
  image follows its image: :class:`Frame`);
- what reading a y/x window costs (``ReadCost.window_cheap``): full-width level-0 bricks
  where it is not cheap, and the read cost that decides how many tasks keep the encoders
  fed (``parallelism.task_limit``);
- this machine's cores and this process's measured base (the thread budget, the workers
  and the memory estimate).

A caller that assembled these itself would, by leaving one out, plan another run than
``convert`` of the same input. :func:`convert_options` is the one place where the options
are checked (a bad value is an :class:`~ngffkit.errors.OptionError` naming it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ngffkit.errors import OptionError
from ngffkit.execution import cpu_count
from ngffkit.plan import ConversionPlan, ConvertOptions, make_plan, measured_base
from ngffkit.sources.base import SourceBase


@dataclass(frozen=True)
class Frame:
    """The frame a plan is made in when it is not the input's own: the input's ``shape``
    with the axes it lacks inserted (size 1), and the ``axes``, ``voxel_size`` and ``unit``
    of the image it follows. What the input says of its own origin, channels and time is
    then not used: the image's frame holds them."""

    shape: tuple[int, ...]
    axes: tuple[str, ...]
    voxel_size: Mapping[str, float] | None
    unit: str | None


def plan_source(
    source: SourceBase, options: ConvertOptions, *, frame: Frame | None = None, here: bool = True
) -> ConversionPlan:
    """The plan that converts ``source`` (opened) with ``options``, in the input's own
    frame or in ``frame``; ``here``: its tasks run on this machine (``_dask.runs_here``)."""
    own: dict[str, Any] = {}  # what the input says of its own frame, used in that frame
    if frame is None:
        frame = Frame(source.shape, source.axes, source.voxel_size, source.unit)
        own = {
            "input_axes": source.input_axes,
            "source_origin": source.origin,
            "source_channels": source.channels,
            "source_time": (source.time_step, source.time_unit),
        }
    try:
        return make_plan(
            frame.shape,
            source.dtype,
            frame.axes,
            options,
            source_voxel_size=frame.voxel_size,
            source_unit=frame.unit,
            window_cheap=source.cost.window_cheap,
            cpu_count=cpu_count(),
            here=here,
            process_base=measured_base(),
            **own,
        )
    except OptionError as exc:
        if exc.option != "region" or not source.input_axes:
            raise
        # Ranges count voxels from 0 on every axis; say how the input's own numbering
        # (07000.tif ...) maps onto z, so that a user who gave file numbers sees why.
        raise OptionError(
            "region",
            f"{exc.detail_template}. Ranges count voxels from 0: z counts "
            f"slices in order, not the numbers in file names "
            f"(input: {source.input_axes})",
        ) from None


def convert_options(**kwargs: Any) -> ConvertOptions:
    """:class:`ConvertOptions` from these values, checked: chunks and shards as numbers (or
    ``"none"`` for unsharded), anything invalid an :class:`OptionError` naming the option."""
    if "chunks" in kwargs:
        kwargs["chunks"] = _numbers(kwargs["chunks"])
    if "shards" in kwargs:
        kwargs["shards"] = _shards(kwargs["shards"])
    try:
        return ConvertOptions(**kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "options"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise OptionError(field, message) from None


def _numbers(value: int | Sequence[int] | None) -> int | tuple[int, ...] | None:
    if value is None or isinstance(value, int):
        return value
    return tuple(int(v) for v in value)


def _shards(value: int | Sequence[int] | str | None) -> int | tuple[int, ...] | str | None:
    if isinstance(value, str):
        if value.strip().lower() != "none":
            raise OptionError("shards", f"{value!r}: give numbers, or 'none' for unsharded")
        return "none"
    return _numbers(value)


__all__ = ["Frame", "convert_options", "plan_source"]

"""Pure: what a conversion records about the channel and time axes (t,c,z,y,x images).

The planner asks here for the time step and unit of ``t`` (the user's ``--time-step`` /
``--time-unit`` over what the input says) and for the channels' names and colours (the
user's ``--channel-names`` over the input's own), checked against the image's axes so
that a name list of the wrong length or a time step for an image without ``t`` is an
error naming the option, never something dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ngffkit.errors import OptionError
from ngffkit.metadata.models import Axis, ChannelInfo
from ngffkit.metadata.units import TIME_UNITS, normalize_unit


def time_unit_name(unit: str, option: str = "time_unit") -> str:
    """A UDUNITS time unit from what a user or file wrote (``s``, ``sec``, ``ms``, ``min``)."""
    normal = normalize_unit(unit.strip())
    if normal not in TIME_UNITS:
        raise OptionError(
            option,
            f"{unit!r} is not a time unit; use a UDUNITS name such as second, millisecond, "
            "minute or hour",
        )
    return normal


def time_axis(
    axes: Sequence[str],
    *,
    step: float | None,
    unit: str | None,
    source_step: float | None,
    source_unit: str | None,
) -> tuple[float | None, str | None]:
    """The ``t`` scale and unit to write: the user's values over the input's.

    Raises :class:`OptionError` when the user gives either for an image without ``t``.
    """
    if "t" not in axes:
        for option, value in (("time_step", step), ("time_unit", unit)):
            if value is not None:
                raise OptionError(
                    option,
                    f"the input has no time axis (axes {','.join(axes)}); leave it out, or "
                    "give inputs that have time points",
                )
        return None, None
    if step is not None and (not math.isfinite(step) or step <= 0):
        raise OptionError("time_step", f"must be a positive number, got {step!r}")
    chosen_unit = time_unit_name(unit) if unit is not None else source_unit
    return (step if step is not None else source_step), chosen_unit


def channels_for(
    axes: Sequence[str],
    shape: Sequence[int],
    *,
    names: Sequence[str] | None,
    source: Sequence[ChannelInfo],
) -> tuple[ChannelInfo, ...]:
    """One :class:`ChannelInfo` per channel (an image without ``c`` has one), or ``()``
    when neither the user nor the input names any. User names replace the input's labels
    and keep its colours."""
    count = shape[list(axes).index("c")] if "c" in axes else 1
    if names is None:
        return tuple(source) if len(source) == count else ()
    labels = [str(n).strip() for n in names]
    if len(labels) != count:
        raise OptionError(
            "channel_names",
            f"gives {len(labels)} name(s) ({','.join(labels)}) for {count} channel(s); give "
            "one name per channel, in order",
        )
    if any(not n for n in labels):
        raise OptionError("channel_names", "a channel name must not be empty")
    colors = [c.color for c in source] if len(source) == count else [None] * count
    return tuple(ChannelInfo(label=n, color=c) for n, c in zip(labels, colors, strict=True))


def axis_lines(axes: Sequence[Axis], channels: Sequence[ChannelInfo]) -> list[str]:
    """What ``--dry-run`` says about the time axis and the channels, when there are any."""
    lines = []
    if any(a.name == "t" for a in axes):
        unit = next(a.unit for a in axes if a.name == "t")
        lines.append(f"time: t in {unit or 'no unit'} (the step is t's scale below)")
    if channels:
        lines.append(
            "channels: "
            + ", ".join(
                f"{c.label or '(unnamed)'}" + (f" #{c.color}" if c.color else "") for c in channels
            )
        )
    return lines


def ome_color(value: int | str | None) -> str | None:
    """OME-XML's signed 32-bit RGBA integer as six hex digits ``RRGGBB`` (``-16776961``,
    0xFF0000FF, is opaque red: ``FF0000``); ``None`` for no colour or an unreadable one."""
    if value is None:
        return None
    try:
        rgba = int(value) & 0xFFFFFFFF
    except (TypeError, ValueError):
        return None
    return f"{rgba >> 8:06X}"


__all__ = ["axis_lines", "channels_for", "ome_color", "time_axis", "time_unit_name"]

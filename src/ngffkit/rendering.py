"""Pure: how an image should look — the rules behind the ``omero`` block and the viewer.

One home for three rules, used by the writer (:mod:`ngffkit.omero`) and by ``ngff view``:

- **colours**: one channel is white; several get the usual ordered set for fluorescence
  (Fiji's composite order: red, green, blue, gray, cyan, magenta, yellow, then further
  distinct hues), unless the input named a colour;
- **window**: ``start``/``end`` are the 0.5 / 99.5 percentiles of a sample, ``min``/``max``
  the range of the data type (integers) or of the sample (floats), so that the slider
  covers every value a reader can show;
- **sample**: which boxes of a level to read so that the sample stays under a voxel budget
  (the whole level when it fits, else evenly spaced planes, centrally cropped if need be).

No I/O here: :mod:`ngffkit.omero` reads the boxes.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ngffkit.metadata.models import Channel, ChannelInfo, Omero, Window

PERCENTILES = (0.5, 99.5)
# A sample holds at most this many voxels (all channels and time points together):
# 32 MiB of float64 at worst, and plenty for two percentiles.
SAMPLE_VOXELS = 1 << 22
# Reads of one sample at most (evenly spaced planes when the level is bigger than the budget).
MAX_PLANES = 64
# Planes at least (cropped when whole ones do not fit), so that one plane is never all.
MIN_PLANES = 8

# Fiji's composite order; FFFFFF is its gray.
CHANNEL_COLORS = ("FF0000", "00FF00", "0000FF", "FFFFFF", "00FFFF", "FF00FF", "FFFF00")
SINGLE_COLOR = "FFFFFF"

Region = tuple[slice, ...]


def channel_colors(count: int, given: Sequence[str | None] = ()) -> list[str]:
    """A colour (six hex digits) per channel: the given one where there is one, white for a
    single channel, else the ordered set (further hues by the golden angle past seven)."""
    out = []
    for c in range(count):
        named = given[c] if c < len(given) else None
        if named:
            out.append(named.upper().lstrip("#"))
        elif count == 1:
            out.append(SINGLE_COLOR)
        elif c < len(CHANNEL_COLORS):
            out.append(CHANNEL_COLORS[c])
        else:
            hue = ((c - len(CHANNEL_COLORS)) * 0.381966 + 0.08) % 1.0
            r, g, b = colorsys.hsv_to_rgb(hue, 1.0, 1.0)
            out.append(f"{round(r * 255):02X}{round(g * 255):02X}{round(b * 255):02X}")
    return out


def channel_label(c: int, count: int, given: str | None = None, name: str | None = None) -> str:
    """The given name, else the image's name for a single channel, else ``Channel c``."""
    if given:
        return given
    if count == 1 and name:
        return name
    return f"Channel {c}"


def percentiles(values: np.ndarray, qs: Sequence[float]) -> tuple[float, ...]:
    """The ``qs`` percentiles (0–100) of the values of ``values`` by numpy's default
    ("linear") method, interpolated in float64.

    ``np.percentile`` interpolates between the two neighbouring values in the sample's own
    dtype, which wraps for integers far apart (int8 -100 and 100 give 128, not 0), and its
    first call imports numpy.ma (7 ms of every conversion's end).
    """
    flat = np.asarray(values).ravel()
    n = flat.size
    if n == 0:
        raise ValueError("percentiles of an empty sample")
    where = [min(max(q / 100 * (n - 1), 0.0), n - 1.0) for q in qs]
    below = [math.floor(w) for w in where]
    around = sorted({i for b in below for i in (b, min(b + 1, n - 1))})
    ordered = np.partition(flat, around)
    out = []
    for w, b in zip(where, below, strict=True):
        lo, hi = float(ordered[b]), float(ordered[min(b + 1, n - 1)])
        t = w - b
        # numpy's lerp: from the nearer end, so that t = 1 gives ``hi`` exactly
        out.append(hi - (hi - lo) * (1 - t) if t >= 0.5 else lo + (hi - lo) * t)
    return tuple(out)


def window(sample: np.ndarray, dtype: Any) -> Window:
    """The display window of a channel from a sample of its values.

    ``start``/``end``: the 0.5 / 99.5 percentiles of the finite values (an empty or constant
    sample is widened so that ``end > start``); ``min``/``max``: the data type's range for
    integers and booleans, the sample's for floats (widened to hold ``start``/``end``).
    """
    dt = np.dtype(dtype)
    values = np.asarray(sample).ravel()
    if dt.kind == "f" or values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    lo_limit: float
    hi_limit: float
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo_limit, hi_limit = float(info.min), float(info.max)
    elif dt.kind == "b":
        lo_limit, hi_limit = 0.0, 1.0
    elif values.size:
        lo_limit, hi_limit = float(values.min()), float(values.max())
    else:
        lo_limit, hi_limit = 0.0, 1.0
    if values.size:
        start, end = percentiles(values, PERCENTILES)
    else:
        start, end = lo_limit, hi_limit
    if not end > start:
        if dt.kind in "iub":
            if start < hi_limit:
                end = start + 1
            else:
                start = end - 1
        else:
            end = start + max(abs(start) * 1e-3, 1e-6)
    return Window(start=start, end=end, min=min(lo_limit, start), max=max(hi_limit, end))


def omero_block(
    windows: Sequence[Window],
    *,
    channels: Sequence[ChannelInfo] = (),
    name: str | None = None,
    version: str | None = None,
) -> Omero:
    """The ``omero`` block: per channel label, colour, window and ``active: true``.

    ``channels`` are the names and colours the input gave (may be empty or shorter);
    ``version`` goes into the block for 0.4 (0.5 keeps no version there)."""
    count = len(windows)
    given = [channels[c] if c < len(channels) else ChannelInfo() for c in range(count)]
    colors = channel_colors(count, [g.color for g in given])
    return Omero(
        channels=tuple(
            Channel(
                label=channel_label(c, count, given[c].label, name),
                color=colors[c],
                window=windows[c],
                active=True,
            )
            for c in range(count)
        ),
        name=name,
        version=version if version == "0.4" else None,
    )


def sample_regions(
    shape: Sequence[int], kinds: Sequence[str | None], budget: int = SAMPLE_VOXELS
) -> list[Region]:
    """Boxes of a level to read for a sample of at most ``budget`` voxels.

    ``kinds`` gives each axis's type (``space``, ``channel``, ``time``, …). Every box holds
    all channels. The whole level when it fits; else :data:`MIN_PLANES` to :data:`MAX_PLANES`
    evenly spaced planes (the last two space axes, at positions spread over time and the
    other axes), each centrally cropped when they would not fit whole.
    """
    n = len(shape)
    whole = tuple(slice(0, int(s)) for s in shape)
    if math.prod(shape) <= budget or n == 0:
        return [whole]
    space = [i for i in range(n) if kinds[i] not in ("channel", "time")]
    plane_axes = space[-2:] if len(space) >= 2 else space
    channels = math.prod(int(shape[i]) for i in range(n) if kinds[i] == "channel")
    outer = [i for i in range(n) if i not in plane_axes and kinds[i] != "channel"]
    outer_count = math.prod(int(shape[i]) for i in outer)
    plane = math.prod(int(shape[i]) for i in plane_axes)
    fit = budget // max(1, channels * plane)
    count = max(1, min(outer_count, MAX_PLANES, max(MIN_PLANES, fit)))
    sizes = {i: int(shape[i]) for i in plane_axes}
    per_plane = max(1, budget // (count * max(1, channels)))
    while math.prod(sizes.values()) > per_plane:
        largest = max(sizes, key=lambda i: sizes[i])
        sizes[largest] = max(1, sizes[largest] // 2)
    picks = np.unique(np.linspace(0, outer_count - 1, count).round().astype(np.int64))
    out = []
    for flat in picks:
        index = np.unravel_index(int(flat), tuple(int(shape[i]) for i in outer)) if outer else ()
        box = list(whole)
        for axis, at in zip(outer, index, strict=True):
            box[axis] = slice(int(at), int(at) + 1)
        for axis, size in sizes.items():
            lo = (int(shape[axis]) - size) // 2
            box[axis] = slice(lo, lo + size)
        out.append(tuple(box))
    return out


def split_channels(block: np.ndarray, channel_axis: int | None) -> list[np.ndarray]:
    """The values of each channel in ``block`` (one entry when there is no channel axis)."""
    if channel_axis is None:
        return [block.ravel()]
    return [np.take(block, c, axis=channel_axis).ravel() for c in range(block.shape[channel_axis])]


__all__ = [
    "CHANNEL_COLORS",
    "PERCENTILES",
    "SAMPLE_VOXELS",
    "channel_colors",
    "channel_label",
    "omero_block",
    "percentiles",
    "sample_regions",
    "split_channels",
    "window",
]

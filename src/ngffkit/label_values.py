"""The values of a segmentation, learnt in one bounded-memory read: which label values it
holds (up to :data:`MAX_COLORS` distinct), its range, and so the smallest unsigned type
that holds them. Used by :mod:`ngffkit.labels` before it plans the write."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ngffkit.errors import InputError, OptionError
from ngffkit.execution import Progress

MAX_COLORS = 10_000
"""Distinct values beyond which no colours are listed (the metadata would grow to
megabytes; viewers colour such segmentations by value themselves)."""
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
FORCIBLE = (*UNSIGNED, "int8", "int16", "int32")
"""Types ``dtype=`` may force: integers Neuroglancer shows (no int64, no floats)."""
SCAN_BRICK = 64 << 20


@dataclasses.dataclass(frozen=True)
class LabelValues:
    """What the label input holds: its value range and its distinct values."""

    min: int
    max: int
    values: tuple[int, ...] | None
    """The distinct values, sorted; None when there are more than :data:`MAX_COLORS`."""

    @property
    def count(self) -> int | None:
        return None if self.values is None else len(self.values)

    def describe(self) -> str:
        many = f"{len(self.values)} distinct" if self.values is not None else "many distinct"
        return f"values {self.min}..{self.max} ({many})"


# -- values ------------------------------------------------------------------------------


def brick_values(data: np.ndarray, where: str) -> tuple[int, int, np.ndarray]:
    """``(min, max, distinct values)`` of one brick of labels; refuses what is not a label.

    Pure. ``where`` names the input in the errors.
    """
    if data.dtype.kind == "b":
        data = data.view(np.uint8)
    if data.dtype.kind not in "iuf":
        raise InputError(f"{where} holds {data.dtype} values; labels must be integers")
    if data.size == 0:
        return (0, 0, np.zeros(0, np.uint64))
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data) | (data != np.floor(data))
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(
                f"{where} holds non-integral label values (e.g. {data[at]!r} at index {at} "
                "of the brick read); labels must be whole numbers — round or cast them "
                "before adding them"
            )
    lo, hi = data.min(), data.max()
    if lo < 0:
        raise InputError(
            f"{where} holds negative label values (down to {lo}); labels must be 0 or more "
            "(0 is the background)"
        )
    if data.dtype.kind != "f" and data.dtype.itemsize <= 2:
        counts = np.bincount(data.ravel().astype(np.intp, copy=False), minlength=1)
        distinct = np.flatnonzero(counts).astype(np.uint64)
    else:
        # Segmentations hold long runs of one label: sorting only where a run starts costs
        # one compare per voxel instead of a sort of every voxel (about 10× less here).
        flat = data.ravel()
        starts = np.empty(flat.shape, bool)
        starts[0] = True
        np.not_equal(flat[1:], flat[:-1], out=starts[1:])
        distinct = np.unique(flat[starts]).astype(np.uint64)
    return (int(lo), int(hi), distinct)


def merge_values(
    parts: Iterator[tuple[int, int, np.ndarray]], cap: int = MAX_COLORS
) -> LabelValues:
    """Merge the values of bricks; stop collecting distinct values beyond ``cap``."""
    lo, hi = None, None
    found: np.ndarray | None = np.zeros(0, np.uint64)
    for b_lo, b_hi, distinct in parts:
        lo = b_lo if lo is None else min(lo, b_lo)
        hi = b_hi if hi is None else max(hi, b_hi)
        if found is not None:
            found = np.union1d(found, distinct) if len(distinct) <= cap else None
            if found is not None and len(found) > cap:
                found = None
    return LabelValues(
        min=lo or 0,
        max=hi or 0,
        values=None if found is None else tuple(int(v) for v in found),
    )


def scan_boxes(
    region: Sequence[tuple[int, int]], itemsize: int, limit: int
) -> Iterator[tuple[slice, ...]]:
    """Boxes that tile ``region``, each at most ``limit`` bytes (outer axes cut first)."""
    shape = [b - a for a, b in region]
    step = list(shape)
    for axis in range(len(step)):
        while math.prod(step) * itemsize > limit and step[axis] > 1:
            step[axis] = -(-step[axis] // 2)
    grid = [range(a, b, s) for (a, b), s in zip(region, step, strict=True)]
    for corner in np.ndindex(*(len(g) for g in grid)):
        yield tuple(
            slice(g[i], min(g[i] + s, b))
            for g, i, s, (_, b) in zip(grid, corner, step, region, strict=True)
        )


def scan_labels(
    source: Any,
    region: Sequence[tuple[int, int]],
    *,
    jobs: int,
    room: int,
    where: str,
    progress: Progress | None = None,
) -> LabelValues:
    """Read ``region`` of ``source`` once, a brick per worker, and merge its values;
    ``progress(bytes done, bytes total)`` as bricks finish. The workers hold at most
    ``room`` bytes beside the process: what the plan's bricks will hold after it
    (``ConversionPlan.data_memory``), so the scan stays within the plan's estimate."""
    workers = max(1, jobs)
    # a brick, its distinct values and the sort's copy: about three bricks per worker
    limit = max(1 << 20, min(SCAN_BRICK, room // (3 * workers)))
    boxes = scan_boxes(region, source.dtype.itemsize, limit)
    total = math.prod(b - a for a, b in region) * source.dtype.itemsize
    done = [0]
    lock = threading.Lock()

    def one(box: tuple[slice, ...]) -> tuple[int, int, np.ndarray]:
        data = np.asarray(source.read(box))
        found = brick_values(data, where)
        if progress is not None:
            with lock:
                done[0] += data.nbytes
                progress(done[0], total)
        return found

    if workers == 1:
        return merge_values(one(b) for b in boxes)
    with ThreadPoolExecutor(workers) as pool:
        return merge_values(pool.map(one, boxes))


def forced_dtype(forced: str) -> np.dtype[Any]:
    """The type ``dtype=`` names, if labels may have it."""
    try:
        dtype = np.dtype(forced)
    except TypeError:
        dtype = None
    if dtype is None or dtype.name not in FORCIBLE:
        raise OptionError(
            "dtype",
            f"{forced!r} is not a label type; use one of {', '.join(FORCIBLE)} "
            "(Neuroglancer shows no int64 or float labels)",
        )
    return dtype


def label_dtype(values: LabelValues, forced: str | None = None) -> np.dtype[Any]:
    """The smallest unsigned type holding ``values``, or ``forced`` if it holds them."""
    if forced is not None:
        dtype = forced_dtype(forced)
        info = np.iinfo(dtype)
        if values.max > info.max:
            raise OptionError(
                "dtype",
                f"the labels go up to {values.max}, more than {dtype.name} holds "
                f"({info.max}); casting would change them — leave the type out to get the "
                "smallest that fits",
            )
        return dtype
    for name in UNSIGNED:
        if values.max <= np.iinfo(name).max:
            return np.dtype(name)
    raise AssertionError("unreachable: uint64 holds every non-negative integer label")


def known_dtype(
    input_dtype: np.dtype[Any],
    forced: str | None,
    *,
    largest: int | None,
    colors_auto: bool,
) -> np.dtype[Any] | None:
    """The label type when it is known without reading the values (so the value scan can be
    skipped); None when the values must be read first.

    Only an unsigned input qualifies (a signed or float one may hold negative or fractional
    values, which are refused), and only a type every input value fits in *by its type* — a
    cast that could change a value is never decided without reading them:

    - ``largest`` stated (a WEBKNOSSOS layer's ``largestSegmentId``): the input's own type,
      or ``forced`` when it widens it;
    - otherwise, when no colours need the values (``colors_auto`` False): ``forced`` when it
      holds every value of the input type, or the input's type when it is already ``uint8``.
    """
    if input_dtype.kind != "u":
        return None
    wanted = forced_dtype(forced) if forced is not None else None
    if wanted is not None and not np.can_cast(input_dtype, wanted, "safe"):
        return None  # a narrowing: only the values say whether it keeps them
    if largest is not None:
        return wanted or input_dtype
    if colors_auto:
        return None
    if wanted is not None:
        return wanted
    return input_dtype if input_dtype == np.uint8 else None


# -- the layout -----------------------------------------------------------------------------

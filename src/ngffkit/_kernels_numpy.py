"""The numpy path of :mod:`ngffkit.kernels`: any ndim, any layout, every method.

Used where the compiled kernels do not apply, and for small jobs, which should not pay for
loading them (see the kernels module's "Speed"). Both paths give the same bytes; the rules
(edge blocks, rounding, each method) are the kernels module's.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[Any]


def _out_shape(shape: tuple[int, ...], fs: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(-(-n // f) for n, f in zip(shape, fs, strict=True))


# The numpy path works through big arrays in slabs along the first axis of about this many
# bytes, so that its temporaries (wider sums, stacked blocks) stay small next to the data.
SLAB_BYTES = 4 << 20
# Median and mode stack each block's values, sort them and keep int64 run indices beside
# them: about 20 bytes of temporaries per value (measured: 44.5 MiB for a 4 MiB slab of
# uint16), so they work in slabs of this many values (at most 5.1 MiB held for values up to
# 32 bits, 6.6 for 64-bit ones; as fast).
ORDER_SLAB_VALUES = 192 << 10
# The most one call holds besides its input and output, reused or freed per slab: the
# separable passes' two buffers (1.5 slabs: the first pass halves a slab at twice the
# width) or the order statistics' temporaries (5.1 MiB measured). Counted per task by the
# planner (bricks.TASK_SCRATCH).
SCRATCH_BYTES = SLAB_BYTES * 3 // 2


class _Scratch(threading.local):
    """Two growing byte buffers per thread for the separable passes' partial sums.

    Slab-sized temporaries are a few MiB: freshly allocated for every slab, they were mapped,
    page-faulted, zeroed and unmapped again each time (a tenth of a small conversion's CPU
    in the kernel). Reused, they cost that once per thread. Views of them never leave this
    module.
    """

    def __init__(self) -> None:
        self.buffers = [np.empty(0, np.uint8), np.empty(0, np.uint8)]

    def array(self, which: int, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        nbytes = math.prod(shape) * dtype.itemsize
        if self.buffers[which].nbytes < nbytes:
            self.buffers[which] = np.empty(nbytes, np.uint8)
        return self.buffers[which][:nbytes].view(dtype).reshape(shape)


_scratch = _Scratch()


def general(data: Array, fs: tuple[int, ...], method: str) -> Array:
    """Reduce region by region, each region holding blocks of one size (interior or edge)."""
    out = np.empty(_out_shape(data.shape, fs), dtype=data.dtype)
    rows = data.nbytes // max(data.shape[0], 1)
    order = method in ("median", "mode")
    slab_bytes = ORDER_SLAB_VALUES * data.dtype.itemsize if order else SLAB_BYTES
    step = max(1, slab_bytes // max(rows * fs[0], 1)) * fs[0]
    for start in range(0, data.shape[0], step):
        slab = data[start : start + step]
        dst = out[start // fs[0] : (start + step) // fs[0]]
        if not _separable(slab, fs, method, dst):
            for src, region, block in _regions(slab.shape, fs):
                dst[region] = _reduce_uniform(slab[src], block, method)
    return out


def _separable(data: Array, fs: tuple[int, ...], method: str, dst: Array) -> bool:
    """Integer mean, min and max into ``dst``, reduced one axis at a time; False where that
    does not apply.

    Sums and extremes are separable, so reducing z, then y, then x gives the block result
    exactly, and each pass only touches what the last one left. Integer sums are held in the
    narrowest type that cannot overflow; partial edge blocks divide by their own count.
    Float means are not done this way: the order of float additions must stay the compiled
    kernel's, so that both paths agree bit for bit.
    """
    dt = data.dtype
    if method == "mean" and not (dt.kind in "iu" and dt.itemsize <= 4):
        return False
    if method not in ("mean", "min", "max"):
        return False
    n = math.prod(fs)
    acc_dtype = dt
    combine: Any
    if method == "mean":
        bits = 8 * dt.itemsize + n.bit_length()
        width = next(w for w in (16, 32, 64) if w >= bits)
        acc_dtype = np.dtype(f"{'u' if dt.kind == 'u' else 'i'}{width // 8}")
        combine = np.add
    else:
        combine = np.maximum if method == "max" else np.minimum
    acc: Array = data
    counts: list[Array] = []
    passes = 0
    for axis, f in enumerate(fs):
        size = acc.shape[axis]
        whole, tail = divmod(size, f)
        if f == 1:
            counts.append(np.ones(size, np.int64))
            continue
        shape = list(acc.shape)
        shape[axis] = whole + (1 if tail else 0)
        # Alternate between the two buffers: each pass reads the one the last pass wrote.
        out = _scratch.array(passes % 2, tuple(shape), acc_dtype)
        passes += 1

        def along(s: slice, axis: int = axis) -> tuple[slice, ...]:
            return (slice(None),) * axis + (s,)

        for lo, hi, step in ((0, whole, f), (whole, whole + 1, tail)):
            if hi <= lo or step == 0:
                continue
            part_out = out[along(slice(lo, hi))]
            first = lo * f
            parts = [acc[along(slice(first + k, first + (hi - lo) * f, f))] for k in range(step)]
            if step == 1:
                part_out[...] = parts[0]
            else:
                combine(parts[0], parts[1], out=part_out, dtype=acc_dtype)
                for part in parts[2:]:
                    combine(part_out, part, out=part_out)
        counts.append(np.array([f] * whole + ([tail] if tail else []), np.int64))
        acc = out
    if method != "mean" or acc is data:
        dst[...] = acc
        return True
    if all((c == c[0]).all() for c in counts):
        # Every block holds the same count (an axis shorter than its factor is one tail).
        n = math.prod(int(c[0]) for c in counts)
        if n & (n - 1) == 0:
            acc += n // 2
            np.right_shift(acc, n.bit_length() - 1, out=dst, casting="unsafe")
        else:
            acc += n // 2
            np.floor_divide(acc, n, out=dst, casting="unsafe")
        return True
    per_voxel = counts[0].reshape((-1,) + (1,) * (acc.ndim - 1))
    for axis, c in enumerate(counts[1:], start=1):
        per_voxel = per_voxel * c.reshape((1,) * axis + (-1,) + (1,) * (acc.ndim - axis - 1))
    dst[...] = (acc + per_voxel // 2) // per_voxel
    return True


def _regions(
    shape: tuple[int, ...], fs: tuple[int, ...]
) -> Iterator[tuple[tuple[slice, ...], tuple[slice, ...], tuple[int, ...]]]:
    """Split into at most 2**ndim regions: per axis, the whole blocks and the partial tail."""
    per_axis = []
    for n, f in zip(shape, fs, strict=True):
        whole = n // f
        parts = []
        if whole:
            parts.append((slice(0, whole * f), slice(0, whole), f))
        if n % f:
            parts.append((slice(whole * f, n), slice(whole, whole + 1), n % f))
        per_axis.append(parts)
    for combo in itertools.product(*per_axis):
        yield (
            tuple(c[0] for c in combo),
            tuple(c[1] for c in combo),
            tuple(c[2] for c in combo),
        )


def _offset_views(a: Array, block: tuple[int, ...], axes: int) -> Iterator[Array]:
    """One strided view per offset inside a block over the first ``axes`` axes, in C order."""
    for offset in itertools.product(*(range(b) for b in block[:axes])):
        yield a[tuple(slice(o, None, b) for o, b in zip(offset, block, strict=False))]


def _reduce_uniform(a: Array, block: tuple[int, ...], method: str) -> Array:
    n = math.prod(block)
    dt = a.dtype
    if method == "mean" and dt.kind == "f":
        # Same order of additions as the compiled kernel: rows (every axis but x) in C
        # order into a float64 row, then the x offsets, each starting from 0.0.
        views = _offset_views(a, block, a.ndim - 1)
        rows = np.zeros(a[tuple(slice(None, None, b) for b in block[:-1])].shape, np.float64)
        for v in views:
            rows += v
        bx = block[-1]
        total = np.zeros(rows[..., ::bx].shape, np.float64)
        for dx in range(bx):
            total += rows[..., dx::bx]
        return (total / n).astype(dt)
    if method == "mean" and dt.itemsize == 8:
        # sum(v) = n * sum(v // n) + sum(v % n): neither part can overflow 64 bits.
        quot: Array = np.zeros(_block_grid(a, block), dt)
        rem = np.zeros_like(quot)
        for v in _offset_views(a, block, a.ndim):
            quot += v // n
            rem += v % n
        mean: Array = (quot + (rem + n // 2) // n).astype(dt)
        return mean
    if method == "mean":
        total = np.zeros(_block_grid(a, block), np.int64)
        for v in _offset_views(a, block, a.ndim):
            total += v
        return ((total + n // 2) // n).astype(dt)
    if method in ("min", "max"):
        views = _offset_views(a, block, a.ndim)
        acc = np.array(next(views))
        combine = np.maximum if method == "max" else np.minimum
        for v in views:
            combine(acc, v, out=acc)
        return acc
    values = np.stack(list(_offset_views(a, block, a.ndim)), axis=-1)
    if method == "median":
        k = (n - 1) // 2
        median: Array = np.partition(values, k, axis=-1)[..., k]
        return median
    return _mode_last_axis(values)


def _block_grid(a: Array, block: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n // b for n, b in zip(a.shape, block, strict=True))


def _mode_last_axis(values: Array) -> Array:
    """Most frequent value along the last axis, ties -> smallest."""
    s = np.sort(values, axis=-1)
    n = s.shape[-1]
    idx = np.arange(n)
    starts_run = np.ones(s.shape, dtype=bool)
    starts_run[..., 1:] = s[..., 1:] != s[..., :-1]
    run_start = np.maximum.accumulate(np.where(starts_run, idx, 0), axis=-1)
    # argmax returns the first maximum, i.e. the end of the first longest run, which on
    # sorted values belongs to the smallest of the tied values.
    pick = np.argmax(idx - run_start, axis=-1)
    mode: Array = np.take_along_axis(s, pick[..., None], axis=-1)[..., 0]
    return mode


__all__ = ["SCRATCH_BYTES", "SLAB_BYTES", "general"]

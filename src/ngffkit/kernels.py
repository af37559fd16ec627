"""Downsampling kernels: pure functions from one numpy array to a smaller one.

Nothing here does I/O. Parallelism is the caller's business; the compiled kernels release the
GIL, so callers may run them from several threads at once. The one piece of state is the
loading of those kernels (``compiled="when-loaded"``, :func:`load_compiled`: one background
thread per process, see Speed below); the results never depend on it.

Axes and factors
    ``factors`` has one positive integer per axis of ``data``; 1 leaves that axis alone.
    ngffkit's arrays are (z, y, x) or (t, c, z, y, x), and callers give t and c factor 1.

Edge rule
    The output shape is ``ceil(shape / factor)`` per axis: the true extent, never padded.
    Where an axis is not divisible by its factor, the last block along it is partial and is
    reduced over the voxels that exist only. Its mean divides by the number of voxels present,
    its mode counts only them, and so on. Nothing is padded, repeated or mirrored.

Rounding
    The output dtype is always the input dtype. An integer mean is the exact mean rounded half
    up (towards +inf): ``(sum + n // 2) // n`` with the sum held in a type that cannot overflow
    (64-bit inputs are summed as quotients and remainders of ``n``), so it is never more
    than 0.5 from the true mean. A float mean is summed in float64 and cast back to the
    input dtype. Each call rounds once. A pyramid level built from the rounded level above
    can drift up to 0.5 more per level from the mean of the full-resolution block.

Methods
    ``mean``      block mean, as above.
    ``nearest``   the block's first voxel (lowest index on every axis), so the coarse voxel
                  centre does not move (:func:`level_translation` is 0).
    ``median``    the *lower* median: element ``(n - 1) // 2`` of the sorted block. For an
                  even count this is the lower of the two middle values, not their average,
                  so the result is always a value that occurs in the block and never needs
                  rounding. NaN sorts after every number.
    ``mode``      the most frequent value in the block, ties going to the smallest value.
                  Integer and boolean data only (label volumes).
    ``min``/``max`` block minimum / maximum. A NaN in a block makes the result NaN.
    ``gaussian``  a Gaussian blur as ``scipy.ndimage.gaussian_filter`` with
                  ``sigma = 2 * f / 6`` per axis (none for factor 1, as skimage's
                  ``pyramid_reduce``), ``mode="nearest"``, then the block mean, rounded half up
                  for integers. It is done one axis at a time (blur, shrink, next axis). It is computed in float32 for
                  inputs of at most 16 bits and in float64 otherwise. The filter sees only the
                  array it is given. A caller that downsamples a volume brick by brick gets
                  seams at brick borders unless it passes each brick with a halo of at least
                  ``4 * sigma`` voxels (rounded up to whole blocks) and crops the result.

Dtypes
    bool (nearest, median, mode, min, max), int8 to int64, uint8 to uint64, float16, float32
    and float64. Non-native byte order is accepted and kept.

Speed
    With ``compiled=True`` (the default), C-contiguous arrays whose leading (non z, y, x)
    axes have factor 1 go through compiled kernels (:mod:`ngffkit._kernels_numba`).
    Everything else takes a numpy path. Both give bit-identical results (the test suite
    compares them). Loading the compiled kernels costs about 0.7 s of CPU and 120 MiB once
    per process (LLVM), which is more than they save on a volume below about 3 GB, so the
    converter passes ``compiled=False`` for small jobs: the numpy path sums integer means
    and takes minima and maxima one axis at a time in narrow integers, in reused scratch
    buffers (2.7 Gvoxel/s for uint8 2x2x2 on one core, against 8.3 compiled), but is slow
    for median and mode.

    ``compiled="when-loaded"`` (what the converter passes for large jobs) keeps that load off
    the critical path: the first call for a dtype, factors and method starts loading the
    compiled kernel in a background thread (:func:`load_compiled` starts it earlier) and takes
    the numpy path; calls after the load finished take the compiled one. Median and mode wait
    for the load instead, their numpy path being much slower. Results are the same bytes
    either way, so a run may mix the paths freely.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt

from ngffkit._kernels_numpy import general
from ngffkit.errors import InputError

Method = Literal["mean", "nearest", "gaussian", "median", "mode", "min", "max"]
METHODS: tuple[str, ...] = get_args(Method)

Array: TypeAlias = npt.NDArray[Any]
Compiled: TypeAlias = bool | Literal["when-loaded"]

# Above this anisotropy an axis counts as finer than the coarsest one and is halved alone.
_ANISOTROPY = 1.5


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def output_shape(shape: Sequence[int], factors: Sequence[int]) -> tuple[int, ...]:
    """Shape of ``downsample(data, factors)`` for ``data.shape == shape``: ``ceil(shape/f)``."""
    dims = _check_shape(shape, allow_zero=True)
    fs = _check_factors(factors, len(dims))
    return tuple(-(-n // f) for n, f in zip(dims, fs, strict=True))


def downsample(
    data: np.ndarray, factors: Sequence[int], method: str = "mean", *, compiled: Compiled = True
) -> np.ndarray:
    """Reduce every block of ``factors`` voxels of ``data`` to one voxel.

    Returns a new C-contiguous array of shape :func:`output_shape` and the dtype of
    ``data`` (a copy when every factor is 1). See the module docstring for the rules on
    partial edge blocks, rounding and each method.

    Raises:
        InputError: ``data`` is not a numpy array, a factor is not a positive integer,
            the number of factors differs from ``data.ndim``, the method is unknown, or
            the dtype does not suit the method (e.g. ``mode`` on floats).
    """
    fs = _check_call(data, factors, method)
    return _downsample(data, fs, method, compiled)


def pyramid(
    data: np.ndarray,
    factors: Sequence[Sequence[int]],
    method: str = "mean",
    *,
    compiled: Compiled = True,
) -> list[np.ndarray]:
    """All coarser levels from one call: level ``k + 1`` is level ``k`` reduced by ``factors[k]``.

    ``data`` is level 0 and is not included in the result, so the list has
    ``len(factors)`` arrays. Each level equals ``downsample`` applied to the one before
    (the same rounding applies at every step). Every factor tuple is checked before any work
    is done.
    """
    if any(isinstance(f, int | np.integer) for f in factors):
        raise InputError(
            f"pyramid() takes one factor tuple per level, got {factors!r}; write e.g. "
            "[(1, 2, 2), (2, 2, 2)] for two levels, or [(2, 2, 2)] for one."
        )
    steps = [_check_call(data, f, method) for f in factors]
    levels: list[np.ndarray] = []
    current = data
    for fs in steps:
        current = _downsample(current, fs, method, compiled)
        levels.append(current)
    return levels


def level_translation(method: str, factor: int) -> float:
    """Shift of a coarse voxel's centre, in voxels of the finer level, for one axis.

    A block method puts the coarse voxel at the centre of its ``factor`` fine voxels,
    ``(factor - 1) / 2`` from the first one. ``nearest`` copies the first voxel, so the centre
    does not move. Add ``translation * fine_voxel_size`` to the finer level's translation to
    get the coarse level's OME-Zarr ``translation`` for that axis.
    """
    _check_method(method)
    (f,) = _check_factors((factor,), 1)
    return 0.0 if method == "nearest" else (f - 1) / 2


def plan_factors(
    shape: Sequence[int],
    voxel_size: Sequence[float],
    *,
    levels: int | None,
    anisotropic: bool = True,
    min_size: Sequence[int] | int = 64,
) -> list[tuple[int, ...]]:
    """Per-level factor tuples (each axis 1 or 2) for a pyramid, ready for :func:`pyramid`.

    It works on exactly the axes it is given. Pass the spatial (z, y, x) shape and voxel size,
    then prepend factor 1 for any t or c axes yourself.

    Each step halves some axes:

    * Every axis larger than 1 voxel is a candidate (an axis is never shrunk below 1 voxel),
      so isotropic voxels stay isotropic. ``min_size`` only decides how many steps ``auto``
      takes: until every axis fits in it.
    * ``anisotropic=True``: among the candidates, the axes whose voxel is finer than the
      coarsest candidate's by more than 1.5x are halved alone, until the voxels are near
      isotropic. After that, all candidates are halved together. EM at 25 x 11.24 x 11.24 nm
      (z, y, x) gets (1, 2, 2) and then (2, 2, 2). ``anisotropic=False`` always halves
      every candidate.

    ``levels`` counts every level *including* full resolution, so the result has
    ``levels - 1`` entries. ``levels=None`` means "auto": keep going until every axis fits
    in ``min_size`` (a volume that already fits gets ``[]``).

    Raises:
        InputError: bad shape, voxel size, ``min_size`` or ``levels``, or ``levels`` asks
            for more steps than halving every axis down to 1 voxel allows.
    """
    dims = _check_shape(shape, allow_zero=False)
    nd = len(dims)
    sizes = _check_voxel_size(voxel_size, nd)
    floor = _check_min_size(min_size, nd)
    if levels is not None and (
        isinstance(levels, bool) or not isinstance(levels, int | np.integer) or levels < 1
    ):
        raise InputError(
            f"levels={levels!r} is not a positive integer; it counts all levels including "
            "full resolution (1 = no downsampling), or pass None to choose automatically."
        )

    steps: list[tuple[int, ...]] = []
    cur = list(dims)
    vox = list(sizes)
    while True:
        # Whether to take another step depends on the chunk size (auto) or on ``levels``;
        # which axes shrink does not: every axis above one voxel, so that isotropic voxels
        # stay isotropic (as every other pyramid tool does) and only the anisotropy rule
        # below holds an axis back.
        needed = any(cur[i] > floor[i] for i in range(nd))
        if levels is None:
            if not needed:
                break
        elif len(steps) == levels - 1:
            break
        candidates = [i for i in range(nd) if cur[i] > 1]
        if not candidates:
            assert levels is not None  # auto has stopped: every axis fits in min_size >= 1
            raise InputError(
                f"levels={levels} needs {levels - 1} downsampling steps, but shape "
                f"{dims} is down to 1 voxel on every axis after {len(steps)}; use "
                f"levels <= {len(steps) + 1} or levels=None."
            )
        if anisotropic:
            coarsest = max(vox[i] for i in candidates)
            finer = [i for i in candidates if vox[i] * _ANISOTROPY < coarsest]
            candidates = finer or candidates
        step = tuple(2 if i in candidates else 1 for i in range(nd))
        steps.append(step)
        cur = [-(-n // f) for n, f in zip(cur, step, strict=True)]
        vox = [v * f for v, f in zip(vox, step, strict=True)]
    return steps


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------


def _downsample(data: Array, fs: tuple[int, ...], method: str, compiled: Compiled = True) -> Array:
    shape = output_shape(data.shape, fs)
    if data.size == 0:
        return np.empty(shape, dtype=data.dtype)
    if all(f == 1 for f in fs):
        return np.array(data, order="C", copy=True)
    if not data.dtype.isnative:
        # The compiled kernels only read native byte order; swap once and swap back.
        native = data.astype(data.dtype.newbyteorder("="))
        return _downsample(native, fs, method, compiled).astype(data.dtype)
    if method == "nearest":
        return np.ascontiguousarray(data[tuple(slice(None, None, f) for f in fs)])
    if method == "gaussian":
        return _gaussian(data, fs, compiled)
    if compiled == "when-loaded":
        compiled = method in ("median", "mode") or _loaded(data.dtype, fs, method)
    result = _compiled(data, fs, method) if compiled else None
    return result if result is not None else general(data, fs, method)


# ---------------------------------------------------------------------------------------------
# Loading the compiled kernels in the background
# ---------------------------------------------------------------------------------------------

# One thread loads every kernel in turn (numba's import, then each kernel's cached machine
# code), so that the import happens once; it is not a daemon, so a run that ends first waits
# for it rather than tearing down LLVM under it.
_loader: ThreadPoolExecutor | None = None
_loads: dict[tuple[str, tuple[int, ...], str], Future[None]] = {}
_loads_lock = threading.Lock()


def _forget_loads() -> None:
    """In a forked child: the parent's loader thread does not exist there; start afresh."""
    global _loader, _loads_lock
    _loader, _loads_lock = None, threading.Lock()
    _loads.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_loads)


def load_compiled(dtype: npt.DTypeLike, factors: Sequence[Sequence[int]], method: str) -> None:
    """Start loading the compiled kernels that ``downsample(compiled="when-loaded")`` will use
    for ``dtype``, each factor tuple of ``factors`` and ``method``, in a background thread
    (once per process; later calls return at once)."""
    dt = np.dtype(dtype).newbyteorder("=")
    for fs in factors:
        _loaded(dt, tuple(int(f) for f in fs), method)


def _loaded(dtype: np.dtype[Any], fs: tuple[int, ...], method: str) -> bool:
    """Whether the compiled kernel for ``dtype``, ``fs`` and ``method`` is loaded; if its load
    has not started, start it."""
    global _loader
    key = (dtype.newbyteorder("=").str, fs, method)
    with _loads_lock:
        future = _loads.get(key)
        if future is None:
            if _loader is None:
                _loader = ThreadPoolExecutor(1, thread_name_prefix="ngffkit-kernels")
            try:
                future = _loader.submit(_warm, np.dtype(key[0]), fs, method)
            except RuntimeError:  # the interpreter is shutting down: no new threads
                return False
            _loads[key] = future
    # A failed load counts as done: the compiled call then raises its error where it is made.
    return future.done()


def _warm(dtype: np.dtype[Any], fs: tuple[int, ...], method: str) -> None:
    """Call the compiled kernel once on a tiny array of the same kind (numba loads the machine
    code of each signature on its first call)."""
    if method not in ("nearest", "gaussian"):  # those two call no kernel of their own
        _compiled(np.zeros(tuple(2 * f for f in fs), dtype), fs, method)


def _compiled(data: Array, fs: tuple[int, ...], method: str) -> Array | None:
    """Run the numba kernel on a (n, z, y, x) view of ``data``, or None if it does not apply."""
    dt = data.dtype
    if not data.flags.c_contiguous or dt == np.float16:
        return None
    if method == "mean" and dt.kind in "iu" and dt.itemsize == 8:
        return None  # the quotient/remainder sum lives in the numpy path only
    lead = max(data.ndim - 3, 0)
    if any(f != 1 for f in fs[:lead]):
        return None
    pad = (1,) * max(3 - data.ndim, 0)
    nz, ny, nx = pad + data.shape[lead:]
    fz, fy, fx = pad + fs[lead:]
    out = np.empty(output_shape(data.shape, fs), dtype=dt)
    oz, oy, ox = pad + out.shape[lead:]
    n_lead = math.prod(data.shape[:lead])
    if fz == 1:
        # z is untouched, so the leading axes fold into it without mixing blocks.
        _run3d(
            data.reshape(n_lead * nz, ny, nx), out.reshape(n_lead * oz, oy, ox), fz, fy, fx, method
        )
    else:
        src = data.reshape(n_lead, nz, ny, nx)
        dst = out.reshape(n_lead, oz, oy, ox)
        for i in range(n_lead):
            _run3d(src[i], dst[i], fz, fy, fx, method)
    return out


def _run3d(src: Array, dst: Array, fz: int, fy: int, fx: int, method: str) -> None:
    from ngffkit import _kernels_numba as nb

    nx = src.shape[2]
    n = fz * fy * fx
    if method == "mean":
        if src.dtype.kind == "f":
            nb.mean_float(src, dst, fz, fy, fx, np.empty(nx, np.float64))
        else:
            # int32 sums vectorise twice as wide as int64 where they cannot overflow.
            narrow = src.dtype.itemsize <= 2 and n << (8 * src.dtype.itemsize) < 2**31
            nb.mean_int(src, dst, fz, fy, fx, np.empty(nx, np.int32 if narrow else np.int64))
    elif method in ("min", "max"):
        nb.min_max(src, dst, fz, fy, fx, np.empty(nx, src.dtype), method == "max")
    else:
        scratch = np.empty(n, src.dtype)
        same = np.empty(nx, np.uint8)
        uniform = np.empty(max(dst.shape[2], 1), np.uint8)
        nb.select(src, dst, fz, fy, fx, scratch, same, uniform, method == "median")


def _gaussian(data: Array, fs: tuple[int, ...], compiled: Compiled) -> Array:
    from scipy import ndimage

    dt = data.dtype
    work = np.float32 if dt.itemsize <= 2 or dt == np.float32 else np.float64
    means: Array = data.astype(work)
    # Blur and block mean are both separable and act on different axes, so they commute:
    # blurring one axis and shrinking it before the next leaves later passes less data
    # (1 + 1/2 + 1/4 of the volume for 2x2x2 instead of three full passes). The result is the
    # blur of the whole array followed by the block mean, up to float rounding.
    for axis, f in enumerate(fs):
        if f == 1:
            continue
        ndimage.gaussian_filter1d(means, 2 * f / 6, axis=axis, mode="nearest", output=means)
        step = tuple(f if a == axis else 1 for a in range(len(fs)))
        means = _downsample(means, step, "mean", compiled)
    if dt.kind == "f":
        return means.astype(dt)
    info = np.iinfo(dt)
    hi = float(info.max)
    if int(hi) > info.max:  # 64-bit maxima round up in float64
        hi = float(np.nextafter(hi, 0.0))
    rounded = np.clip(np.floor(means + 0.5), float(info.min), hi)
    return rounded.astype(dt)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _check_call(data: object, factors: Sequence[int], method: str) -> tuple[int, ...]:
    if not isinstance(data, np.ndarray):
        raise InputError(
            f"Expected a numpy array to downsample, got {type(data).__name__}; "
            "wrap it with numpy.asarray() first."
        )
    if data.ndim == 0:
        raise InputError("Cannot downsample a 0-d array; give an array with at least one axis.")
    _check_method(method)
    _check_dtype(data.dtype, method)
    return _check_factors(factors, data.ndim)


def _check_method(method: object) -> None:
    if method not in METHODS:
        raise InputError(
            f"Unknown downsampling method {method!r}; expected one of {', '.join(METHODS)}."
        )


def _check_dtype(dt: np.dtype[Any], method: str) -> None:
    if dt.kind not in "biuf":
        raise InputError(
            f"Cannot downsample an array of dtype {dt}; expected a boolean, integer or "
            "float array. Convert it first, e.g. with .astype(numpy.float32)."
        )
    if method == "mode" and dt.kind == "f":
        raise InputError(
            f"Method 'mode' picks the most frequent label and needs integer or boolean "
            f"data, got {dt}. Use 'mean' or 'median' for intensity images, or convert the "
            "labels to an integer dtype."
        )
    if dt.kind == "b" and method in ("mean", "gaussian"):
        raise InputError(
            f"Method {method!r} cannot average a boolean array; use 'mode', 'max', 'min' "
            "or 'nearest', or convert to uint8 first."
        )


def _check_factors(factors: Sequence[int], ndim: int) -> tuple[int, ...]:
    try:
        fs = tuple(factors)
    except TypeError:
        raise InputError(
            f"Downsampling factors {factors!r} are not a sequence; give one integer per "
            "axis, e.g. (2, 2, 2) or (1, 2, 2)."
        ) from None
    if len(fs) != ndim:
        raise InputError(
            f"Got {len(fs)} downsampling factors {fs} for {ndim} axes; give exactly one "
            "per axis (1 leaves an axis unchanged)."
        )
    for f in fs:
        if isinstance(f, bool) or not isinstance(f, int | np.integer) or f < 1:
            raise InputError(
                f"Downsampling factor {f!r} in {fs} is not a positive integer; use 1 to "
                "leave an axis unchanged and 2 to halve it."
            )
    return tuple(int(f) for f in fs)


def _check_shape(shape: Sequence[int], *, allow_zero: bool) -> tuple[int, ...]:
    dims = tuple(shape)
    low = 0 if allow_zero else 1
    if not dims or any(
        isinstance(n, bool) or not isinstance(n, int | np.integer) or n < low for n in dims
    ):
        raise InputError(
            f"Shape {dims} is not a non-empty sequence of integers >= {low}; give the "
            "array's extent per axis, e.g. (77, 301, 257)."
        )
    return tuple(int(n) for n in dims)


def _check_voxel_size(voxel_size: Sequence[float], nd: int) -> tuple[float, ...]:
    sizes = tuple(voxel_size)
    if len(sizes) != nd or not all(
        isinstance(v, int | float | np.integer | np.floating)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and v > 0
        for v in sizes
    ):
        raise InputError(
            f"Voxel size {sizes} must hold {nd} positive finite numbers, one per axis of the "
            "shape, in the same (array) order, e.g. (25, 11.24, 11.24) for z, y, x."
        )
    return tuple(float(v) for v in sizes)


def _check_min_size(min_size: Sequence[int] | int, nd: int) -> tuple[int, ...]:
    sizes = (min_size,) * nd if isinstance(min_size, int | np.integer) else tuple(min_size)
    if len(sizes) != nd or any(
        isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1 for m in sizes
    ):
        raise InputError(
            f"min_size {min_size!r} must be a positive integer or {nd} of them, one per axis "
            "(the chunk extent the coarsest level should fit in)."
        )
    return tuple(int(m) for m in sizes)


__all__ = [
    "METHODS",
    "Method",
    "downsample",
    "level_translation",
    "load_compiled",
    "output_shape",
    "plan_factors",
    "pyramid",
]

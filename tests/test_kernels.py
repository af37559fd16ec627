"""Differential tests of ngffkit.kernels against a plain loop-over-blocks reference."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from ngffkit import _kernels_numpy as KN
from ngffkit import kernels as K
from ngffkit.errors import InputError

Array = npt.NDArray[Any]

INT_DTYPES = ["uint8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "int8"]
FLOAT_DTYPES = ["float32", "float64"]
ALL_DTYPES = [*INT_DTYPES, *FLOAT_DTYPES, "bool"]
FACTORS = [(2, 2, 2), (1, 2, 2), (2, 1, 1), (3, 3, 3), (1, 1, 2)]
# The numba kernels take any factors; these cover every unrolled case and the general loop.
COMPILED_FACTORS = [*FACTORS, (2, 2, 1), (1, 2, 1), (4, 4, 4), (5, 3, 2), (1, 1, 1)]


# ---------------------------------------------------------------------------------------------
# The reference: one block at a time, in Python, obviously correct
# ---------------------------------------------------------------------------------------------


def ref_block(values: list[Any], method: str, dtype: np.dtype[Any]) -> Any:
    n = len(values)
    if method == "nearest":
        return values[0]
    if method == "min":
        return min(values)
    if method == "max":
        return max(values)
    if method == "median":
        return sorted(values)[(n - 1) // 2]
    if method == "mode":
        counts = Counter(values)
        top = max(counts.values())
        return min(v for v, c in counts.items() if c == top)
    if method == "mean":
        if dtype.kind == "f":
            return math.fsum(values) / n
        return (sum(int(v) for v in values) + n // 2) // n
    raise AssertionError(method)


def ref_downsample(data: Array, factors: tuple[int, ...], method: str) -> Array:
    out_shape = tuple(-(-s // f) for s, f in zip(data.shape, factors, strict=True))
    out = np.empty(out_shape, dtype=data.dtype)
    for idx in np.ndindex(*out_shape):
        sl = tuple(slice(i * f, (i + 1) * f) for i, f in zip(idx, factors, strict=True))
        # C order of the block, so "first voxel" means lowest index on every axis.
        out[idx] = ref_block(data[sl].ravel().tolist(), method, data.dtype)
    return out


def ref_gaussian(data: Array, factors: tuple[int, ...]) -> Array:
    sigma = [2 * f / 6 if f > 1 else 0 for f in factors]
    blurred = ndimage.gaussian_filter(data.astype(np.float64), sigma, mode="nearest")
    means = ref_downsample(blurred, factors, "mean")
    if data.dtype.kind == "f":
        return means
    return np.floor(means + 0.5)


def make_data(
    shape: tuple[int, ...], dtype: str, seed: int = 0, *, full_range: bool = True
) -> Array:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == "f":
        return (rng.standard_normal(shape) * 1000).astype(dt)
    info = np.iinfo(dt)
    if not full_range:
        return rng.integers(max(info.min, -1000), min(info.max, 1000), shape, endpoint=True).astype(
            dt
        )
    # Mix extreme values in so that any sum that overflows shows up.
    data = rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
    extremes = np.array([info.min, info.max, info.max - 1, 0], dtype=dt)
    mask = rng.random(shape) < 0.3
    data[mask] = rng.choice(extremes, size=int(mask.sum()))
    return data


def labels(shape: tuple[int, ...], dtype: str, seed: int = 0) -> Array:
    """Few distinct values, so modes have real majorities and ties."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, shape).astype(dtype)


def supported(method: str, dtype: str) -> bool:
    kind = np.dtype(dtype).kind
    if method == "mode":
        return kind != "f"
    if method in ("mean", "gaussian"):
        return kind != "b"
    return True


def combos(methods: Any, dtypes: Any) -> list[tuple[str, str]]:
    return [(d, m) for d in dtypes for m in methods if supported(m, d)]


def check_against_reference(data: Array, factors: tuple[int, ...], method: str) -> None:
    # The numpy path (compiled=False, what small conversions use) must give the same bytes.
    numpy_path = K.downsample(data, factors, method, compiled=False)
    got = K.downsample(data, factors, method)
    assert numpy_path.tobytes() == got.tobytes() and numpy_path.shape == got.shape
    assert numpy_path.flags.c_contiguous
    assert got.dtype == data.dtype
    assert got.shape == K.output_shape(data.shape, factors)
    assert got.flags.c_contiguous
    if method == "gaussian":
        want = ref_gaussian(data, factors)
        if data.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-2)
        else:
            # float32 working precision may flip a value sitting on .5.
            assert np.abs(got.astype(np.float64) - want).max(initial=0) <= 1
        return
    want = ref_downsample(data, factors, method)
    if method == "mean" and data.dtype.kind == "f":
        # float64 summation may cancel; its error is bounded by the inputs' magnitude.
        rtol = 1e-6 if data.dtype == np.float32 else 1e-13
        atol = 1e-12 * float(np.abs(data).max(initial=0))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------
# Reference comparisons
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factors", FACTORS, ids=str)
@pytest.mark.parametrize(("dtype", "method"), combos(K.METHODS, ALL_DTYPES))
def test_every_dtype_method_factor(dtype: str, method: str, factors: tuple[int, ...]) -> None:
    gaussian_range = method != "gaussian"  # float rounding in the filter, not the kernel
    data = (
        labels((5, 9, 11), dtype)
        if method == "mode"
        else make_data((5, 9, 11), dtype, full_range=gaussian_range)
    )
    check_against_reference(data, factors, method)


# Odd, even and one-voxel extents, small so the Python reference stays quick.
SHAPES = [(1, 1, 1), (3, 5, 7), (1, 9, 10), (7, 1, 5), (9, 13, 1), (11, 43, 37), (2, 2, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("dtype", "method"), combos(K.METHODS, ["uint16", "int64", "float64"]))
def test_awkward_shapes(shape: tuple[int, ...], method: str, dtype: str) -> None:
    for factors in FACTORS:
        data = (
            labels(shape, dtype)
            if method == "mode"
            else make_data(shape, dtype, full_range=method != "gaussian")
        )
        check_against_reference(data, factors, method)


@settings(max_examples=150, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=5),
    data=st.data(),
    method=st.sampled_from(K.METHODS),
    dtype=st.sampled_from(["uint8", "int16", "uint32", "int64", "float32", "bool"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_hypothesis_random_shapes(
    shape: list[int], data: st.DataObject, method: str, dtype: str, seed: int
) -> None:
    assume(supported(method, dtype))
    factors = tuple(
        data.draw(st.lists(st.integers(1, 4), min_size=len(shape), max_size=len(shape)))
    )
    shape_t = tuple(shape)
    arr = (
        labels(shape_t, dtype, seed)
        if method == "mode"
        else make_data(shape_t, dtype, seed, full_range=method != "gaussian")
    )
    check_against_reference(arr, factors, method)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_mean_rounds_half_up_within_half(dtype: str) -> None:
    data = make_data((6, 10, 14), dtype, seed=3)
    got = K.downsample(data, (2, 2, 2), "mean").astype(np.float64)
    true_mean = data.astype(np.float64).reshape(3, 2, 5, 2, 7, 2).mean(axis=(1, 3, 5))
    # float64 cannot hold 64-bit sums exactly; allow its own rounding on top of 0.5.
    slack = 0.5 + (np.abs(true_mean).max() * 2**-50 if np.dtype(dtype).itemsize == 8 else 0)
    assert np.abs(got - true_mean).max() <= slack


def test_mean_half_cases_round_towards_plus_infinity() -> None:
    data = np.array([[0, 1], [-1, 0], [-3, 0], [1, 2]], dtype=np.int16)
    np.testing.assert_array_equal(K.downsample(data, (1, 2), "mean")[:, 0], [1, 0, -1, 2])
    edge = np.array([1, 2, 3, 4, 6], dtype=np.uint8)  # last block is the lone 6
    np.testing.assert_array_equal(K.downsample(edge, (2,), "mean"), [2, 4, 6])


def test_median_takes_lower_middle_and_mode_ties_go_to_smallest() -> None:
    block = np.array([[[7, 1], [5, 3]], [[5, 3], [9, 2]]], dtype=np.uint32)
    assert K.downsample(block, (2, 2, 2), "median").item() == 3  # sorted 1 2 3 3 5 5 7 9
    assert K.downsample(block, (2, 2, 2), "mode").item() == 3  # 3 and 5 tie
    assert K.downsample(block, (2, 2, 2), "nearest").item() == 7


def test_edge_blocks_use_only_existing_voxels() -> None:
    data = np.arange(5, dtype=np.uint8).reshape(1, 1, 5)  # blocks [0 1 2] [3 4]
    assert K.downsample(data, (1, 1, 3), "mean").ravel().tolist() == [1, 4]  # 3.5 -> 4
    assert K.downsample(data, (1, 1, 3), "min").ravel().tolist() == [0, 3]
    assert K.downsample(data, (1, 1, 3), "median").ravel().tolist() == [1, 3]


# ---------------------------------------------------------------------------------------------
# Compiled kernels == numpy path, bit for bit
# ---------------------------------------------------------------------------------------------


def assert_same(compiled: Array | None, general: Array) -> None:
    assert compiled is not None, "expected the compiled path to apply"
    assert compiled.dtype == general.dtype and compiled.shape == general.shape
    # Byte equality also catches -0.0 vs 0.0 and NaN payload differences.
    assert compiled.tobytes() == general.tobytes()


@pytest.mark.parametrize("factors", COMPILED_FACTORS, ids=str)
@pytest.mark.parametrize(
    ("dtype", "method"), combos(["mean", "min", "max", "median", "mode"], ALL_DTYPES)
)
def test_compiled_equals_general(dtype: str, method: str, factors: tuple[int, ...]) -> None:
    shape = (13, 38, 33)
    data = labels(shape, dtype, 1) if method == "mode" else make_data(shape, dtype, 1)
    fs = K._check_factors(factors, 3)
    compiled = K._compiled(data, fs, method)
    if method == "mean" and np.dtype(dtype).itemsize == 8 and dtype != "float64":
        assert compiled is None  # 64-bit integer means take the numpy path by design
        return
    assert_same(compiled, KN.general(data, fs, method))


def test_compiled_float_mean_matches_summation_order_over_huge_dynamic_range() -> None:
    rng = np.random.default_rng(5)
    data = rng.standard_normal((9, 17, 15)) * 10.0 ** rng.integers(-30, 30, (9, 17, 15))
    data[:4, :4] = -0.0  # whole blocks of negative zeros: the first addition decides the sign
    for factors in [(2, 2, 2), (3, 2, 5), (1, 1, 2)]:
        for dt in (np.float64, np.float32):
            arr = data.astype(dt)
            assert_same(K._compiled(arr, factors, "mean"), KN.general(arr, factors, "mean"))


@pytest.mark.parametrize("method", ["min", "max", "median", "mean"])
def test_nan_handling_agrees(method: str) -> None:
    data = make_data((6, 8, 10), "float32", 2)
    data[np.random.default_rng(2).random(data.shape) < 0.2] = np.nan
    for factors in [(2, 2, 2), (1, 2, 2), (2, 2, 1), (3, 3, 3), (4, 4, 4)]:
        assert_same(K._compiled(data, factors, method), KN.general(data, factors, method))
    if method in ("min", "max"):
        block = np.array([[1.0, np.nan], [2.0, 3.0]], dtype=np.float32)
        assert np.isnan(K.downsample(block, (2, 2), method).item())


@pytest.mark.parametrize(
    ("factors", "alphabet"), [((2, 2, 2), 3), ((1, 2, 2), 4), ((2, 2, 1), 4), ((2, 1, 1), 5)]
)
@pytest.mark.parametrize("method", ["mode", "median"])
def test_every_small_block_pattern(factors: tuple[int, ...], alphabet: int, method: str) -> None:
    """All blocks over a small alphabet: exercises every path of the sorting networks."""
    n = math.prod(factors)
    patterns = np.array(list(itertools.product(range(alphabet), repeat=n)), dtype=np.uint64)
    fz, fy, fx = factors
    # Lay the blocks side by side along x; each block's values in C order.
    blocks = patterns.reshape(-1, fz, fy, fx).transpose(1, 2, 0, 3).reshape(fz, fy, -1)
    data = np.ascontiguousarray(blocks)
    want = np.array([ref_block(p.tolist(), method, data.dtype) for p in patterns], np.uint64)
    np.testing.assert_array_equal(K.downsample(data, factors, method).ravel(), want)


def test_leading_axes_and_layouts() -> None:
    data = make_data((2, 3, 7, 9, 11), "uint16", 4)
    for factors in [(1, 1, 2, 2, 2), (1, 1, 1, 2, 2), (1, 2, 2, 2, 2), (2, 1, 1, 1, 1)]:
        for method in ("mean", "mode", "max"):
            want = ref_downsample(data, factors, method)
            np.testing.assert_array_equal(K.downsample(data, factors, method), want)
    # Views and foreign byte order give the same values as a plain contiguous copy.
    base = make_data((9, 10, 11), "int32", 6)
    for view in (base.transpose(2, 0, 1), base[:, ::2], base[::-1]):
        for method in K.METHODS:
            np.testing.assert_array_equal(
                K.downsample(view, (2, 2, 2), method),
                K.downsample(np.ascontiguousarray(view), (2, 2, 2), method),
            )
    swapped = base.astype(">i4")
    got = K.downsample(swapped, (2, 2, 2), "mean")
    assert got.dtype == np.dtype(">i4")
    np.testing.assert_array_equal(got, K.downsample(base, (2, 2, 2), "mean"))


def test_unit_factors_copy_and_empty_arrays() -> None:
    data = make_data((3, 4, 5), "uint8")
    same = K.downsample(data, (1, 1, 1), "mean")
    np.testing.assert_array_equal(same, data)
    same[0, 0, 0] ^= 1
    assert same[0, 0, 0] != data[0, 0, 0]
    empty = K.downsample(np.zeros((0, 4, 5), np.uint16), (2, 2, 2), "mean")
    assert empty.shape == (0, 2, 3) and empty.dtype == np.uint16


def test_gaussian_keeps_constants_and_leaves_unit_axes_alone() -> None:
    const = np.full((6, 7, 9), 200, dtype=np.uint8)
    np.testing.assert_array_equal(
        K.downsample(const, (2, 2, 2), "gaussian"), np.full((3, 4, 5), 200, np.uint8)
    )
    data = make_data((4, 12, 10), "float64", 7)
    got = K.downsample(data, (1, 2, 2), "gaussian")
    for z in range(4):
        np.testing.assert_allclose(got[z], K.downsample(data[z], (2, 2), "gaussian"))


# ---------------------------------------------------------------------------------------------
# pyramid, output_shape, level_translation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", K.METHODS)
def test_pyramid_equals_repeated_downsample(method: str) -> None:
    data = labels((21, 40, 37), "uint32") if method == "mode" else make_data((21, 40, 37), "uint16")
    steps = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (3, 1, 1)]
    levels = K.pyramid(data, steps, method)
    assert len(levels) == len(steps)
    current = data
    for step, level in zip(steps, levels, strict=True):
        current = K.downsample(current, step, method)
        np.testing.assert_array_equal(level, current)
    assert K.pyramid(data, [], method) == []


def test_pyramid_checks_every_step_first() -> None:
    with pytest.raises(InputError, match="0"):
        K.pyramid(np.zeros((4, 4, 4), np.uint8), [(2, 2, 2), (2, 0, 2)])
    with pytest.raises(InputError, match="one factor tuple per level"):
        K.pyramid(np.zeros((4, 4, 4), np.uint8), (2, 2, 2))  # type: ignore[arg-type]


def test_output_shape_and_translation() -> None:
    assert K.output_shape((77, 301, 257), (2, 2, 2)) == (39, 151, 129)
    assert K.output_shape((77, 301, 257), (1, 2, 2)) == (77, 151, 129)
    assert K.output_shape((1, 1, 1), (3, 3, 3)) == (1, 1, 1)
    assert K.output_shape((0, 5), (2, 2)) == (0, 3)
    assert K.level_translation("mean", 2) == 0.5
    assert K.level_translation("mode", 3) == 1.0
    assert K.level_translation("gaussian", 1) == 0.0
    assert K.level_translation("nearest", 2) == 0.0


# ---------------------------------------------------------------------------------------------
# plan_factors
# ---------------------------------------------------------------------------------------------


def test_plan_isotropic() -> None:
    assert K.plan_factors((512, 512, 512), (1, 1, 1), levels=None) == [(2, 2, 2)] * 3
    assert K.plan_factors((512, 512, 512), (1, 1, 1), levels=5) == [(2, 2, 2)] * 4
    assert K.plan_factors((512, 512, 512), (1, 1, 1), levels=1) == []


def test_plan_em_anisotropic() -> None:
    # 11.24 x 11.24 x 25 nm in x, y, z, i.e. (25, 11.24, 11.24) in array order.
    steps = K.plan_factors((1000, 20000, 20000), (25, 11.24, 11.24), levels=None)
    assert steps[0] == (1, 2, 2)
    assert steps[1] == (2, 2, 2)  # 25 vs 22.48 is near-isotropic
    final = (1000, 20000, 20000)
    for s in steps:
        final = K.output_shape(final, s)
    assert all(n <= 64 for n in final)
    assert K.plan_factors((1000, 20000, 20000), (25, 11.24, 11.24), levels=None, anisotropic=False)[
        0
    ] == (2, 2, 2)


def test_plan_strongly_anisotropic_then_isotropic() -> None:
    # 4x coarser z: two xy-only steps reach isotropy; then every axis halves together, also
    # once z fits in a chunk, so the voxels stay isotropic.
    steps = K.plan_factors((100, 4096, 4096), (40, 10, 10), levels=None)
    assert steps == [(1, 2, 2), (1, 2, 2)] + [(2, 2, 2)] * 4


def test_plan_tiny_volumes_and_level_limits() -> None:
    assert K.plan_factors((10, 10, 10), (1, 1, 1), levels=None) == []
    assert K.plan_factors((10, 10, 10), (1, 1, 1), levels=3) == [(2, 2, 2), (2, 2, 2)]
    assert K.plan_factors((1, 300, 300), (1, 1, 1), levels=None) == [(1, 2, 2)] * 3
    assert K.plan_factors((1, 1, 1), (1, 1, 1), levels=1) == []
    with pytest.raises(InputError, match="levels <= 3"):
        K.plan_factors((3, 3, 3), (1, 1, 1), levels=4)
    assert K.plan_factors((64, 300, 100), (1, 1, 1), levels=None, min_size=(64, 128, 128)) == [
        (2, 2, 2),
        (2, 2, 2),
    ]
    # The peer benchmark's pyramid: z keeps halving below the chunk size.
    assert K.plan_factors((256, 1024, 1024), (1, 1, 1), levels=5) == [(2, 2, 2)] * 4


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5000), min_size=1, max_size=4),
    data=st.data(),
    levels=st.one_of(st.none(), st.integers(1, 8)),
    anisotropic=st.booleans(),
    min_size=st.integers(1, 128),
)
def test_plan_properties(
    shape: list[int], data: st.DataObject, levels: int | None, anisotropic: bool, min_size: int
) -> None:
    voxel = data.draw(st.lists(st.floats(0.1, 100), min_size=len(shape), max_size=len(shape)))
    try:
        steps = K.plan_factors(
            shape, voxel, levels=levels, anisotropic=anisotropic, min_size=min_size
        )
    except InputError:
        # Each step halves an axis at most once, so the largest axis alone needs this many.
        assert levels is not None and levels - 1 > max(math.ceil(math.log2(n)) for n in shape)
        return
    cur = tuple(shape)
    for s in steps:
        assert set(s) <= {1, 2} and 2 in s
        assert all(n > 1 for n, f in zip(cur, s, strict=True) if f == 2)
        cur = K.output_shape(cur, s)
    if levels is None:
        assert all(n <= min_size for n in cur)
    else:
        assert len(steps) == levels - 1


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: K.downsample(np.zeros((4, 4), np.uint8), (2, 2), "average"), "'average'"),
        (lambda: K.downsample(np.zeros((4, 4), np.uint8), (2, 0)), "0"),
        (lambda: K.downsample(np.zeros((4, 4), np.uint8), (2, 2.5)), "2.5"),
        (lambda: K.downsample(np.zeros((4, 4), np.uint8), (2, True)), "True"),
        (lambda: K.downsample(np.zeros((4, 4), np.uint8), (2, 2, 2)), "3 downsampling factors"),
        (lambda: K.downsample(np.zeros((4, 4), np.uint8), 2), "not a sequence"),
        (lambda: K.downsample(np.zeros((4, 4), np.float32), (2, 2), "mode"), "float32"),
        (lambda: K.downsample(np.zeros((4, 4), bool), (2, 2), "mean"), "boolean"),
        (lambda: K.downsample(np.zeros((4, 4), np.complex64), (2, 2)), "complex64"),
        (lambda: K.downsample([[1, 2], [3, 4]], (2, 2)), "list"),  # type: ignore[arg-type]
        (lambda: K.downsample(np.zeros(()), ()), "0-d"),
        (lambda: K.output_shape((4, 4), (2,)), "1 downsampling factors"),
        (lambda: K.level_translation("mean", 0), "0"),
        (lambda: K.level_translation("blur", 2), "'blur'"),
        (lambda: K.plan_factors((4, 4), (1,), levels=None), "Voxel size"),
        (lambda: K.plan_factors((4, 4), (1, -1), levels=None), "-1"),
        (lambda: K.plan_factors((4, 0), (1, 1), levels=None), "Shape"),
        (lambda: K.plan_factors((4, 4), (1, 1), levels=0), "levels=0"),
        (lambda: K.plan_factors((4, 4), (1, 1), levels=None, min_size=0), "min_size"),
    ],
)
def test_errors(call: Any, needle: str) -> None:
    with pytest.raises(InputError, match=None) as info:
        call()
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)  # InputError is also a ValueError


@pytest.mark.parametrize("factors", [(2, 2, 2), (3, 2, 1), (1, 2, 2), (4, 1, 3)], ids=str)
@pytest.mark.parametrize("method", ["mean", "min", "max", "median", "mode"])
def test_numpy_path_in_slabs_equals_whole(
    monkeypatch: pytest.MonkeyPatch, method: str, factors: tuple[int, ...]
) -> None:
    """Big arrays go through the numpy path slab by slab; slab edges must not show."""
    shape = (23, 17, 19)
    data = labels(shape, "uint16", 4) if method == "mode" else make_data(shape, "uint16", 4)
    whole = K.downsample(data, factors, method, compiled=False)
    monkeypatch.setattr(KN, "SLAB_BYTES", 3 * 17 * 19 * 2)  # a few rows of blocks per slab
    slabbed = K.downsample(data, factors, method, compiled=False)
    assert slabbed.tobytes() == whole.tobytes()
    np.testing.assert_array_equal(slabbed, ref_downsample(data, factors, method))

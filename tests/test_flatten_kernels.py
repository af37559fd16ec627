"""The pure parts of flatten: the compiled sampler against the numpy reference, the
geometry of .ppm records and tifxyz grids, the .ppm header rules, the plan's budget."""

from __future__ import annotations

import numpy as np
import pytest

from ngffkit.errors import InputError
from ngffkit.surfaces.geometry import (
    parse_ppm_header,
    ppm_geometry,
    tifxyz_rows,
    tifxyz_size,
    tifxyz_valid,
)
from ngffkit.surfaces.plan import choose_budget, memory_needed
from ngffkit.surfaces.sampling import (
    LevelMap,
    layer_offsets,
    sample,
    sample_bounds,
    sample_reference,
)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
@pytest.mark.parametrize(
    "level_map", [LevelMap(), LevelMap((0.5, 0.5, 0.5), (-0.25, -0.25, -0.25))]
)
def test_compiled_sampler_matches_the_numpy_reference(dtype: str, level_map: LevelMap) -> None:
    rng = np.random.default_rng(1)
    shape = (30, 34, 38)
    info = np.iinfo(dtype) if dtype != "float32" else None
    vol = (
        rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
        if info
        else rng.normal(0, 100, shape).astype(dtype)
    )
    h, w = 17, 23
    points = rng.uniform(-6, 44, (h, w, 3)) / np.asarray(level_map.mul)
    normals = rng.normal(size=(h, w, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    valid = rng.random((h, w)) > 0.1
    # Points exactly on the far edges, on voxel centres and on half-voxel ties.
    points[0, :3] = [[37, 33, 29], [0, 0, 0], [12.5, 3.5, 7.5]]
    offsets = layer_offsets(7, 1.25)
    box = sample_bounds(points, normals, valid, offsets, level_map, shape)
    assert box is not None
    block = vol[box[0][0] : box[0][1], box[1][0] : box[1][1], box[2][0] : box[2][1]]
    origin = (box[0][0], box[1][0], box[2][0])
    fast = sample(block, origin, shape, points, normals, valid, offsets, level_map)
    ref = sample_reference(block, origin, shape, points, normals, valid, offsets, level_map)
    whole = sample_reference(vol, (0, 0, 0), shape, points, normals, valid, offsets, level_map)
    assert fast.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(fast, whole)  # the block covers every sample
    assert (fast[:, ~valid] == 0).all()


def test_reference_rounds_half_up_and_zeroes_the_outside() -> None:
    vol = np.zeros((2, 2, 2), np.uint16)
    vol[:, :, 1] = 1  # value = x
    points = np.array([[[0.5, 0, 0], [0.49, 0, 0], [1.0, 1.0, 1.0], [1.01, 0, 0], [-0.01, 0, 0]]])
    normals = np.zeros_like(points)
    normals[..., 2] = 1
    valid = np.ones((1, 5), bool)
    got = sample_reference(
        vol, (0, 0, 0), vol.shape, points, normals, valid, np.zeros(1), LevelMap()
    )
    assert got[0, 0].tolist() == [1, 0, 1, 0, 0]


def test_ppm_header_rules() -> None:
    head = b"# made by VC\nwidth: 3\nheight: 2\ndim: 6\nordered: true\ntype: double\nversion: 1\nextra: x\n<>\n"
    parsed = parse_ppm_header(head + b"\0" * 10, "s.ppm")
    assert (parsed.width, parsed.height, parsed.data_offset) == (3, 2, len(head))
    for bad, says in [
        (b"width: 3\nheight: 2\ndim: 3\n<>\n", "dim: 3"),
        (b"width: 3\nheight: 2\ntype: float\n<>\n", "type: float"),
        (b"width: 3\nheight: 2\nordered: false\n<>\n", "ordered: false"),
        (b"height: 2\n<>\n", "no 'width:'"),
        (b"width: 3\nheight: 2\n", "no '<>'"),
        (b"width: x\nheight: 2\n<>\n", "not whole numbers"),
    ]:
        with pytest.raises(InputError, match=says):
            parse_ppm_header(bad, "s.ppm")


def test_ppm_geometry_normalises_normals_and_flags_unmapped_pixels() -> None:
    rec = np.zeros((1, 3, 6))
    rec[0, 0] = [1, 2, 3, 0, 0, 5]
    rec[0, 1] = [4, 5, 6, 3, 4, 0]
    points, normals, valid = ppm_geometry(rec)
    assert valid.tolist() == [[True, True, False]]
    np.testing.assert_allclose(normals[0, :2], [[0, 0, 1], [0.6, 0.8, 0]])
    np.testing.assert_array_equal(points[0, 1], [4, 5, 6])


def test_tifxyz_size_interpolation_and_normals() -> None:
    assert tifxyz_size((11, 21), (0.05, 0.05)) == (201, 401)
    assert tifxyz_size((3, 3), (0.5, 0.25)) == (9, 5)
    g_rows, g_cols = 4, 5
    r, c = np.meshgrid(np.arange(g_rows), np.arange(g_cols), indexing="ij")
    grid = np.stack([5 + 20.0 * c, 7 + 20.0 * r, 30 + 2.0 * c + 1.0 * r], axis=-1)
    valid = tifxyz_valid(grid[..., 0], grid[..., 1], grid[..., 2], None)
    valid[0, 0] = False
    points, normals, ok = tifxyz_rows(grid, valid, (0.05, 0.05), (0, 61))
    assert points.shape == (61, 81, 3)
    # The affine grid is reproduced exactly: pixel (r, c) is at grid (r/20, c/20).
    rr, cc = np.meshgrid(np.arange(61) / 20, np.arange(81) / 20, indexing="ij")
    want = np.stack([5 + 20 * cc, 7 + 20 * rr, 30 + 2 * cc + rr], axis=-1)
    np.testing.assert_allclose(points[ok], want[ok])
    n = np.cross([20, 0, 2], [0, 20, 1])
    np.testing.assert_allclose(
        normals[ok], np.broadcast_to(n / np.linalg.norm(n), normals[ok].shape)
    )
    assert not ok[:20, :20].any() and ok[20:, 20:].all()  # the invalid vertex's cell only
    assert ok[:21, 21:].all()


def test_tifxyz_invalid_vertices() -> None:
    x = np.array([[1.0, -1.0], [1.0, 2.0]])
    z = np.array([[1.0, 5.0], [0.0, 3.0]])
    mask = np.array([[True, True], [True, False]])
    assert tifxyz_valid(x, x, z, mask).tolist() == [[True, False], [False, False]]


def test_budget_shrinks_bands_then_tiles_and_says_when_nothing_fits() -> None:
    common = dict(
        width=20_000,
        layers=65,
        itemsize=2,
        jobs=2,
        block_bytes=8 << 20,
        cache_bytes=256 << 20,
        composite=True,
        zarr=False,
    )
    big = choose_budget(max_memory=2 << 30, **common)
    small = choose_budget(max_memory=900 << 20, **common)
    assert big.band_rows > small.band_rows and big.memory <= 2 << 30
    assert small.memory <= 900 << 20
    assert memory_needed(band_rows=small.band_rows, tile=small.tile, **common) == small.memory
    with pytest.raises(InputError, match="max_memory"):
        choose_budget(max_memory=300 << 20, **common)

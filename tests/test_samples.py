"""The scroll-like sample volume: deterministic, in range, masked, and written as readable TIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from ngffkit.errors import ConflictError, InputError
from ngffkit.samples import scroll_slice, scroll_volume, write_tiff_stack

SHAPE = (12, 96, 128)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_deterministic_and_order_independent(dtype: str) -> None:
    a = scroll_volume(SHAPE, dtype, seed=3)
    b = scroll_volume(SHAPE, dtype, seed=3)
    assert np.array_equal(a, b)
    # A slice made alone equals the same slice made inside the whole volume.
    assert np.array_equal(scroll_slice(7, SHAPE, dtype, seed=3), a[7])
    # Another seed gives other data (same mask).
    c = scroll_volume(SHAPE, dtype, seed=4)
    assert not np.array_equal(a, c)
    assert np.array_equal(a == 0, c == 0)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "uint32", "float32"])
def test_dtype_and_range(dtype: str) -> None:
    v = scroll_volume(SHAPE, dtype)
    assert v.dtype == np.dtype(dtype)
    inside = v[v != 0]
    if np.dtype(dtype).kind == "f":
        assert inside.min() > 0 and inside.max() <= 1.0
    else:
        assert inside.min() >= 1
        assert inside.max() <= np.iinfo(dtype).max
        # The data uses a good part of the range, not a sliver of it.
        assert inside.max() > 0.5 * np.iinfo(dtype).max
    assert len(np.unique(inside)) > 50


def test_zero_fraction_is_the_cylinder_mask() -> None:
    v = scroll_volume((8, 200, 200), "uint16")
    frac = float((v == 0).mean())
    assert 0.30 <= frac <= 0.40
    # Zeros only outside the cylinder: every slice has the same zero pattern.
    assert all(np.array_equal(v[0] == 0, v[z] == 0) for z in range(v.shape[0]))
    assert v[:, 100, 100].min() > 0  # the centre is inside
    assert v[:, 0, 0].max() == 0  # a corner is outside


def test_slices_vary_with_z() -> None:
    v = scroll_volume((16, 64, 64), "uint16")
    assert not np.array_equal(v[0], v[8])


def test_write_tiff_stack_round_trip(tmp_path: Path) -> None:
    paths = write_tiff_stack(tmp_path / "stack", SHAPE, "uint16", seed=1)
    assert [p.name for p in paths] == [f"z{z:04d}.tif" for z in range(SHAPE[0])]
    read = np.stack([tifffile.imread(p) for p in paths])
    assert read.dtype == np.uint16
    assert np.array_equal(read, scroll_volume(SHAPE, "uint16", seed=1))


def test_write_tiff_stack_compression_and_pattern(tmp_path: Path) -> None:
    paths = write_tiff_stack(
        tmp_path, (3, 40, 50), "uint8", compression="zlib", name_pattern="slice_{z:03d}.tiff"
    )
    assert [p.name for p in paths] == ["slice_000.tiff", "slice_001.tiff", "slice_002.tiff"]
    with tifffile.TiffFile(paths[0]) as tif:
        assert tif.pages[0].compression != 1  # 1 = none
        assert np.array_equal(tif.asarray(), scroll_slice(0, (3, 40, 50), "uint8"))


def test_write_tiff_stack_refuses_to_overwrite(tmp_path: Path) -> None:
    write_tiff_stack(tmp_path, (2, 16, 16), "uint8")
    with pytest.raises(ConflictError):
        write_tiff_stack(tmp_path, (2, 16, 16), "uint8")
    assert len(write_tiff_stack(tmp_path, (2, 16, 16), "uint8", overwrite=True)) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shape": (4, 8)},
        {"shape": (0, 8, 8)},
        {"shape": (4, 8, 8), "dtype": "complex64"},
        {"shape": (4, 8, 8), "z": 4},
    ],
)
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    args = {"z": 0, "shape": (4, 8, 8), "dtype": "uint8"} | kwargs
    with pytest.raises(InputError):
        scroll_slice(**args)  # type: ignore[arg-type]

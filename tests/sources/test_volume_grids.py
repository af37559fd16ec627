"""Vesuvius volume_grids folders: cells, edges, missing cells, bad cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from source_helpers import CELL, assert_reads, random_volume, write_grid

from ngffkit.errors import InputError
from ngffkit.sources import VolumeGridsSource, open_source


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_grid_with_smaller_edge_cells_round_trips(tmp_path: Path, compression) -> None:
    vol = random_volume((23, 17, 19), np.uint16)
    write_grid(tmp_path / "grid", vol, compression=compression)
    with open_source(tmp_path / "grid") as src:
        assert isinstance(src, VolumeGridsSource)
        assert src.axes == ("z", "y", "x")
        assert src.cell_shape == (CELL, CELL, CELL)
        assert src.cost.window_cheap
        src.check_all()
        assert_reads(src, vol)
        # a box crossing cell corners in every axis
        box = (slice(6, 18), slice(7, 9), slice(3, 17))
        np.testing.assert_array_equal(src.read(box), vol[box])


def test_missing_cell_is_an_error_unless_gaps_are_allowed(tmp_path: Path) -> None:
    """The same rule as a missing slice (issue 12): zeros only when asked for."""
    vol = random_volume((20, 16, 18), np.uint8)
    paths = write_grid(tmp_path / "grid", vol)
    paths[(1, 0, 1)].unlink()
    with pytest.raises(
        InputError,
        match=r"1 of the 3×2×3 grid cells are missing: "
        r"cell_yxz_001_002_002\.tif.*allow_gaps",
    ):
        open_source(tmp_path / "grid")
    expected = vol.copy()
    expected[8:16, 0:8, 8:16] = 0
    with open_source(tmp_path / "grid", allow_gaps=True) as src:
        assert src.shape == vol.shape
        assert_reads(src, expected)
        assert open_source(src.spec()).shape == vol.shape  # workers reopen with the same rule


def test_cell_of_wrong_shape_is_named(tmp_path: Path) -> None:
    vol = random_volume((20, 16, 18), np.uint8)
    paths = write_grid(tmp_path / "grid", vol)
    bad = paths[(1, 1, 0)]
    tifffile.imwrite(bad, np.zeros((8, 8, 7), np.uint8), photometric="minisblack")
    with open_source(tmp_path / "grid") as src:
        with pytest.raises(InputError, match=rf"{bad.name}.*\(8, 8, 8\).*\(8, 8, 7\)"):
            src.read((slice(0, 20), slice(0, 16), slice(0, 18)))
        with pytest.raises(
            InputError,
            match=rf"1 of 18 grid cells differ from the rest: "
            rf"{bad.name} is 8×8×7 \(z×y×x\) uint8 where the "
            r"other cells say 8×8×8",
        ):
            src.check_all()
        # cells that are fine still read
        np.testing.assert_array_equal(src.read((slice(0, 8),) * 3), vol[:8, :8, :8])


def test_cell_of_wrong_dtype_is_named(tmp_path: Path) -> None:
    vol = random_volume((16, 16, 16), np.uint16)
    paths = write_grid(tmp_path / "grid", vol)
    bad = paths[(1, 1, 1)]
    tifffile.imwrite(bad, np.zeros((8, 8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(
        InputError,
        match=rf"{bad.name} is 8×8×8 \(z×y×x\) uint8 where the "
        r"other cells say 8×8×8 \(z×y×x\) uint16",
    ):
        open_source(tmp_path / "grid").check_all()


def test_the_first_cell_probed_is_not_the_reference(tmp_path: Path) -> None:
    """Issue 12, defect 6: an odd first cell once made its good neighbours the culprits."""
    vol = random_volume((24, 24, 24), np.uint8)
    paths = write_grid(tmp_path / "grid", vol)
    first = paths[(0, 0, 0)]  # the cell probed first for the grid's cell size
    tifffile.imwrite(first, np.zeros((8, 8, 9), np.uint8), photometric="minisblack")
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "grid").check_all()
    message = str(info.value)
    assert message.count("cell_yxz_") == 1 and first.name in message
    assert "1 of 27 grid cells differ" in message


def test_single_cell_grid_and_junk(tmp_path: Path) -> None:
    vol = random_volume((5, 6, 7), np.float32)
    write_grid(tmp_path / "grid", vol)
    (tmp_path / "grid" / "notes.txt").write_text("x")
    with open_source(tmp_path / "grid") as src:
        assert_reads(src, vol)


def test_zero_index_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "g").mkdir()
    tifffile.imwrite(tmp_path / "g" / "cell_yxz_000_001_001.tif", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(InputError, match="1-based"):
        open_source(tmp_path / "g")


def test_spec_forces_the_kind(tmp_path: Path) -> None:
    vol = random_volume((9, 9, 9), np.uint8)
    write_grid(tmp_path / "grid", vol)
    with open_source(tmp_path / "grid", input_format="volume-grids") as src:
        assert src.spec().kind == "volume-grids"

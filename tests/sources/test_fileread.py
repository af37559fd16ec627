"""Bounded box reads of uncompressed arrays in files (raw, contiguous TIFF), against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ngffkit.errors import InputError
from ngffkit.sources import _fileread
from ngffkit.sources._fileread import read_box

SHAPE = (5, 37, 53)
BOXES = [
    (slice(0, 5), slice(0, 37), slice(0, 53)),  # whole
    (slice(1, 4), slice(3, 20), slice(0, 53)),  # full rows
    (slice(2, 3), slice(5, 6), slice(7, 8)),  # one voxel
    (slice(0, 5), slice(30, 37), slice(40, 53)),  # the far corner, narrow rows
]


@pytest.mark.parametrize("dtype", ["uint8", ">u2", "<f4", "int64"])
@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("strip", [1 << 20, 64, 1])  # room for many rows, a few, less than one
def test_read_box_matches_numpy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str, box: tuple[slice, ...], strip: int
) -> None:
    monkeypatch.setattr(_fileread, "STRIP_BYTES", strip)
    file_dtype = np.dtype(dtype)
    data = np.random.default_rng(3).integers(0, 200, SHAPE).astype(file_dtype)
    path = tmp_path / "a.bin"
    path.write_bytes(b"H" * 11 + data.tobytes())  # at an odd offset, like a TIFF's data
    out = np.full([s.stop - s.start for s in box], 7, file_dtype.newbyteorder("="))
    read_box(path, 11, SHAPE, file_dtype, box, out)
    np.testing.assert_array_equal(out, data[box])
    # into a transposed (strided) view, as a z-fastest raw file is read
    t = np.zeros(out.shape[::-1], out.dtype)
    read_box(path, 11, SHAPE, file_dtype, box, t.transpose())
    np.testing.assert_array_equal(t.transpose(), data[box])


def test_read_box_of_higher_and_lower_rank(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    (tmp_path / "a.bin").write_bytes(data.tobytes())
    box = (slice(1, 2), slice(0, 3), slice(1, 3), slice(2, 5))
    out = np.empty((1, 3, 2, 3), np.uint16)
    read_box(tmp_path / "a.bin", 0, data.shape, data.dtype, box, out)
    np.testing.assert_array_equal(out, data[box])
    vec = np.empty(4, np.uint16)
    read_box(tmp_path / "a.bin", 0, (120,), data.dtype, (slice(10, 14),), vec)
    np.testing.assert_array_equal(vec, data.ravel()[10:14])


def test_a_truncated_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "short.raw").write_bytes(bytes(100))
    out = np.empty((2, 10, 10), np.uint8)
    with pytest.raises(InputError, match=r"short\.raw: the file ended at byte 100"):
        box = (slice(0, 2), slice(0, 10), slice(0, 10))
        read_box(tmp_path / "short.raw", 0, (2, 10, 10), np.dtype("uint8"), box, out)

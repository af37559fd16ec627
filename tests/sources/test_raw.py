"""Raw binary volumes: shape in x,y,z order, C and F layouts, exact size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from source_helpers import SHAPE, assert_reads, random_volume

from ngffkit.errors import InputError
from ngffkit.sources import RawSource, open_source

DTYPES = ["uint8", "uint16", "int16", "uint32", "float32"]
XYZ = (SHAPE[2], SHAPE[1], SHAPE[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_raw_c_order_is_x_fastest(tmp_path: Path, dtype) -> None:
    vol = random_volume(SHAPE, dtype)  # z, y, x
    (tmp_path / "v.raw").write_bytes(vol.tobytes(order="C"))
    with open_source(tmp_path / "v.raw", raw_shape=XYZ, raw_dtype=dtype) as src:
        assert isinstance(src, RawSource)
        assert src.axes == ("z", "y", "x") and src.shape == SHAPE
        assert (
            src.cost.window_cheap and src.cost.bytes_per_slice == SHAPE[1] * SHAPE[2] * vol.itemsize
        )
        assert_reads(src, vol)


def test_raw_f_order_is_z_fastest(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint16)
    # Fortran order of the (z,y,x) array = C order of its (x,y,z) transpose
    (tmp_path / "v.bin").write_bytes(np.ascontiguousarray(vol.transpose(2, 1, 0)).tobytes())
    with open_source(tmp_path / "v.bin", raw_shape=XYZ, raw_dtype="uint16", raw_order="F") as src:
        assert_reads(src, vol)


def test_big_endian_dtype_reads_native(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.float32)
    (tmp_path / "v.raw").write_bytes(vol.astype(">f4").tobytes())
    with open_source(tmp_path / "v.raw", raw_shape=XYZ, raw_dtype=">f4") as src:
        assert src.dtype == np.dtype("float32")
        assert_reads(src, vol)


def test_wrong_size_names_expected_and_found_bytes(tmp_path: Path) -> None:
    (tmp_path / "v.raw").write_bytes(b"\0" * 1000)
    with pytest.raises(InputError, match=r"v\.raw: 10x10x6 \(x,y,z\).*need 1200 bytes.*has 1000"):
        open_source(tmp_path / "v.raw", raw_shape=(10, 10, 6), raw_dtype="uint16")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"raw_shape": None, "raw_dtype": "uint8"}, "give raw_shape"),
        ({"raw_shape": (10, 10), "raw_dtype": "uint8"}, "three positive integers"),
        ({"raw_shape": ("a", 1, 1), "raw_dtype": "uint8"}, "three integers"),
        ({"raw_shape": (10, 10, 1), "raw_dtype": "banana"}, "not a numpy dtype"),
        ({"raw_shape": (10, 10, 1), "raw_dtype": "U4"}, "not a numeric voxel type"),
        ({"raw_shape": (10, 10, 1), "raw_dtype": "uint8", "raw_order": "X"}, "raw_order"),
    ],
)
def test_bad_raw_options(tmp_path: Path, kwargs, message) -> None:
    (tmp_path / "v.raw").write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match=message):
        open_source(tmp_path / "v.raw", input_format="raw", **kwargs)

"""The fast TIFF header probe agrees with tifffile, and hands every file it is not sure about
back to tifffile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image

from ngffkit.sources._tiffhead import PlainPage, plain_page
from ngffkit.sources.tiff_folder import _plain_layout


def _tifffile_view(path: Path) -> PlainPage | None:
    with tifffile.TiffFile(path) as tif:
        if len(tif.pages) > 1:
            return None
        return _plain_layout(tif.pages.first, path)


PLAIN: dict[str, tuple[str, dict[str, Any]]] = {
    "u8": ("uint8", {}),
    "u16": ("uint16", {}),
    "i16": ("int16", {}),
    "u32": ("uint32", {}),
    "i32": ("int32", {}),
    "f32": ("float32", {}),
    "f64": ("float64", {}),
    "u16-strips": ("uint16", {"rowsperstrip": 7}),
    "u16-bigtiff": ("uint16", {"bigtiff": True}),
    "u8-bigendian": ("uint8", {"byteorder": ">"}),
    "u16-desc": ("uint16", {"description": "x" * 5000}),  # values past the first 4 KiB
    "u16-imagej": ("uint16", {"imagej": True}),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_files_agree_with_tifffile(tmp_path: Path, name: str) -> None:
    dtype, kw = PLAIN[name]
    data = np.arange(37 * 53, dtype=dtype).reshape(37, 53)
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, data, **kw)
    fast = plain_page(path)
    assert fast is not None
    assert fast == _tifffile_view(path)
    raw = np.fromfile(path, dtype=fast.dtype, count=37 * 53, offset=fast.offset)
    np.testing.assert_array_equal(raw.reshape(fast.shape), data)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_pillow_files(tmp_path: Path, dtype: Any) -> None:
    data = (np.arange(40 * 30) % 200).astype(dtype).reshape(40, 30)
    path = tmp_path / "p.tif"
    Image.fromarray(data).save(path)
    fast = plain_page(path)
    assert fast is not None and fast == _tifffile_view(path)


OTHER: dict[str, tuple[Any, dict[str, Any]]] = {
    "zstd": (np.zeros((20, 20), np.uint16), {"compression": "zstd"}),
    "deflate": (np.zeros((20, 20), np.uint8), {"compression": "zlib"}),
    "tiled": (np.zeros((32, 32), np.uint16), {"tile": (16, 16)}),
    "rgb": (np.zeros((20, 20, 3), np.uint8), {"photometric": "rgb"}),
    "u16-bigendian": (np.zeros((20, 20), np.uint16), {"byteorder": ">"}),
    "predictor": (np.zeros((20, 20), np.uint16), {"compression": "zlib", "predictor": True}),
}


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_files_go_to_tifffile(tmp_path: Path, name: str) -> None:
    data, kw = OTHER[name]
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, data, **kw)
    assert plain_page(path) is None


def test_several_pages_go_to_tifffile(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((3, 10, 10), np.uint8), photometric="minisblack")
    assert plain_page(path) is None


def test_broken_files_go_to_tifffile(tmp_path: Path) -> None:
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.ones((64, 64), np.uint16))
    blob = good.read_bytes()
    cases = {
        "truncated": blob[: len(blob) - 100],
        "header-only": blob[:6],
        "empty": b"",
        "not-tiff": b"\x89PNG\r\n\x1a\n" + bytes(100),
        "bad-ifd": blob[:4] + (10**9).to_bytes(4, "little") + blob[8:],
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.tif"
        path.write_bytes(content)
        assert plain_page(path) is None, name
    assert plain_page(tmp_path / "missing.tif") is None

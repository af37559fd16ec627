"""One multi-page TIFF / OME-TIFF / ImageJ hyperstack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from source_helpers import SHAPE, assert_reads, random_volume

from ngffkit.errors import InputError
from ngffkit.sources import TiffFileSource, open_source

DTYPES = [np.uint8, np.uint16, np.int16, np.uint32, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compression", [None, "zstd"])
def test_multipage_round_trips(tmp_path: Path, dtype, compression) -> None:
    vol = random_volume(SHAPE, dtype)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, vol, photometric="minisblack", compression=compression, rowsperstrip=8)
    with open_source(path) as src:
        assert isinstance(src, TiffFileSource)
        assert src.axes == ("z", "y", "x")
        assert src.cost.window_cheap is (compression is None)
        assert src.cost.rows_per_block == (None if compression is None else 8)
        assert_reads(src, vol)


def test_pages_written_one_by_one_form_the_stack(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint16)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tw:
        for plane in vol:  # no shaped metadata: tifffile sees a generic page sequence
            tw.write(plane, compression="lzw", metadata=None)
    with open_source(path) as src:
        assert_reads(src, vol)


def test_single_page_is_one_slice(tmp_path: Path) -> None:
    plane = random_volume(SHAPE[1:], np.uint8)
    tifffile.imwrite(tmp_path / "one.tif", plane)
    with open_source(tmp_path / "one.tif") as src:
        assert src.shape == (1, *SHAPE[1:])
        assert_reads(src, plane[None])


@pytest.mark.parametrize(
    ("sizes", "voxel", "unit"),
    [
        ({"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0}, (2.0, 0.5, 0.5), "micrometer"),
        (
            {"PhysicalSizeX": 11.24, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 11.24,
             "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 25, "PhysicalSizeZUnit": "nm"},
            (25.0, 11.24, 11.24),
            "nanometer",
        ),
        (
            {"PhysicalSizeX": 7.91, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": 7.91,
             "PhysicalSizeYUnit": "µm", "PhysicalSizeZ": 0.01, "PhysicalSizeZUnit": "mm"},
            (10.0, 7.91, 7.91),
            "micrometer",
        ),
    ],
)  # fmt: skip
def test_ome_physical_sizes_and_units(tmp_path: Path, sizes, voxel, unit) -> None:
    vol = random_volume(SHAPE, np.uint16)
    path = tmp_path / "img.ome.tif"
    tifffile.imwrite(path, vol, ome=True, metadata={"axes": "ZYX", **sizes})
    with open_source(path) as src:
        assert src.axes == ("z", "y", "x")
        assert src.unit == unit
        assert src.voxel_size is not None
        assert src.voxel_size == pytest.approx(dict(zip("zyx", voxel, strict=True)))
        assert_reads(src, vol)


def test_ome_without_sizes_has_no_voxel_size(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint8)
    tifffile.imwrite(tmp_path / "a.ome.tif", vol, ome=True, metadata={"axes": "ZYX"})
    with open_source(tmp_path / "a.ome.tif") as src:
        assert src.voxel_size is None and src.unit is None


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_ome_tczyx_exposes_t_and_c_first(tmp_path: Path, compression) -> None:
    vol = random_volume((2, 3, 4, 13, 17), np.uint16)
    path = tmp_path / "tczyx.ome.tif"
    tifffile.imwrite(
        path, vol, ome=True, compression=compression, metadata={"axes": "TCZYX", "PhysicalSizeZ": 3}
    )
    with open_source(path) as src:
        assert src.axes == ("t", "c", "z", "y", "x")
        assert src.voxel_size == {"z": 3.0}
        assert src.unit == "micrometer"
        assert_reads(src, vol)


def test_ome_zcyx_is_reordered_to_czyx(tmp_path: Path) -> None:
    vol = random_volume((4, 2, 13, 17), np.uint8)  # z, c, y, x
    tifffile.imwrite(tmp_path / "z.ome.tif", vol, ome=True, metadata={"axes": "ZCYX"})
    with open_source(tmp_path / "z.ome.tif") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert_reads(src, np.ascontiguousarray(vol.transpose(1, 0, 2, 3)))


def test_length_one_t_and_c_are_dropped(tmp_path: Path) -> None:
    vol = random_volume((1, 1, 4, 13, 17), np.uint8)
    tifffile.imwrite(tmp_path / "s.ome.tif", vol, ome=True, metadata={"axes": "TCZYX"})
    with open_source(tmp_path / "s.ome.tif") as src:
        assert src.axes == ("z", "y", "x")
        assert_reads(src, vol[0, 0])


@pytest.mark.parametrize("compression", [None, "lzw"])
def test_multipage_rgb(tmp_path: Path, compression) -> None:
    vol = random_volume((4, 13, 17, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", vol, photometric="rgb", compression=compression)
    with open_source(tmp_path / "rgb.tif") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert_reads(src, np.ascontiguousarray(np.moveaxis(vol, -1, 0)))


def test_imagej_hyperstack_spacing_and_resolution(tmp_path: Path) -> None:
    vol = random_volume((4, 2, 13, 17), np.uint16)  # ImageJ order: z, c, y, x
    tifffile.imwrite(
        tmp_path / "ij.tif",
        vol,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"axes": "ZCYX", "spacing": 1.5, "unit": "micron"},
    )
    with open_source(tmp_path / "ij.tif") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert src.unit == "micrometer"
        assert src.voxel_size == pytest.approx({"x": 0.25, "y": 0.25, "z": 1.5})
        assert_reads(src, np.ascontiguousarray(vol.transpose(1, 0, 2, 3)))


def test_pages_of_different_shapes_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(np.zeros((8, 9), np.uint8), metadata=None)
        tw.write(np.zeros((8, 10), np.uint8), metadata=None)
    with pytest.raises(InputError, match=r"bad\.tif: pages differ"):
        open_source(path)


def test_truncated_file_names_the_file(tmp_path: Path) -> None:
    vol = random_volume((6, 40, 50), np.uint16)
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, vol, photometric="minisblack")
    path.write_bytes(path.read_bytes()[:-3000])
    with open_source(path) as src, pytest.raises(InputError, match=r"cut\.tif"):
        src.read((slice(0, 6), slice(0, 40), slice(0, 50)))


def test_truncated_compressed_file_names_the_file(tmp_path: Path) -> None:
    vol = random_volume((6, 40, 50), np.uint16)
    path = tmp_path / "cut.tif"
    with tifffile.TiffWriter(path) as tw:
        for plane in vol:
            tw.write(plane, compression="zlib", metadata=None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])
    with open_source(path) as src, pytest.raises(InputError, match=r"cut\.tif: page \d \(z=\d\)"):
        src.read((slice(0, 6), slice(0, 40), slice(0, 50)))


def test_not_a_tiff(tmp_path: Path) -> None:
    (tmp_path / "x.tif").write_text("hello")
    with pytest.raises(InputError, match=r"x\.tif: not a readable TIFF"):
        open_source(tmp_path / "x.tif")


def test_threads_share_one_file_safely(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    vol = random_volume((16, 40, 50), np.uint16)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tw:
        for plane in vol:
            tw.write(plane, compression="zlib", rowsperstrip=4, metadata=None)
    boxes = [(slice(z, z + 3), slice(z, 40), slice(0, 50 - z)) for z in range(0, 13)] * 4
    with open_source(path) as src:
        src.check_all()  # a single file was checked at open: nothing to do
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(src.read, boxes))
    for box, got in zip(boxes, results, strict=True):
        np.testing.assert_array_equal(got, vol[box])

"""Folder of 2-D TIFF slices: round trips, compressions, ordering, gaps and broken slices."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from source_helpers import SHAPE, assert_reads, random_volume, write_tiff_stack

from ngffkit.errors import InputError
from ngffkit.sources import TiffFolderSource, open_source

DTYPES = [np.uint8, np.uint16, np.int16, np.uint32, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_dtype_matrix_round_trips(tiff_stack, dtype, compression) -> None:
    folder, vol = tiff_stack(dtype, compression=compression, rowsperstrip=8)
    with open_source(folder) as src:
        assert isinstance(src, TiffFolderSource)
        assert src.axes == ("z", "y", "x")
        assert src.voxel_size is None and src.unit is None
        assert_reads(src, vol)


@pytest.mark.parametrize("compression", ["lzw", "zlib", "adobe_deflate", "zstd", "packbits"])
def test_each_lossless_compression_reads_exactly(tiff_stack, compression) -> None:
    folder, vol = tiff_stack(np.uint16, compression=compression, rowsperstrip=8)
    with open_source(folder) as src:
        assert src.cost.window_cheap is False
        assert src.cost.rows_per_block == 8
        assert_reads(src, vol)


def test_predictor_and_big_endian(tiff_stack) -> None:
    folder, vol = tiff_stack(np.uint16, compression="zlib", predictor=True, byteorder=">")
    with open_source(folder) as src:
        assert_reads(src, vol)


@pytest.mark.parametrize("map_bytes", [1, 300, 1 << 20])
def test_uncompressed_windows_mapped_a_few_rows_at_a_time(
    tiff_stack, monkeypatch: pytest.MonkeyPatch, map_bytes: int
) -> None:
    """Rows are mapped in pieces of at most ``_MAP_BYTES`` (one row at least); narrow and wide
    windows (faulted in vs populated) must read the same as whole-slice decoding."""
    import ngffkit.sources.tiff_folder as tiff_folder

    monkeypatch.setattr(tiff_folder, "_MAP_BYTES", map_bytes)
    folder, vol = tiff_stack(np.uint16)
    with open_source(folder) as src:
        assert_reads(src, vol)
        narrow = (slice(1, 3), slice(2, vol.shape[1] - 1), slice(3, 4))
        np.testing.assert_array_equal(src.read(narrow), vol[narrow])


def test_big_endian_uncompressed_is_memmapped(tiff_stack) -> None:
    folder, vol = tiff_stack(np.float32, byteorder=">")
    with open_source(folder) as src:
        assert src.dtype == np.dtype(np.float32)  # native, whatever the file says
        assert src.cost.window_cheap
        assert_reads(src, vol)


def test_jpeg_uint8_matches_tifffile_decoding(tmp_path: Path) -> None:
    vol = random_volume((3, 40, 56), np.uint8)
    paths = write_tiff_stack(tmp_path / "s", vol, compression="jpeg", rowsperstrip=16)
    decoded = np.stack([tifffile.imread(p) for p in paths])  # JPEG is lossy: compare decodes
    with open_source(tmp_path / "s") as src:
        assert_reads(src, decoded)


def test_tiled_compressed_slices_read_by_window(tiff_stack) -> None:
    folder, vol = tiff_stack(np.uint16, compression="zstd", tile=(16, 16))
    with open_source(folder) as src:
        assert src.cost.window_cheap is True
        assert src.cost.rows_per_block is None
        assert_reads(src, vol)


def test_uncompressed_cost_hints(tiff_stack) -> None:
    folder, _ = tiff_stack(np.uint16)
    with open_source(folder) as src:
        assert src.cost.window_cheap is True
        assert src.cost.rows_per_block is None
        assert src.cost.bytes_per_slice == SHAPE[1] * SHAPE[2] * 2


@pytest.mark.parametrize(
    ("kwargs", "samples"),
    [
        ({"photometric": "rgb"}, 3),
        ({"photometric": "rgb", "extrasamples": ["unassalpha"]}, 4),
        ({"photometric": "rgb", "compression": "lzw", "rowsperstrip": 8}, 3),
    ],
)
def test_rgb_slices_get_a_channel_axis_first(tmp_path: Path, kwargs, samples) -> None:
    vol = random_volume((4, 21, 30, samples), np.uint8)
    write_tiff_stack(tmp_path / "rgb", vol, **kwargs)
    with open_source(tmp_path / "rgb") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert src.cost.bytes_per_slice == samples * 21 * 30
        assert_reads(src, np.ascontiguousarray(np.moveaxis(vol, -1, 0)))


def test_planar_separate_rgb(tmp_path: Path) -> None:
    vol = random_volume((3, 3, 21, 30), np.uint16)  # z, c, y, x
    write_tiff_stack(
        tmp_path / "p", vol, photometric="rgb", planarconfig="separate", compression="zlib"
    )
    with open_source(tmp_path / "p") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert_reads(src, np.ascontiguousarray(vol.transpose(1, 0, 2, 3)))


def test_natural_sort_on_last_number_with_mixed_padding(tmp_path: Path) -> None:
    vol = random_volume((12, 4, 5), np.uint8)
    folder = tmp_path / "mixed"
    folder.mkdir()
    # the number that orders is the last run of digits; padding varies
    names = [f"scan2_img-{z + 1:0{1 + z % 3}d}.tif" for z in range(12)]
    for name, plane in zip(names, vol, strict=True):
        tifffile.imwrite(folder / name, plane)
    with open_source(folder) as src:
        assert [p.name for p in src.slots] == names
        assert_reads(src, vol)


@pytest.mark.parametrize(
    ("pattern", "start"), [("{:d}.tif", 0), ("slice_{:03d}.tiff", 1), ("{:05d}.tif", 7000)]
)
def test_first_number_may_be_anything(tmp_path: Path, pattern, start) -> None:
    vol = random_volume((4, 6, 7), np.uint16)
    write_tiff_stack(tmp_path / "s", vol, pattern=pattern, start=start)
    with open_source(tmp_path / "s") as src:
        assert src.shape == (4, 6, 7)
        assert_reads(src, vol)


def test_tif_and_tiff_suffixes_mix(tmp_path: Path) -> None:
    vol = random_volume((4, 6, 7), np.uint8)
    folder = tmp_path / "s"
    write_tiff_stack(folder, vol[:2], pattern="z{}.tif")
    write_tiff_stack(folder, vol[2:], pattern="z{}.TIFF", start=2)
    with open_source(folder) as src:
        assert_reads(src, vol)


def test_gap_is_an_error_naming_the_missing_numbers(tmp_path: Path) -> None:
    vol = random_volume((6, 4, 5), np.uint8)
    paths = write_tiff_stack(tmp_path / "g", vol, start=1)
    paths[2].unlink()  # number 3
    paths[3].unlink()  # number 4
    with pytest.raises(InputError, match=r"missing 3-4.*allow_gaps"):
        open_source(tmp_path / "g")


def test_allow_gaps_reads_missing_slices_as_zeros(tmp_path: Path) -> None:
    vol = random_volume((6, 4, 5), np.uint16)
    paths = write_tiff_stack(tmp_path / "g", vol, start=10)
    paths[2].unlink()
    expected = vol.copy()
    expected[2] = 0
    with open_source(tmp_path / "g", allow_gaps=True) as src:
        assert src.shape == (6, 4, 5)
        assert src.slots[2] is None
        assert_reads(src, expected)


def test_duplicate_numbers_are_an_error_naming_both_files(tmp_path: Path) -> None:
    vol = random_volume((3, 4, 5), np.uint8)
    write_tiff_stack(tmp_path / "d", vol, pattern="z{:d}.tif")
    tifffile.imwrite(tmp_path / "d" / "z01.tif", vol[0])
    with pytest.raises(InputError, match=r"z01\.tif, z1\.tif"):
        open_source(tmp_path / "d")
    with pytest.raises(InputError, match="z01"):
        open_source(tmp_path / "d", allow_gaps=True)


def test_unnumbered_names_are_an_error(tmp_path: Path) -> None:
    vol = random_volume((2, 4, 5), np.uint8)
    write_tiff_stack(tmp_path / "u", vol)
    tifffile.imwrite(tmp_path / "u" / "overview.tif", vol[0])
    with pytest.raises(InputError, match=r"overview\.tif"):
        open_source(tmp_path / "u")


def test_junk_files_are_ignored(tmp_path: Path) -> None:
    vol = random_volume((3, 4, 5), np.uint8)
    folder = tmp_path / "j"
    write_tiff_stack(folder, vol)
    for junk in (".DS_Store", "notes.txt", "Thumbs.db", "._z0001.tif", "meta.json"):
        (folder / junk).write_bytes(b"junk")
    (folder / "sub.tif").mkdir()  # a folder with a slice-like name is not a slice
    with open_source(folder) as src:
        assert_reads(src, vol)


def test_mixed_formats_are_an_error(tmp_path: Path) -> None:
    from PIL import Image

    vol = random_volume((3, 4, 5), np.uint8)
    folder = tmp_path / "m"
    write_tiff_stack(folder, vol)
    Image.fromarray(vol[0]).save(folder / "z0003.png")
    with pytest.raises(InputError, match=r"more than one format \(1 png, 3 tiff\)"):
        open_source(folder)
    with pytest.raises(InputError, match="more than one format"):
        TiffFolderSource(folder)


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        open_source(tmp_path / "empty")
    with pytest.raises(InputError, match="no image slices"):
        open_source(tmp_path / "empty", input_format="tiff-folder")
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match=r"found: notes\.txt"):
        open_source(tmp_path / "txt")


def _expect_slice_error(src, z: int, name: str, *fragments: str) -> None:
    box = (slice(0, src.shape[0]), slice(0, src.shape[1]), slice(0, src.shape[2]))
    with pytest.raises(InputError) as info:
        src.read(box)
    msg = str(info.value)
    assert name in msg and f"z={z}" in msg, msg
    for f in fragments:
        assert f in msg, msg


def test_mismatched_shape_names_file_z_expected_and_found(tmp_path: Path) -> None:
    vol = random_volume((4, 6, 7), np.uint16)
    paths = write_tiff_stack(tmp_path / "s", vol, start=1)
    tifffile.imwrite(paths[2], np.zeros((6, 8), np.uint16))
    with open_source(tmp_path / "s") as src:
        # lazily: slices before the bad one still read
        np.testing.assert_array_equal(src.read((slice(0, 2), slice(0, 6), slice(0, 7))), vol[:2])
        _expect_slice_error(src, 2, "z0003.tif", "is 6×8 uint16", "slices are 6×7 uint16")
        with pytest.raises(InputError, match=r"z0003\.tif \(z=2\)"):
            src.check_all()


@pytest.mark.parametrize("odd", [0, 5])
def test_the_majority_decides_the_reference(tmp_path: Path, odd: int) -> None:
    """Issue 12, defect 6: an odd FIRST slice once made every good slice the culprit."""
    vol = random_volume((8, 64, 80), np.uint8)
    paths = write_tiff_stack(tmp_path / "s", vol)
    tifffile.imwrite(paths[odd], np.zeros((64, 81), np.uint8))
    with open_source(tmp_path / "s") as src, pytest.raises(InputError) as info:
        src.check_all()
    message = str(info.value)
    assert (
        f"{paths[odd].name} (z={odd}) is 64×81 uint8 but the other 7 slices are 64×80 uint8"
    ) in message
    assert all(p.name not in message for i, p in enumerate(paths) if i != odd)


def test_a_tie_shows_both_sides(tmp_path: Path) -> None:
    vol = random_volume((2, 6, 7), np.uint8)
    paths = write_tiff_stack(tmp_path / "s", vol)
    tifffile.imwrite(paths[1], np.zeros((6, 8), np.uint8))
    with open_source(tmp_path / "s") as src, pytest.raises(InputError, match="as many differ"):
        src.check_all()


def test_mismatched_dtype_names_file_z_expected_and_found(tmp_path: Path) -> None:
    vol = random_volume((4, 6, 7), np.uint16)
    paths = write_tiff_stack(tmp_path / "s", vol)
    tifffile.imwrite(paths[3], np.zeros((6, 7), np.uint8))
    with open_source(tmp_path / "s") as src:
        _expect_slice_error(src, 3, "z0003.tif", "uint16", "uint8")
        with pytest.raises(InputError, match="uint8"):
            src.check_all()


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_slice_names_file_and_z(tmp_path: Path, compression) -> None:
    vol = random_volume((4, 30, 40), np.uint16)
    paths = write_tiff_stack(tmp_path / "t", vol, compression=compression, rowsperstrip=8)
    data = paths[1].read_bytes()
    # keep the header (tifffile writes it first) but cut into the image data
    paths[1].write_bytes(data[: len(data) // 2] if compression is None else data[:200])
    with open_source(tmp_path / "t") as src:
        _expect_slice_error(src, 1, "z0001.tif")


def test_garbage_slice_names_file_and_z(tmp_path: Path) -> None:
    vol = random_volume((3, 6, 7), np.uint8)
    paths = write_tiff_stack(tmp_path / "g", vol)
    paths[2].write_bytes(b"this is not a tiff at all" * 10)
    with open_source(tmp_path / "g") as src:
        _expect_slice_error(src, 2, "z0002.tif", "corrupt")
        with pytest.raises(InputError, match=re.escape("z0002.tif (z=2)")):
            src.check_all()


def test_corrupt_first_slice_fails_at_open(tmp_path: Path) -> None:
    vol = random_volume((3, 6, 7), np.uint8)
    paths = write_tiff_stack(tmp_path / "g", vol)
    paths[0].write_bytes(b"")
    with pytest.raises(InputError, match=re.escape("z0000.tif (z=0)")):
        open_source(tmp_path / "g")


def test_multipage_file_in_a_slice_folder_is_an_error(tmp_path: Path) -> None:
    vol = random_volume((3, 6, 7), np.uint8)
    write_tiff_stack(tmp_path / "s", vol)
    tifffile.imwrite(tmp_path / "s" / "z0003.tif", vol, photometric="minisblack")
    with (
        open_source(tmp_path / "s") as src,
        pytest.raises(InputError, match=r"z0003\.tif: holds 3"),
    ):
        src.check_all()


def test_window_decodes_only_the_strips_it_touches(tmp_path: Path) -> None:
    vol = random_volume((1, 40, 50), np.uint16)
    (path,) = write_tiff_stack(tmp_path / "s", vol, compression="zlib", rowsperstrip=8)
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.dataoffsets[-1]  # the strip of rows 32..39
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    with open_source(tmp_path / "s") as src:
        box = (slice(0, 1), slice(3, 31), slice(5, 45))
        np.testing.assert_array_equal(src.read(box), vol[box])  # never decodes the bad strip
        with pytest.raises(InputError, match=r"z0000\.tif \(z=0\)"):
            src.read((slice(0, 1), slice(30, 40), slice(0, 50)))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("step_bytes", [1000, 4 << 20])
def test_windows_of_every_width_read_exactly(
    tmp_path: Path, dtype, step_bytes, monkeypatch
) -> None:
    # Whole rows and windows of at least half a row are read by preadv (GIL released),
    # narrower ones through mmaps of the rows: every path gives the same voxels, in one
    # step of rows or many.
    from ngffkit.sources import tiff_folder

    monkeypatch.setattr(tiff_folder, "_MAP_BYTES", step_bytes)
    vol = random_volume((5, 300, 96), dtype)
    write_tiff_stack(tmp_path / "w", vol)
    with open_source(tmp_path / "w") as src:
        for x0, x1 in [(0, 96), (0, 48), (10, 70), (47, 96), (0, 24), (30, 33), (95, 96)]:
            for y0, y1 in [(0, 300), (7, 291), (150, 151)]:
                box = (slice(1, 4), slice(y0, y1), slice(x0, x1))
                np.testing.assert_array_equal(src.read(box), vol[box])

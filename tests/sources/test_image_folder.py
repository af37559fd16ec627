"""Folders of PNG / JPEG slices."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image
from source_helpers import assert_reads, random_volume

from ngffkit.errors import InputError
from ngffkit.sources import ImageFolderSource, open_source


def _write_png(folder: Path, vol: np.ndarray, pattern: str = "img-{}.png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for z, plane in enumerate(vol):
        p = folder / pattern.format(z)
        Image.fromarray(plane).save(p)
        paths.append(p)
    return paths


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_png_round_trips(tmp_path: Path, dtype) -> None:
    vol = random_volume((4, 19, 23), dtype)
    _write_png(tmp_path / "p", vol)
    with open_source(tmp_path / "p") as src:
        assert isinstance(src, ImageFolderSource)
        assert src.axes == ("z", "y", "x")
        assert src.cost.window_cheap is False and src.cost.rows_per_block == 19
        assert_reads(src, vol)


@pytest.mark.parametrize("samples", [3, 4])
def test_colour_png_gets_channel_axis(tmp_path: Path, samples) -> None:
    vol = random_volume((3, 19, 23, samples), np.uint8)
    _write_png(tmp_path / "c", vol)
    with open_source(tmp_path / "c") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert_reads(src, np.ascontiguousarray(np.moveaxis(vol, -1, 0)))


def test_16bit_rgb_png_keeps_16_bits(tmp_path: Path) -> None:
    vol = random_volume((3, 11, 13, 3), np.uint16)
    folder = tmp_path / "c16"
    folder.mkdir()
    for z, plane in enumerate(vol):
        (folder / f"{z}.png").write_bytes(imagecodecs.png_encode(plane))
    with open_source(folder) as src:
        assert src.dtype == np.uint16
        assert_reads(src, np.ascontiguousarray(np.moveaxis(vol, -1, 0)))


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_slices_match_pillow_decoding(tmp_path: Path, suffix) -> None:
    vol = random_volume((3, 16, 24), np.uint8)
    folder = tmp_path / "j"
    folder.mkdir()
    decoded = []
    for z, plane in enumerate(vol):
        p = folder / f"s{z + 1}{suffix}"
        Image.fromarray(plane).save(p, quality=90)
        decoded.append(np.asarray(Image.open(p)))
    with open_source(folder) as src:
        assert_reads(src, np.stack(decoded))


def test_png_and_jpeg_do_not_mix(tmp_path: Path) -> None:
    vol = random_volume((2, 5, 6), np.uint8)
    _write_png(tmp_path / "m", vol)
    Image.fromarray(vol[0]).save(tmp_path / "m" / "img-2.jpg")
    with pytest.raises(InputError, match="more than one format"):
        open_source(tmp_path / "m")


def test_mismatched_png_names_file_and_z(tmp_path: Path) -> None:
    vol = random_volume((3, 5, 6), np.uint8)
    paths = _write_png(tmp_path / "s", vol)
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(paths[1])
    with (
        open_source(tmp_path / "s") as src,
        pytest.raises(InputError, match=r"img-1\.png \(z=1\) is 3×5×6 uint8 .* 5×6 uint8"),
    ):
        src.read((slice(0, 3), slice(0, 5), slice(0, 6)))
        with pytest.raises(InputError, match=r"img-1\.png \(z=1\)"):
            src.check_all()


def test_truncated_png_names_file_and_z(tmp_path: Path) -> None:
    vol = random_volume((3, 40, 50), np.uint8)
    paths = _write_png(tmp_path / "t", vol)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) // 2])
    with (
        open_source(tmp_path / "t") as src,
        pytest.raises(InputError, match=r"img-2\.png \(z=2\).*corrupt"),
    ):
        src.read((slice(0, 3), slice(0, 40), slice(0, 50)))


def test_tiff_folder_reader_refuses_png_folder(tmp_path: Path) -> None:
    _write_png(tmp_path / "p", random_volume((2, 5, 6), np.uint8))
    with pytest.raises(InputError, match="drop input_format"):
        open_source(tmp_path / "p", input_format="tiff-folder")

"""``ngff decompress-tiffs``: every TIFF rewritten uncompressed, pixel for pixel, tags kept."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ngffkit.errors import ConflictError, InputError
from ngffkit.markers import OWNED
from ngffkit.tiffs import PARTIAL_SUFFIX, decompress_tiffs
from run_helpers import ngff


def _stack(folder: Path) -> dict[str, np.ndarray]:
    """A small masked-volume-like folder: compressed slices of several kinds + junk."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    data = {
        "000.tif": rng.integers(0, 65535, (40, 52), dtype=np.uint16),
        "001.tif": rng.integers(0, 65535, (40, 52), dtype=np.uint16),
        "002.tiff": rng.integers(0, 255, (3, 24, 30, 4), dtype=np.uint8),
        "003.tif": rng.random((30, 20)).astype(np.float32),
        "004.tif": rng.integers(0, 255, (3, 16, 18), dtype=np.uint8),
        "005.tif": rng.integers(0, 65535, (40, 52), dtype=np.uint16),
    }
    tifffile.imwrite(
        folder / "000.tif",
        data["000.tif"],
        compression="zlib",
        resolution=(126.4, 126.4),
        resolutionunit="CENTIMETER",
        description="scroll slice 0",
        metadata=None,
        software="vc",
        extratags=[(65000, "s", 0, "private note", True)],
    )
    tifffile.imwrite(folder / "001.tif", data["001.tif"], compression="lzw", predictor=True)
    tifffile.imwrite(
        folder / "002.tiff",
        data["002.tiff"],
        compression="zlib",
        photometric="rgb",
        extrasamples=["unassalpha"],
    )
    tifffile.imwrite(folder / "003.tif", data["003.tif"], compression="zstd", tile=(16, 16))
    tifffile.imwrite(
        folder / "004.tif",
        data["004.tif"],
        compression="zlib",
        photometric="rgb",
        planarconfig="separate",
    )
    tifffile.imwrite(folder / "005.tif", data["005.tif"])  # already plain
    (folder / "notes.txt").write_text("not a slice")
    (folder / "meta.json").write_text("{}")
    return data


def _pages(path: Path) -> list[np.ndarray]:
    with tifffile.TiffFile(path) as tif:
        return [p.asarray() for p in tif.pages]


def test_rewrites_every_tiff_uncompressed_and_pixel_exact(tmp_path: Path) -> None:
    data = _stack(tmp_path / "in")
    result = decompress_tiffs(tmp_path / "in", tmp_path / "out", jobs=2)
    assert result.written == ["000.tif", "001.tif", "002.tiff", "003.tif", "004.tif"]
    assert result.copied == ["005.tif"]
    assert result.not_tiff == ["meta.json", "notes.txt"]
    assert sorted(os.listdir(tmp_path / "out")) == sorted([*data, OWNED])
    for name in data:
        src, out = _pages(tmp_path / "in" / name), _pages(tmp_path / "out" / name)
        assert len(src) == len(out)
        for a, b in zip(src, out, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        with tifffile.TiffFile(tmp_path / "out" / name) as tif:
            for page in tif.pages:
                assert page.compression == 1 and page.is_contiguous
    assert (tmp_path / "out" / "005.tif").read_bytes() == (tmp_path / "in" / "005.tif").read_bytes()


def test_keeps_the_image_tags(tmp_path: Path) -> None:
    _stack(tmp_path / "in")
    decompress_tiffs(tmp_path / "in", tmp_path / "out")
    with (
        tifffile.TiffFile(tmp_path / "in" / "000.tif") as a,
        tifffile.TiffFile(tmp_path / "out" / "000.tif") as b,
    ):
        ta, tb = a.pages.first.tags, b.pages.first.tags
        for code in (270, 282, 283, 296, 305, 65000, 262, 339):
            if code in ta:
                assert tb[code].value == ta[code].value, code
    with tifffile.TiffFile(tmp_path / "out" / "002.tiff") as tif:
        assert len(tif.pages) == 3
        for page in tif.pages:
            assert page.photometric == 2 and tuple(page.extrasamples) == (2,)
    with tifffile.TiffFile(tmp_path / "out" / "004.tif") as tif:
        assert tif.pages.first.planarconfig == 2
    with tifffile.TiffFile(tmp_path / "out" / "003.tif") as tif:
        assert tif.pages.first.sampleformat == 3


def test_resume_keeps_finished_files_and_redoes_the_rest(tmp_path: Path) -> None:
    _stack(tmp_path / "in")
    out = tmp_path / "out"
    decompress_tiffs(tmp_path / "in", out)
    # an interrupted run: one file never renamed (temporary only), one cut short by a
    # crash of something else, one missing
    (out / "001.tif").rename(out / f".001.tif{PARTIAL_SUFFIX}")
    (out / "003.tif").write_bytes((out / "003.tif").read_bytes()[:500])
    (out / "004.tif").unlink()
    kept = (out / "000.tif").stat().st_mtime_ns
    result = decompress_tiffs(tmp_path / "in", out, resume=True)
    assert result.skipped == ["000.tif", "002.tiff", "005.tif"]
    assert sorted(result.written) == ["001.tif", "003.tif", "004.tif"]
    assert (out / "000.tif").stat().st_mtime_ns == kept
    assert not list(out.glob(f".*{PARTIAL_SUFFIX}"))
    for name in ("001.tif", "003.tif", "004.tif"):
        for a, b in zip(_pages(tmp_path / "in" / name), _pages(out / name), strict=True):
            assert np.array_equal(a, b)


def test_refuses_to_write_into_the_input(tmp_path: Path) -> None:
    _stack(tmp_path / "in")
    for output in (tmp_path / "in", tmp_path / "in" / "plain"):
        with pytest.raises(InputError, match="overlaps the input"):
            decompress_tiffs(tmp_path / "in", output)
    (tmp_path / "outer").mkdir()
    (tmp_path / "in").rename(tmp_path / "outer" / "in")
    with pytest.raises(InputError, match="overlaps the input"):
        decompress_tiffs(tmp_path / "outer" / "in", tmp_path / "outer")
    assert sorted(os.listdir(tmp_path / "outer" / "in")) == sorted(
        [
            "000.tif",
            "001.tif",
            "002.tiff",
            "003.tif",
            "004.tif",
            "005.tif",
            "notes.txt",
            "meta.json",
        ]
    )


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    _stack(tmp_path / "in")
    decompress_tiffs(tmp_path / "in", tmp_path / "out")
    (tmp_path / "out" / "old.tif").write_bytes(b"old")
    with pytest.raises(ConflictError, match="overwrite=True"):
        decompress_tiffs(tmp_path / "in", tmp_path / "out")
    decompress_tiffs(tmp_path / "in", tmp_path / "out", overwrite=True)
    assert not (tmp_path / "out" / "old.tif").exists()


def test_overwrite_never_replaces_a_folder_that_is_not_ours(tmp_path: Path) -> None:
    _stack(tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tif").write_bytes(b"mine")
    with pytest.raises(ConflictError, match=r"not Zarr \(thesis.tif\)"):
        decompress_tiffs(tmp_path / "in", tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "thesis.tif").read_bytes() == b"mine"


def test_a_corrupt_file_is_named_and_the_others_are_written(tmp_path: Path) -> None:
    _stack(tmp_path / "in")
    good = (tmp_path / "in" / "001.tif").read_bytes()
    (tmp_path / "in" / "001.tif").write_bytes(good[: len(good) // 2])
    (tmp_path / "in" / "006.tif").write_bytes(b"this is no tiff")
    with pytest.raises(InputError) as info:
        decompress_tiffs(tmp_path / "in", tmp_path / "out")
    message = str(info.value)
    assert "2 of 7" in message and "001.tif" in message and "006.tif" in message
    assert "resume=True" in message
    assert not (tmp_path / "out" / "001.tif").exists()
    assert not list((tmp_path / "out").glob(f".*{PARTIAL_SUFFIX}"))
    assert (tmp_path / "out" / "000.tif").exists()


def test_a_folder_without_tiffs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"x")
    with pytest.raises(InputError, match=r"no TIFF files .*a\.png"):
        decompress_tiffs(tmp_path / "in", tmp_path / "out")


def test_cli(tmp_path: Path) -> None:
    _stack(tmp_path / "in")
    proc = ngff("decompress-tiffs", str(tmp_path / "in"), str(tmp_path / "out"), "--jobs", "2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "5 decompressed, 1 already uncompressed" in out
    assert "not TIFF files: meta.json, notes.txt" in err
    proc = ngff("decompress-tiffs", str(tmp_path / "in"), str(tmp_path / "out"), "--resume", "-q")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "6 done earlier" in out
    proc = ngff("decompress-tiffs", str(tmp_path / "in"), str(tmp_path / "in" / "x"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err and "overlaps the input" in err


def test_the_pixel_check_catches_a_difference(tmp_path: Path) -> None:
    from ngffkit.tiffs import _digest, _verify

    data = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30)
    tifffile.imwrite(tmp_path / "a.tif", data)
    _verify(tmp_path / "a.tif", [_digest(data)], tmp_path / "in.tif")  # the same: passes
    changed = data.copy()
    changed[7, 11] += 1
    with pytest.raises(InputError, match=r"in\.tif: page 0 of the rewritten file differs"):
        _verify(tmp_path / "a.tif", [_digest(changed)], tmp_path / "in.tif")
    with pytest.raises(InputError, match="has 1 pages, the input 2"):
        _verify(tmp_path / "a.tif", [_digest(data)] * 2, tmp_path / "in.tif")

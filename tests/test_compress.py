"""``ngff compress``: re-encoding keeps every voxel; in place survives kill -9 and says
whether it continued or rolled back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ngffkit
from ngffkit import swap
from ngffkit._convert import convert
from ngffkit._recompress import compress
from ngffkit.errors import InputError, OptionError
from ngffkit.markers import COMPRESS_WORK, LOCK
from reencode_helpers import (
    models_accept,
    read_only,
    volume,
    write_ome_zarr_py,
    write_zarr_python,
)
from run_helpers import kill_when_journalled, ngff, tree_digest


def _levels(path: Path) -> list[np.ndarray]:
    return [lv.read() for lv in ngffkit.open(path).levels]


def _labels(path: Path) -> list[np.ndarray]:
    return [lv.read() for lv in ngffkit.open(path).label("cells").levels]


@pytest.fixture()
def omz04(tmp_path: Path) -> Path:
    return write_ome_zarr_py(tmp_path / "omz04.zarr", "0.4", volume(), levels=3)


def test_round_trip_0_4_to_0_5_and_recompress(omz04: Path, tmp_path: Path) -> None:
    data, labels = _levels(omz04), _labels(omz04)
    assert models_accept(omz04)
    up = compress(omz04, output=tmp_path / "up.zarr", version="0.5", jobs=2)
    assert isinstance(up, ngffkit.Image)
    assert up.version == "0.5" and up.zarr_format == 3
    assert up.levels[0].shards == (48, 128, 128)  # convert's default: 4 chunks per axis
    assert [lv.path for lv in up.levels] == ["s0", "s1", "s2"]
    for a, b in zip(_levels(tmp_path / "up.zarr"), data, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_labels(tmp_path / "up.zarr"), labels, strict=True):
        np.testing.assert_array_equal(a, b)
    assert models_accept(tmp_path / "up.zarr")
    # Recompress in place with other codecs, chunks and shards; then back to 0.4.
    again = compress(
        tmp_path / "up.zarr",
        compression="blosc-zstd:3",
        chunks={"z": 8, "y": 16, "x": 16},
        shards={"z": 16, "y": 64, "x": 64},
    )
    assert isinstance(again, ngffkit.Image)
    assert again.levels[0].chunks == (8, 16, 16) and again.levels[0].shards == (16, 64, 64)
    assert again.levels[1].shards == (16, 32, 32)  # shrinks with the level (1,2,2)
    assert again.levels[0].compression.startswith("blosc-zstd:3")
    down = compress(
        tmp_path / "up.zarr", output=tmp_path / "down.zarr", version="0.4", compression="gzip:4"
    )
    assert isinstance(down, ngffkit.Image) and down.zarr_format == 2
    for a, b in zip(_levels(tmp_path / "down.zarr"), data, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_labels(tmp_path / "down.zarr"), labels, strict=True):
        np.testing.assert_array_equal(a, b)
    assert models_accept(tmp_path / "down.zarr")
    assert not list(tmp_path.rglob(".ngffkit-*"))


@pytest.mark.parametrize("kind", ["zarr-python-0.4", "zarr-python-0.5", "convert"])
def test_other_writers(kind: str, tmp_path: Path) -> None:
    data = volume(seed=3)
    path = tmp_path / "img.zarr"
    if kind == "convert":
        write_zarr_python(tmp_path / "src.zarr", "0.5", data)
        convert(tmp_path / "src.zarr", path, levels=3, chunks=16)
    else:
        write_zarr_python(path, kind[-3:], data)
    before = _levels(path)
    result = compress(path, version="0.5", compression="zstd:9", chunks=32)
    assert isinstance(result, ngffkit.Image) and result.version == "0.5"
    assert result.levels[0].compression == "zstd:9"
    for a, b in zip(_levels(path), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert models_accept(path)
    assert not (path / COMPRESS_WORK).exists()


def test_nothing_to_do_and_dry_run(omz04: Path, run_cli: Any) -> None:
    digest = tree_digest(omz04)
    proc = run_cli("compress", omz04, "--format", "0.5", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "Zarr v2, chunks 16×32×32, shards -" in proc.stdout and "Zarr v3" in proc.stdout
    proc = run_cli("compress", omz04)
    assert proc.returncode == 0 and "nothing to do" in proc.stderr
    assert tree_digest(omz04) == digest


def _start_and_kill(path: Path, *args: str) -> None:
    proc = ngff("compress", str(path), *args)
    kill_when_journalled(proc, path / COMPRESS_WORK / "new", "*/.ngffkit-journal/s*-b*")


@pytest.fixture()
def big(tmp_path: Path, make_image: Any) -> Path:
    path = tmp_path / "big.zarr"
    make_image(path, version="0.4", shape=(96, 512, 512), chunks=32, levels=2, labels=True)
    return path


COMMON = [
    "--format",
    "0.5",
    "--chunks",
    "16",
    "--shards",
    "32",
    "--jobs",
    "2",
    "--max-memory",
    "300M",
    "-q",
]


def test_kill_then_rerun_continues(big: Path) -> None:
    data, labels, digest = _levels(big), _labels(big), tree_digest(big)
    _start_and_kill(big, *COMMON)
    # Killed while writing beside: the original is untouched and opens as before.
    assert tree_digest(big, skip=[COMPRESS_WORK, LOCK]) == digest
    assert json.loads((big / COMPRESS_WORK / swap.STATE).read_text())["phase"] == "writing"
    rerun = ngff("compress", str(big), *COMMON)
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
    assert "continuing the interrupted compress" in (rerun.stderr.read() if rerun.stderr else "")
    image = ngffkit.open(big)
    assert image.version == "0.5" and image.levels[0].shards == (32, 32, 32)
    for a, b in zip(_levels(big), data, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_labels(big), labels, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not (big / COMPRESS_WORK).exists() and not (big / ".zattrs").exists()
    assert models_accept(big)


def test_kill_then_other_options_roll_back(big: Path) -> None:
    data = _levels(big)
    _start_and_kill(big, *COMMON)
    rerun = ngff("compress", str(big), "--compression", "gzip:1", "-q")
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
    assert "rolled back the interrupted compress" in (rerun.stderr.read() if rerun.stderr else "")
    image = ngffkit.open(big)
    assert image.version == "0.4" and image.levels[0].compression == "gzip:1"
    for a, b in zip(_levels(big), data, strict=True):
        np.testing.assert_array_equal(a, b)


def test_kill_then_rollback_restores_every_byte(big: Path) -> None:
    digest = tree_digest(big)
    _start_and_kill(big, *COMMON)
    proc = ngff("compress", str(big), "--rollback")
    assert proc.wait(timeout=120) == 0
    assert "rolled back" in (proc.stderr.read() if proc.stderr else "")
    assert tree_digest(big) == digest and not (big / COMPRESS_WORK).exists()


@pytest.mark.parametrize("then", ["continue", "rollback"])
def test_interrupted_swap(omz04: Path, monkeypatch: pytest.MonkeyPatch, then: str) -> None:
    """A crash after the levels were swapped but before the metadata was: the rerun
    finishes the swap; --rollback puts back every original byte."""
    data, digest = _levels(omz04), tree_digest(omz04)

    def crash(*_args: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(swap, "_write_groups", crash)
        with pytest.raises(KeyboardInterrupt):
            compress(omz04, version="0.5")
    state = json.loads((omz04 / COMPRESS_WORK / swap.STATE).read_text())
    assert state["phase"] == "swapping" and (omz04 / "s0" / "zarr.json").exists()
    messages: list[str] = []
    result = compress(omz04, version="0.5", rollback=then == "rollback", notice=messages.append)
    assert isinstance(result, ngffkit.Image)
    if then == "rollback":
        assert "rolled back" in messages[0]
        assert tree_digest(omz04) == digest
    else:
        assert "finishing the swap" in messages[0]
        assert result.version == "0.5"
        for a, b in zip(_levels(omz04), data, strict=True):
            np.testing.assert_array_equal(a, b)
    assert not (omz04 / COMPRESS_WORK).exists()


def test_output_resume_and_overwrite(omz04: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    compress(omz04, output=out, version="0.5")
    with pytest.raises(ngffkit.ConflictError, match="overwrite=True"):
        compress(omz04, output=out, version="0.5")
    with pytest.raises(ngffkit.ConflictError, match="resume"):
        compress(omz04, output=out, version="0.5", resume=True)
    compress(omz04, output=out, version="0.5", compression="gzip", overwrite=True)
    assert ngffkit.open(out).levels[0].compression == "gzip:5"
    with pytest.raises(InputError, match="overlaps"):
        compress(omz04, output=omz04 / "inner")


def test_errors(omz04: Path, tmp_path: Path, run_cli: Any) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    proc = run_cli("compress", plain)
    assert proc.returncode == 1 and "no OME-Zarr metadata" in proc.stderr, proc.stderr
    proc = run_cli("compress", omz04, "--compression", "lzma")
    assert proc.returncode == 2 and "--compression" in proc.stderr and "zstd" in proc.stderr
    with pytest.raises(OptionError, match="^shards: "):
        compress(omz04, version="0.4", shards=64)
    # An array whose codec nothing knows: refused before anything is written.
    meta_path = omz04 / "s1" / ".zarray"
    meta = json.loads(meta_path.read_text())
    meta["compressor"] = {"id": "lzma-unknown"}
    meta_path.write_text(json.dumps(meta))
    digest = tree_digest(omz04)
    proc = run_cli("compress", omz04, "--format", "0.5")
    assert proc.returncode == 1 and "cannot read level s1" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and tree_digest(omz04) == digest


def test_read_only_store(omz04: Path, tmp_path: Path, run_cli: Any) -> None:
    digest = tree_digest(omz04)
    with read_only(omz04):
        proc = run_cli("compress", omz04, "--format", "0.5")
        assert proc.returncode == 1 and "not writable" in proc.stderr, proc.stderr
        assert "--output" in proc.stderr and "Traceback" not in proc.stderr
        ok = run_cli("compress", omz04, "--format", "0.5", "--output", tmp_path / "copy.zarr")
        assert ok.returncode == 0, ok.stderr
    assert tree_digest(omz04) == digest


def test_chunks_and_shards_as_tuples_in_array_order(omz04: Path, tmp_path: Path) -> None:
    """A tuple is read like convert's (array order); it used to crash (``value.get``)."""
    out = compress(
        omz04,
        output=tmp_path / "t.zarr",
        version="0.5",
        chunks=(8, 16, 16),
        shards=(16, 64, 64),
        jobs=1,
    )
    assert isinstance(out, ngffkit.Image)
    assert out.levels[0].chunks == (8, 16, 16) and out.levels[0].shards == (16, 64, 64)
    np.testing.assert_array_equal(out.levels[0].read(), _levels(omz04)[0])

"""Rules a conversion follows (issue 12). The cast rule (defect 2): --dtype never rescales
silently.

A value-preserving cast keeps every value; any other needs a window (given, or auto — then
reported and recorded in the metadata). The library and the CLI follow the one rule in
``ngffkit.casting``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from ngffkit._convert import convert
from ngffkit.casting import cast, check_cast, keeps_values
from ngffkit.errors import OptionError

RunNgff = Callable[..., subprocess.CompletedProcess[str]]


def stack(folder: Path, volume: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for z, plane in enumerate(volume):
        tifffile.imwrite(folder / f"s{z:03d}.tif", plane)
    return folder


@pytest.mark.parametrize(
    ("src", "dst", "kept"),
    [
        ("uint8", "uint16", True),
        ("uint8", "float32", True),
        ("uint16", "float64", True),
        ("int16", "int32", True),
        ("float32", "float64", True),
        ("uint16", "int32", True),
        ("uint16", "uint8", False),
        ("float32", "uint16", False),
        ("int16", "uint16", False),
        ("int32", "float32", False),
        ("float64", "float32", False),
        ("uint8", "int8", False),
    ],
)
def test_the_rule(src: str, dst: str, kept: bool) -> None:
    assert keeps_values(src, dst) is kept
    if kept:
        assert check_cast(src, dst, None) is None
    else:
        with pytest.raises(OptionError, match="would change values") as info:
            check_cast(src, dst, None)
        assert info.value.option == "window"  # neutral: the CLI words it as --window
    assert check_cast(src, dst, (0, 10)) == (0.0, 10.0)


def test_window_maps_linearly_onto_the_full_range() -> None:
    data = np.array([-5, 0, 50, 100, 200], dtype=np.int16)
    assert cast(data, (0, 100), np.dtype(np.uint8)).tolist() == [0, 0, 128, 255, 255]
    assert cast(data, (0, 100), np.dtype(np.int8)).tolist() == [-128, -128, 0, 127, 127]
    np.testing.assert_allclose(cast(data, (0, 100), np.dtype(np.float32)), [-0.05, 0, 0.5, 1, 2])


def test_widening_keeps_values(tmp_path: Path) -> None:
    """uint8 -> uint16 once mapped 1:254 onto 0:65535 and merged 0 and 1; float64 went negative."""
    volume = np.arange(5 * 6 * 7, dtype=np.uint8).reshape(5, 6, 7)
    src = stack(tmp_path / "in", volume)
    for dtype in ("uint16", "float64", "int16"):
        image = convert(src, tmp_path / f"{dtype}.zarr", dtype=dtype, levels=1)
        assert isinstance(image.dtype, np.dtype) and image.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(image.read(), volume.astype(dtype))
        assert "cast" not in (image.multiscale.metadata or {})


def test_cli_refuses_a_narrowing_cast_without_window(tmp_path: Path, run_cli: RunNgff) -> None:
    volume = (np.arange(4 * 8 * 9, dtype=np.uint16) * 150).reshape(4, 8, 9)
    src = stack(tmp_path / "in", volume)
    out = tmp_path / "u8.zarr"
    done = run_cli("convert", src, out, "--dtype", "uint8")
    assert done.returncode == 2, done.stderr
    assert (
        "Invalid value for --window: converting uint16 to uint8 would change values" in done.stderr
    )
    assert "Traceback" not in done.stderr and not out.exists()
    with pytest.raises(OptionError, match="window"):
        convert(src, tmp_path / "lib.zarr", dtype="uint8")
    # a widening cast goes through the CLI with its values kept
    done = run_cli("convert", src, tmp_path / "u32.zarr", "--dtype", "uint32")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "u32.zarr/0"))[...], volume)


def test_cli_window_maps_linearly(tmp_path: Path, run_cli: RunNgff) -> None:
    volume = (np.arange(4 * 8 * 9, dtype=np.uint16) * 150).reshape(4, 8, 9)
    src = stack(tmp_path / "in", volume)
    out = tmp_path / "u8.zarr"
    done = run_cli(
        "convert", src, out, "--dtype", "uint8", "--window", "1000,30000", "--levels", "1"
    )
    assert done.returncode == 0, done.stderr
    expected = np.clip((volume.astype(np.float32) - 1000) * (255 / 29000) + 0.5, 0, 255)
    np.testing.assert_array_equal(zarr.open_array(str(out / "0"))[...], expected.astype(np.uint8))
    meta = json.loads((out / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0]
    assert meta["metadata"]["cast"] == {
        "from": "uint16",
        "to": "uint8",
        "window": [1000, 30000],
        "onto": [0, 255],
        "window_source": "given",
    }


def test_cli_auto_window_is_reported_and_recorded(tmp_path: Path, run_cli: RunNgff) -> None:
    volume = (np.arange(4 * 8 * 9, dtype=np.uint16) * 150 + 7).reshape(4, 8, 9)
    src = stack(tmp_path / "in", volume)
    out = tmp_path / "u8.zarr"
    done = run_cli("convert", src, out, "--dtype", "uint8", "--window", "auto", "--levels", "1")
    assert done.returncode == 0, done.stderr
    meta = json.loads((out / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0]
    record = meta["metadata"]["cast"]
    assert record["window_source"] == "auto"
    lo, hi = record["window"]
    assert volume.min() <= lo < hi <= volume.max()
    assert f"window {lo:g}:{hi:g} measured (--window auto)" in done.stdout
    # the record inverts the cast: stored values map back into the window
    stored = zarr.open_array(str(out / "0"))[...].astype(np.float64)
    back = lo + stored / 255 * (hi - lo)
    inside = (volume >= lo) & (volume <= hi)
    assert np.abs(back - volume)[inside].max() <= (hi - lo) / 255
    dry = run_cli(
        "convert", src, tmp_path / "dry.zarr", "--dtype", "uint8", "--window", "auto", "--dry-run"
    )
    assert "(auto, measured from the input)" in dry.stdout, dry.stderr


def test_cli_shards_on_a_thin_stack_and_none(tmp_path: Path, run_cli: RunNgff) -> None:
    """Issue 12, defect 7, as a user meets it: 30 slices, --chunks 32 --shards 64; and
    --shards none for unsharded 0.5 (as compress accepts)."""
    volume = np.arange(30 * 40 * 50, dtype=np.uint16).reshape(30, 40, 50)
    src = stack(tmp_path / "in", volume)
    done = run_cli("convert", src, tmp_path / "a.zarr", "--chunks", "32", "--shards", "64")
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "a.zarr/0/zarr.json").read_text())
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a.zarr/0"))[...], volume)
    done = run_cli("convert", src, tmp_path / "b.zarr", "--chunks", "16", "--shards", "none")
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "b.zarr/0/zarr.json").read_text())
    assert all(c["name"] != "sharding_indexed" for c in meta["codecs"])
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [16, 16, 16]
    bad = run_cli("convert", src, tmp_path / "c.zarr", "--chunks", "32", "--shards", "48,64,64")
    assert bad.returncode == 2
    assert "--shards: 48 on axis x is not a multiple of the chunk size 32" in bad.stderr


def test_ranges_error_shows_how_z_maps_onto_file_numbers(tmp_path: Path, run_cli: RunNgff) -> None:
    """Slices 07000.tif..07039.tif: z counts files from 0 (documented), and the error for a
    z range given in file numbers says so and shows the mapping."""
    folder = tmp_path / "in"
    folder.mkdir()
    for z in range(40):
        tifffile.imwrite(folder / f"{7000 + z:05d}.tif", np.full((6, 7), z, np.uint8))
    done = run_cli("convert", folder, tmp_path / "o.zarr", "--ranges", ",,7010:7020")
    assert done.returncode == 2
    assert "z counts slices in order, not the numbers in file names" in done.stderr
    assert "07000.tif is z=0, 07039.tif is z=39" in done.stderr
    done = run_cli("convert", folder, tmp_path / "o.zarr", "--ranges", ",,10:20", "--levels", "1")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "o.zarr/0"))[:, 0, 0], np.arange(10, 20)
    )


def test_smallest_max_memory_follows_from_the_input(tmp_path: Path, run_cli: RunNgff) -> None:
    """Not a fixed 164 MiB: a small input converts in less, and a too-small budget is
    refused with the least that this input needs, which then works."""
    small = stack(tmp_path / "small", np.ones((6, 20, 30), np.uint8))
    done = run_cli("convert", small, tmp_path / "s.zarr", "--max-memory", "110M")
    assert done.returncode == 0, done.stderr
    big = stack(tmp_path / "big", np.ones((40, 300, 300), np.uint16))
    done = run_cli(
        "convert",
        big,
        tmp_path / "b.zarr",
        "--max-memory",
        "101M",
        "--chunks",
        "32",
        "--shards",
        "256",
    )
    assert done.returncode == 2
    assert "Invalid value for --max-memory: 101 MiB is too small for this input" in done.stderr
    need = done.stderr.split("allow at least ")[1].split(" MiB")[0]
    done = run_cli(
        "convert",
        big,
        tmp_path / "b.zarr",
        "--max-memory",
        f"{need}M",
        "--chunks",
        "32",
        "--shards",
        "256",
    )
    assert done.returncode == 0, done.stderr


def test_messages_speak_each_audiences_words(tmp_path: Path, run_cli: RunNgff) -> None:
    """The library names its parameters (allow_gaps=True), the CLI its options (--allow-gaps);
    neither speaks the other's language."""
    from ngffkit.errors import InputError

    folder = tmp_path / "gappy"
    folder.mkdir()
    for z in (0, 1, 3):
        tifffile.imwrite(folder / f"{z:03d}.tif", np.zeros((4, 5), np.uint8))
    with pytest.raises(InputError) as info:
        convert(folder, tmp_path / "a.zarr")
    assert "allow_gaps=True" in str(info.value) and "--" not in str(info.value)
    done = run_cli("convert", folder, tmp_path / "b.zarr")
    assert done.returncode == 1
    assert "pass --allow-gaps to read them as zeros" in done.stderr
    assert "allow_gaps" not in done.stderr and "Traceback" not in done.stderr

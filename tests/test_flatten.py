"""``ngff flatten`` and ``ngffkit.flatten`` / ``surface_layers`` on analytic volumes.

The volume holds ``2x + 4y + 6z + 10``; trilinear sampling of a linear function is exact,
so every layer is checked against the formula at the sample points (flatten_helpers),
never against the sampler itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import ngffkit
from flatten_helpers import (
    assert_layers,
    expected_layers,
    plane_surface,
    write_ppm,
    write_tifxyz,
    write_volume,
)
from ngffkit.errors import ConflictError, InputError
from ngffkit.markers import FLATTEN_JOURNAL, OWNED
from ngffkit.surfaces.geometry import ppm_geometry

SHAPE = (48, 64, 80)


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_volume(tmp_path_factory.mktemp("vol") / "vol.ome.zarr", SHAPE, levels=2)


@pytest.fixture(scope="module")
def ppm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    rec = plane_surface(40, 52)
    rec[5:8, 10:20] = 0  # unmapped pixels
    rec[30:, 45:, 2] += 40  # pushed partly out of the volume (z > 47)
    return write_ppm(tmp_path_factory.mktemp("ppm") / "seg.ppm", rec), rec


def read_tiffs(folder: Path, layers: int) -> np.ndarray:
    digits = max(2, len(str(layers - 1)))
    return np.stack([tifffile.imread(folder / f"{i:0{digits}d}.tif") for i in range(layers)])


def ppm_expected(rec: np.ndarray, layers: int, step: float, **kw: Any) -> tuple[Any, Any]:
    points, normals, valid = ppm_geometry(rec)
    return expected_layers(points, normals, valid, layers, step, kw.pop("shape", SHAPE), **kw)


def test_ppm_layers_match_the_formula(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, rec = ppm
    result = ngffkit.flatten(path, volume, tmp_path / "out", layers=9, step=1.5, tile=16)
    assert isinstance(result, ngffkit.surfaces.FlattenResult)
    got = read_tiffs(tmp_path / "out", 9)
    assert_layers(got, ppm_expected(rec, 9, 1.5))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        OWNED,
        *(f"{i:02d}.tif" for i in range(9)),
    ]
    assert (got[:, 5:8, 10:20] == 0).all() and (got[:, 35:, 48:] == 0).any()


def test_default_is_65_layers_and_names_widen_past_99(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, rec = ppm
    ngffkit.flatten(path, volume, tmp_path / "a", jobs=1)
    assert_layers(read_tiffs(tmp_path / "a", 65), ppm_expected(rec, 65, 1.0))
    ngffkit.flatten(path, volume, tmp_path / "b", layers=101, step=0.25, jobs=2)
    names = sorted(p.name for p in (tmp_path / "b").iterdir() if p.name != OWNED)
    assert names[0] == "000.tif" and names[-1] == "100.tif" and len(names) == 101
    assert_layers(read_tiffs(tmp_path / "b", 101), ppm_expected(rec, 101, 0.25))


def test_flip_normals_and_level_1(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, rec = ppm
    ngffkit.flatten(path, volume, tmp_path / "flip", layers=7, flip_normals=True)
    flipped = read_tiffs(tmp_path / "flip", 7)
    assert_layers(flipped, ppm_expected(rec, 7, 1.0, flip=True))
    ngffkit.flatten(path, volume, tmp_path / "plain", layers=7)
    np.testing.assert_array_equal(flipped, read_tiffs(tmp_path / "plain", 7)[::-1])
    ngffkit.flatten(path, volume, tmp_path / "l1", layers=7, step=2.0, level=1)
    level1 = tuple(s // 2 for s in SHAPE)
    assert_layers(read_tiffs(tmp_path / "l1", 7), ppm_expected(rec, 7, 2.0, level=1, shape=level1))


@pytest.mark.parametrize("how", ["max", "mean", "min", "median"])
def test_composites(volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path, how: str) -> None:
    path, _ = ppm
    ngffkit.flatten(
        path, volume, tmp_path / "c", layers=11, step=2.0, composite=how, composite_layers=4
    )
    layers = read_tiffs(tmp_path / "c", 11)
    centre = layers[3:7].astype(np.float64)  # 4 centred layers of 11: 3, 4, 5, 6
    want = {
        "max": centre.max(0),
        "min": centre.min(0),
        "mean": np.floor(centre.mean(0) + 0.5),
        "median": np.floor(np.median(centre, 0) + 0.5),
    }
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "c" / "composite.tif"), want[how])


def test_tifxyz_with_invalid_vertices_and_a_mask(volume: Path, tmp_path: Path) -> None:
    g_rows, g_cols, scale = 6, 8, 0.25
    r, c = np.meshgrid(np.arange(g_rows), np.arange(g_cols), indexing="ij")
    grid = np.stack([6 + 8.0 * c, 9 + 7.0 * r + 0.5 * c, 12 + 1.5 * r + 0.75 * c], axis=-1)
    grid[0, 0] = -1  # invalid vertex
    grid[4, 6, 2] = 0  # z <= 0: invalid
    mask = np.full((g_rows * 2, g_cols * 2), 255, np.uint8)  # twice the grid
    mask[10:, 0:2] = 0  # vertex (5, 0) masked out
    folder = write_tifxyz(tmp_path / "seg", grid, scale, mask=mask)
    ngffkit.flatten(folder, volume, tmp_path / "out", layers=5, step=1.25, composite="max")
    got = read_tiffs(tmp_path / "out", 5)
    h, w = (g_rows - 1) * 4 + 1, (g_cols - 1) * 4 + 1
    assert got.shape == (5, h, w)
    rr, cc = np.meshgrid(np.arange(h) * scale, np.arange(w) * scale, indexing="ij")
    points = np.stack([6 + 8 * cc, 9 + 7 * rr + 0.5 * cc, 12 + 1.5 * rr + 0.75 * cc], axis=-1)
    normal = np.cross([8, 0.5, 0.75], [0, 7, 1.5])
    normals = np.broadcast_to(normal, points.shape)
    valid = np.ones((h, w), bool)
    r0 = np.minimum(np.floor(rr), g_rows - 2).astype(int)
    c0 = np.minimum(np.floor(cc), g_cols - 2).astype(int)
    for vr, vc in [(0, 0), (4, 6), (5, 0)]:
        valid &= ~(((r0 == vr) | (r0 + 1 == vr)) & ((c0 == vc) | (c0 + 1 == vc)))
    assert_layers(got, expected_layers(points, normals, valid, 5, 1.25, SHAPE))
    assert not valid.all() and (got[:, ~valid] == 0).all()


def test_tiff_compressions_and_zarr_hold_the_same_pixels(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, _ = ppm
    ngffkit.flatten(path, volume, tmp_path / "none", layers=5)
    plain = read_tiffs(tmp_path / "none", 5)
    for how in ("zlib", "zstd", "lzw"):
        ngffkit.flatten(path, volume, tmp_path / how, layers=5, tiff_compression=how)
        with tifffile.TiffFile(tmp_path / how / "02.tif") as tif:
            assert (
                tif.pages[0]
                .compression.name.lower()
                .startswith({"zlib": "adobe_deflate", "zstd": "zstd", "lzw": "lzw"}[how])
            )
        np.testing.assert_array_equal(read_tiffs(tmp_path / how, 5), plain)
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "zlib" / "03.tif")), plain[3])
    ngffkit.flatten(
        path,
        volume,
        tmp_path / "z.ome.zarr",
        layers=5,
        format="zarr",
        composite="max",
        composite_layers=3,
    )
    image = ngffkit.open(tmp_path / "z.ome.zarr")
    np.testing.assert_array_equal(image.levels[0][...], plain)
    assert image.axis_names == ("z", "y", "x") and image.voxel_size["x"] == pytest.approx(7.91)
    assert ngffkit.validate(tmp_path / "z.ome.zarr").valid
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "z.ome.zarr" / "composite.tif"), plain[1:4].max(0)
    )
    assert not (tmp_path / "z.ome.zarr" / FLATTEN_JOURNAL).exists()


def test_zarr_output_has_a_pyramid(volume: Path, tmp_path: Path) -> None:
    rec = plane_surface(150, 140)
    rec[..., 0] = 5 + np.arange(140)[None] * 0.5
    rec[..., 1] = 5 + np.arange(150)[:, None] * 0.4
    path = write_ppm(tmp_path / "wide.ppm", rec)
    ngffkit.flatten(path, volume, tmp_path / "p.ome.zarr", layers=65, format="zarr")
    image = ngffkit.open(tmp_path / "p.ome.zarr")
    assert len(image.levels) >= 2 and image.levels[0].shape == (65, 150, 140)


def test_surface_layers_renders_regions_without_files(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, rec = ppm
    arr = ngffkit.surface_layers(path, volume, layers=9, step=1.5)
    assert arr.shape == (9, 40, 52) and arr.dtype == np.uint16 and len(arr) == 9
    whole = arr[...]
    assert_layers(whole, ppm_expected(rec, 9, 1.5))
    np.testing.assert_array_equal(arr[4], whole[4])
    np.testing.assert_array_equal(arr[2:6, 7:31, 11:50], whole[2:6, 7:31, 11:50])
    np.testing.assert_array_equal(arr[-1, 3], whole[8, 3])
    bands = list(arr.bands(16))
    assert [r for r, _ in bands] == [0, 16, 32]
    np.testing.assert_array_equal(np.concatenate([b for _, b in bands], axis=1), whole)


def test_plain_zarr_array_volume(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, rec = ppm
    got = ngffkit.surface_layers(path, volume / "0", layers=3)[...]
    assert_layers(got, ppm_expected(rec, 3, 1.0))
    with pytest.raises(InputError, match="plain Zarr array"):
        ngffkit.surface_layers(path, volume / "0", level=1)


def test_resume_after_an_interruption(volume: Path, tmp_path: Path) -> None:
    rec = plane_surface(100, 30)
    rec[..., 1] = 3 + np.arange(100)[:, None] * 0.5
    path = write_ppm(tmp_path / "tall.ppm", rec)
    out = tmp_path / "out"
    calls = []

    def stop_after_first_band(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:  # the first band is written and journaled
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ngffkit.flatten(path, volume, out, layers=9, tile=8, progress=stop_after_first_band)
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.endswith(".tif")]  # nothing looks complete
    assert "00.tif.partial" in names and FLATTEN_JOURNAL in names
    journal = json.loads((out / FLATTEN_JOURNAL).read_text())
    assert journal["done"] == [0] and journal["band_rows"] < 100
    with pytest.raises(ConflictError, match="interrupted .* resume=True"):
        ngffkit.flatten(path, volume, out, layers=9, tile=8)
    with pytest.raises(ConflictError, match="other settings"):
        ngffkit.flatten(path, volume, out, layers=7, tile=8, resume=True)
    ngffkit.flatten(path, volume, out, layers=9, tile=8, resume=True)
    ngffkit.flatten(path, volume, tmp_path / "fresh", layers=9, tile=8)
    np.testing.assert_array_equal(read_tiffs(out, 9), read_tiffs(tmp_path / "fresh", 9))
    assert sorted(p.name for p in out.iterdir()) == [OWNED, *(f"{i:02d}.tif" for i in range(9))]


def test_overwrite_replaces_only_a_flatten_output(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, _ = ppm
    out = tmp_path / "out"
    ngffkit.flatten(path, volume, out, layers=3)
    ngffkit.flatten(path, volume, out, layers=5, overwrite=True)
    assert len(list(out.iterdir())) == 5 + 1  # and the mark that it is ngffkit's
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConflictError, match="did not write"):
        ngffkit.flatten(path, volume, out, layers=5, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_dry_run_writes_nothing(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path, run_cli: Any
) -> None:
    path, _ = ppm
    done = run_cli("flatten", path, volume, tmp_path / "out", "--dry-run", "--layers", "9")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out").exists()
    for word in ("tiles:", "memory:", "volume to read:", "surface box", "volume box"):
        assert word in done.stdout
    assert re.search(r"volume to read: \d+ chunks", done.stdout)


def test_cli_renders_with_every_option(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path, run_ngff: Any
) -> None:
    path, rec = ppm
    # a process of its own: flatten's --max-memory counts what the process already holds
    done = run_ngff(
        "flatten",
        path,
        volume,
        tmp_path / "out",
        "--layers",
        "7",
        "--step",
        "0.5",
        "--flip-normals",
        "--level",
        "1",
        "--tiff-compression",
        "zstd",
        "--composite",
        "mean",
        "--composite-layers",
        "3",
        "--jobs",
        "2",
        "--max-memory",
        "1G",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    assert "MP-layers/s" in done.stdout and "peak memory" in done.stdout  # the summary: stdout
    level1 = tuple(s // 2 for s in SHAPE)
    got = read_tiffs(tmp_path / "out", 7)
    assert_layers(got, ppm_expected(rec, 7, 0.5, level=1, shape=level1, flip=True))
    assert (tmp_path / "out" / "composite.tif").exists()


def _fails(done: Any, *words: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_errors_are_named_without_tracebacks(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path, run_cli: Any
) -> None:
    path, _ = ppm
    out = tmp_path / "out"
    raw = path.read_bytes()
    (tmp_path / "short.ppm").write_bytes(raw[:-48])
    _fails(run_cli("flatten", tmp_path / "short.ppm", volume, out), "short.ppm", "truncated")
    (tmp_path / "long.ppm").write_bytes(raw + b"\0" * 8)
    _fails(run_cli("flatten", tmp_path / "long.ppm", volume, out), "long.ppm", "truncated")
    (tmp_path / "float.ppm").write_bytes(raw.replace(b"type: double", b"type: float", 1))
    _fails(run_cli("flatten", tmp_path / "float.ppm", volume, out), "type: float")
    grid = np.ones((3, 3, 3))
    folder = write_tifxyz(tmp_path / "nometa", grid, 0.5)
    (folder / "meta.json").unlink()
    _fails(run_cli("flatten", folder, volume, out), "meta.json")
    folder = write_tifxyz(tmp_path / "mismatch", grid, 0.5)
    tifffile.imwrite(folder / "y.tif", np.ones((4, 3), np.float32))
    _fails(run_cli("flatten", folder, volume, out), "same size", "y.tif 3 x 4")
    _fails(run_cli("flatten", path, volume, out, "--level", "7"), "--level 7", "levels 0 to 1")
    _fails(run_cli("flatten", tmp_path / "missing.ppm", volume, out), "missing.ppm")
    _fails(run_cli("flatten", path, volume, out, "--format", "png"), "--format")
    assert not out.exists()


def test_a_surface_outside_the_volume_warns_with_both_boxes(
    volume: Path, tmp_path: Path, run_cli: Any
) -> None:
    rec = plane_surface(10, 12, origin=(500.0, 600.0, 700.0))
    path = write_ppm(tmp_path / "far.ppm", rec)
    done = run_cli("flatten", path, volume, tmp_path / "out", "--layers", "3", "-q")
    assert done.returncode == 0, done.stderr
    assert "Warning:" in done.stderr and "entirely outside" in done.stderr
    assert "surface box x 499.9..510.0" in done.stderr
    assert "x 0.0..79.0" in done.stderr
    assert (read_tiffs(tmp_path / "out", 3) == 0).all()


def test_zarr_output_resumes_and_stays_partial_until_done(volume: Path, tmp_path: Path) -> None:
    rec = plane_surface(150, 30)
    rec[..., 1] = 3 + np.arange(150)[:, None] * 0.4
    path = write_ppm(tmp_path / "tall.ppm", rec)
    out = tmp_path / "out.ome.zarr"
    calls: list[int] = []

    def stop(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ngffkit.flatten(path, volume, out, layers=9, tile=16, format="zarr", progress=stop)
    with pytest.raises(ngffkit.PartialDatasetError):
        ngffkit.open(out)
    ngffkit.flatten(path, volume, out, layers=9, tile=16, format="zarr", resume=True)
    ngffkit.flatten(path, volume, tmp_path / "fresh", layers=9, tile=16)
    np.testing.assert_array_equal(
        ngffkit.open(out).levels[0][...], read_tiffs(tmp_path / "fresh", 9)
    )
    assert not (out / FLATTEN_JOURNAL).exists()


def test_overwrite_replaces_a_finished_flatten_output_only(
    volume: Path, ppm: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """A finished TIFF output carries ngffkit's mark, so --overwrite may replace it; the same
    files without the mark are somebody else's and are refused (the one output rule)."""
    path, _ = ppm
    out = tmp_path / "out"
    ngffkit.flatten(path, volume, out, layers=3)
    assert (out / OWNED).exists() and not (out / FLATTEN_JOURNAL).exists()
    ngffkit.flatten(path, volume, out, layers=3, overwrite=True)
    (out / OWNED).unlink()
    with pytest.raises(ConflictError, match="not Zarr"):
        ngffkit.flatten(path, volume, out, layers=3, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["00.tif", "01.tif", "02.tif"]

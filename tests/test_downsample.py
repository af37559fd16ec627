"""``ngff downsample``: levels added to images from every writer, checked against numpy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ngffkit
from ngffkit._convert import convert
from ngffkit._downsample import downsample
from ngffkit.errors import ConflictError, OptionError
from ngffkit.markers import DOWNSAMPLE_MARKER
from reencode_helpers import (
    check_pyramid,
    models_accept,
    read_only,
    volume,
    write_ome_zarr_py,
    write_zarr_python,
)
from run_helpers import kill_when_journalled, ngff


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return volume()


def _ours(path: Path, data: np.ndarray, version: str, make_image: Any) -> Path:
    from ngffkit.spec import pyramid_spec
    from ngffkit.writer import create_image, finish_image

    spec = pyramid_spec(
        data.shape,
        data.dtype,
        voxel_size={"z": 2, "y": 0.5, "x": 0.5},
        unit="micrometer",
        levels=1,
        chunks=16,
        shards=32 if version == "0.5" else None,
        version=version,
        name="ours",
    )
    create_image(path, spec).levels[0].write(data)
    finish_image(path, spec)
    return path


WRITERS = [
    "ours-0.5",
    "ours-0.4",
    "ome-zarr-py-0.4",
    "ome-zarr-py-0.5",
    "zarr-python-0.4",
    "zarr-python-0.5",
    "convert",
]


def _write(kind: str, path: Path, data: np.ndarray, make_image: Any, tmp: Path) -> Path:
    tool, version = kind.rsplit("-", 1) if kind != "convert" else ("convert", "0.5")
    if tool == "ours":
        return _ours(path, data, version, make_image)
    if tool == "ome-zarr-py":
        return write_ome_zarr_py(path, version, data)
    if tool == "zarr-python":
        return write_zarr_python(path, version, data)
    src = tmp / "src.zarr"
    write_zarr_python(src, "0.5", data)
    convert(src, path, levels=1, chunks=16, voxel_size=1.0)
    return path


@pytest.mark.parametrize("kind", WRITERS)
def test_every_writer_gets_levels_equal_to_numpy(
    kind: str, tmp_path: Path, data: np.ndarray, make_image: Any
) -> None:
    path = _write(kind, tmp_path / "img.zarr", data, make_image, tmp_path)
    before = ngffkit.open(path)
    valid_before = models_accept(path)
    assert valid_before or kind == "ome-zarr-py-0.5"
    result = downsample(path, jobs=2, max_memory=300 << 20)
    assert isinstance(result, ngffkit.Image)
    assert len(result.levels) > len(before.levels)
    assert result.levels[0].path == before.levels[0].path
    np.testing.assert_array_equal(result.levels[0].read(), data)
    check_pyramid(result, data, "mean")
    # The new levels are stored as the old ones are; the names follow the image's style.
    assert {lv.info.zarr_format for lv in result.levels} == {before.zarr_format}
    assert result.levels[0].compression == result.levels[1].compression
    if kind.startswith("ome-zarr-py"):
        assert [lv.path for lv in result.levels[:3]] == ["s0", "s1", "s2"]
        label = result.label("cells")
        assert [lv.shape for lv in label.levels] == [lv.shape for lv in result.levels]
        check_pyramid(label, (data % 3).astype(np.uint8), "mode")
    # Translations move with the block centres: origin + scale0 * (F - 1) / 2.
    lv0, lv1 = result.levels[0], result.levels[1]
    for t0, t1, s0, f in zip(lv0.translation, lv1.translation, lv0.scale, lv1.factors, strict=True):
        assert t1 == pytest.approx(t0 + s0 * (f - 1) / 2)
    assert models_accept(path) == valid_before
    assert not (path / DOWNSAMPLE_MARKER).exists() and not (path / ".ngffkit-journal").exists()


def test_anisotropic_and_isotropic(tmp_path: Path, data: np.ndarray, make_image: Any) -> None:
    path = _ours(tmp_path / "a.zarr", data, "0.5", make_image)
    aniso = downsample(path, levels=2)
    assert isinstance(aniso, ngffkit.Image)
    assert aniso.levels[1].factors == (1, 2, 2)  # z is 4x coarser than y, x
    iso = downsample(path, from_level=0, levels=2, rebuild=True, anisotropic=False)
    assert isinstance(iso, ngffkit.Image)
    assert iso.levels[1].factors == (2, 2, 2)
    check_pyramid(iso, data, "mean")


def test_from_level_keeps_levels_unless_rebuild(
    tmp_path: Path, data: np.ndarray, make_image: Any
) -> None:
    path = _ours(tmp_path / "a.zarr", data, "0.5", make_image)
    downsample(path, levels=3, method="max")
    level1 = (path / "1" / "zarr.json").read_bytes()
    with pytest.raises(ConflictError, match="rebuild=True"):
        downsample(path, from_level=1)
    result = downsample(path, from_level=1, rebuild=True, method="mean")
    assert isinstance(result, ngffkit.Image)
    assert (path / "1" / "zarr.json").read_bytes() == level1  # level 1 kept as it was
    check_pyramid(result, result.levels[1].read(), "mean", first=1)
    with pytest.raises(OptionError, match="from_level"):
        downsample(path, from_level=17)


def test_dry_run_writes_nothing(
    tmp_path: Path, data: np.ndarray, make_image: Any, run_cli: Any
) -> None:
    path = _ours(tmp_path / "a.zarr", data, "0.4", make_image)
    before = sorted(p.name for p in path.iterdir())
    proc = run_cli("downsample", path, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "new 1: shape 37×51×49" in proc.stdout and "stage 0: read '0'" in proc.stdout
    assert sorted(p.name for p in path.iterdir()) == before


def test_kill_then_resume(tmp_path: Path, make_image: Any) -> None:
    big = volume((96, 512, 512), seed=4)
    big += np.random.default_rng(2).integers(0, 3000, big.shape, dtype=big.dtype)  # slow zstd
    common = ["--jobs", "2", "--max-memory", "300M", "--levels", "4", "-q"]
    ref = _ours(tmp_path / "ref.zarr", big, "0.5", make_image)
    done = ngff("downsample", str(ref), *common)
    assert done.wait(timeout=300) == 0, done.stderr.read() if done.stderr else ""
    path = _ours(tmp_path / "img.zarr", big, "0.5", make_image)
    proc = ngff("downsample", str(path), *common)
    kill_when_journalled(proc, path)
    # Killed: the image still opens, with its old level only; a plain rerun is refused.
    assert len(ngffkit.open(path).levels) == 1
    again = ngff("downsample", str(path), *common)
    assert again.wait(timeout=120) == 1
    assert "--resume" in (again.stderr.read() if again.stderr else "")
    resumed = ngff("downsample", str(path), *common, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read() if resumed.stderr else ""
    out, expected = ngffkit.open(path), ngffkit.open(ref)
    assert [lv.shape for lv in out.levels] == [lv.shape for lv in expected.levels]
    for a, b in zip(out.levels, expected.levels, strict=True):
        np.testing.assert_array_equal(a.read(), b.read())
    assert (
        json.loads((path / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0][
            "datasets"
        ]
        == json.loads((ref / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0][
            "datasets"
        ]
    )


def test_errors(tmp_path: Path, data: np.ndarray, make_image: Any, run_cli: Any) -> None:
    plain = tmp_path / "plain.zarr"
    plain.mkdir()
    proc = run_cli("downsample", plain)
    assert proc.returncode == 1 and "not an OME-Zarr image" in proc.stderr
    assert "Traceback" not in proc.stderr
    path = _ours(tmp_path / "a.zarr", data, "0.5", make_image)
    proc = run_cli("downsample", path, "--method", "bilinear")
    assert proc.returncode == 2 and "--method" in proc.stderr
    with read_only(path):
        proc = run_cli("downsample", path)
    assert proc.returncode == 1, proc.stderr
    assert "not writable" in proc.stderr and "Traceback" not in proc.stderr
    assert len(ngffkit.open(path).levels) == 1


def test_webknossos_layer_gets_mag_names(tmp_path: Path, write_wk_layer: Any) -> None:
    """A WEBKNOSSOS layer (axes c,x,y,z; mags 1, 2-2-1, 4-4-2; transpose + zstd codecs):
    the new level is mag 8-8-4, stored with the same codecs, equal to the numpy mean."""
    zyx = volume((40, 96, 96), "uint8", seed=7)
    write_wk_layer(tmp_path / "wk", zyx)
    layer = tmp_path / "wk" / "color"
    result = downsample(layer, levels=4)
    assert isinstance(result, ngffkit.Image)
    assert [lv.path for lv in result.levels] == ["1", "2-2-1", "4-4-2", "8-8-4"]
    new = json.loads((layer / "8-8-4" / "zarr.json").read_text())
    inner = (
        new["codecs"][0]["configuration"]["codecs"]
        if new["codecs"][0]["name"] == "sharding_indexed"
        else new["codecs"]
    )
    assert inner[0]["name"] == "transpose" and new["dimension_names"] == ["c", "x", "y", "z"]
    check_pyramid(result, result.levels[2].read(), "mean", first=2)

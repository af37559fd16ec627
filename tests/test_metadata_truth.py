"""Metadata that says what was done (issue 12, defect 9's metadata part): the method that
made the levels, and the image name as the user wrote it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from ngffkit.kernels import downsample

RunNgff = Callable[..., subprocess.CompletedProcess[str]]


def _stack(folder: Path) -> np.ndarray:
    volume = np.random.default_rng(1).integers(0, 255, (16, 40, 48), dtype=np.uint8)
    folder.mkdir()
    for z, plane in enumerate(volume):
        tifffile.imwrite(folder / f"{z:02d}.tif", plane)
    return volume


def _multiscale(out: Path) -> dict:
    return json.loads((out / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0]


def test_rebuild_records_the_method_used(tmp_path: Path, run_cli: RunNgff) -> None:
    volume = _stack(tmp_path / "s")
    out = tmp_path / "img.ome.zarr"
    assert (
        run_cli(
            "convert", tmp_path / "s", out, "--chunks", "8", "--levels", "3", "--isotropic"
        ).returncode
        == 0
    )
    assert _multiscale(out)["type"] == "mean"
    done = run_cli("downsample", out, "--rebuild", "--from-level", "0", "--method", "max")
    assert done.returncode == 0, done.stderr
    ms = _multiscale(out)
    assert ms["type"] == "max"
    assert ms["metadata"]["method"] == "ngffkit.kernels.max"

    np.testing.assert_array_equal(
        zarr.open_array(str(out / "1"))[...], downsample(volume, (2, 2, 2), "max")
    )


def test_levels_of_two_methods_are_recorded_per_level(tmp_path: Path, run_cli: RunNgff) -> None:
    _stack(tmp_path / "s")
    out = tmp_path / "img.ome.zarr"
    run_cli("convert", tmp_path / "s", out, "--chunks", "8", "--levels", "3", "--isotropic")
    done = run_cli("downsample", out, "--rebuild", "--from-level", "1", "--method", "max")
    assert done.returncode == 0, done.stderr
    ms = _multiscale(out)
    assert "type" not in ms
    methods = ms["metadata"]["methods"]
    assert methods["1"] == "mean" and methods["2"] == "max"
    assert set(methods) == {d["path"] for d in ms["datasets"][1:]}


def test_output_name_is_stored_as_written(tmp_path: Path, run_cli: RunNgff) -> None:
    _stack(tmp_path / "s")
    out = tmp_path / "my scan é.ome.zarr"
    done = run_cli("convert", tmp_path / "s", out, "--levels", "1")
    assert done.returncode == 0, done.stderr
    assert _multiscale(out)["name"] == "my scan é"


def test_reconverting_an_ome_zarr_keeps_its_translation(tmp_path: Path, run_cli: RunNgff) -> None:
    _stack(tmp_path / "s")
    roi = tmp_path / "roi.ome.zarr"
    done = run_cli(
        "convert",
        tmp_path / "s",
        roi,
        "--ranges",
        "8:40,10:30,4:16",
        "--voxel-size",
        "2,2,5",
        "--unit",
        "nanometer",
        "--levels",
        "1",
    )
    assert done.returncode == 0, done.stderr
    info = run_cli("info", roi)
    assert "origin (level 0 translation): z 20 nanometer, y 20 nanometer, x 16 nanometer" in (
        info.stdout
    ), info.stdout
    again = tmp_path / "again.ome.zarr"
    done = run_cli("convert", roi, again, "--levels", "1")
    assert done.returncode == 0, done.stderr
    transforms = _multiscale(again)["datasets"][0]["coordinateTransformations"]
    assert transforms == [
        {"type": "scale", "scale": [5.0, 2.0, 2.0]},
        {"type": "translation", "translation": [20.0, 20.0, 16.0]},
    ]
    # a region of it moves further, in the same physical space
    done = run_cli("convert", roi, tmp_path / "sub.zarr", "--ranges", "2:,1:,1:", "--levels", "1")
    assert done.returncode == 0, done.stderr
    sub = _multiscale(tmp_path / "sub.zarr")["datasets"][0]["coordinateTransformations"]
    assert sub[1]["translation"] == [25.0, 22.0, 20.0]


def test_no_voxel_size_warns_once_and_given_ones_pass_strict(
    tmp_path: Path, run_cli: RunNgff
) -> None:
    _stack(tmp_path / "s")
    done = run_cli("convert", tmp_path / "s", tmp_path / "a.zarr", "--levels", "1")
    assert done.returncode == 0, done.stderr
    assert (
        done.stderr.count(
            "Warning: no voxel size or unit was given or found in the input: "
            "the image says its voxels are z 1 × y 1 × x 1 with no unit"
        )
        == 1
    )
    done = run_cli(
        "convert", tmp_path / "s", tmp_path / "b.zarr", "--voxel-size", "4,4,40", "--unit", "nm"
    )
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    strict = run_cli("validate", "--strict", tmp_path / "b.zarr")
    assert strict.returncode == 0, strict.stdout


def test_voxel_by_name_is_accepted_everywhere(tmp_path: Path) -> None:
    """The safe spelling is the easy one: Voxel(x=, y=, z=) cannot put 25 on x."""
    import ngffkit

    volume = _stack(tmp_path / "s")
    voxel = ngffkit.Voxel(x=11.24, y=11.24, z=25)
    assert dict(voxel) == {"z": 25.0, "y": 11.24, "x": 11.24}
    image = ngffkit.convert(
        tmp_path / "s", tmp_path / "a.zarr", voxel_size=voxel, unit="nanometer", levels=1
    )
    assert image.voxel_size == {"z": 25.0, "y": 11.24, "x": 11.24}
    spec = ngffkit.pyramid_spec(volume.shape, volume.dtype, voxel_size=ngffkit.Voxel(x=2, z=5))
    assert spec.levels[0].scale == (5.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="positive"):
        ngffkit.Voxel(x=0)

"""t,c,z,y,x images we write, read by the readers microscopists use (issue 15: channels and
time): bioio (with bioio-ome-zarr), napari-ome-zarr's reader, ome-zarr-models, and our own
``ngff validate --strict``. Inputs are a real 2-channel × 3-timepoint OME-TIFF and a real
folder of tagged files, converted with the CLI."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from _support import cli
from test_channels import write_ome_tczyx


@contextmanager
def _quiet() -> Iterator[None]:
    """Third-party readers' own deprecation chatter is not ours to fail on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _tagged_folder(folder: Path) -> np.ndarray:
    """img_t{t}_c{c}_z{z}.tif: 3 time points × 2 channels × 4 slices of 24 × 32."""
    folder.mkdir()
    data = np.random.default_rng(9).integers(0, 4000, (3, 2, 4, 24, 32), dtype=np.uint16)
    for t in range(3):
        for c, name in enumerate(("DAPI", "GFP")):
            for z in range(4):
                tifffile.imwrite(folder / f"img_t{t}_c{name}_z{z:02d}.tif", data[t, c, z])
    return data


@pytest.fixture(scope="module", params=["ome-tiff-0.5", "tagged-0.5", "ome-tiff-0.4"])
def series(request: Any, tmp_path_factory: pytest.TempPathFactory, run_ngff: Any) -> dict[str, Any]:
    kind, version = request.param.rsplit("-", 1)
    root = tmp_path_factory.mktemp("series")
    out = root / "series.ome.zarr"
    if kind == "ome-tiff":
        data = write_ome_tczyx(root / "cells.ome.tif")
        args = [str(root / "cells.ome.tif"), str(out)]
        step, unit, voxel = 2.5, "minute", (1.5, 0.25, 0.25)
    else:
        data = _tagged_folder(root / "tagged")
        args = [
            str(root / "tagged"),
            str(out),
            "--pattern",
            "img_t{t}_c{c}_z{z}.tif",
            "--voxel-size",
            "0.5,0.5,2",
            "--unit",
            "micrometer",
            "--time-step",
            "10",
            "--time-unit",
            "second",
        ]
        step, unit, voxel = 10.0, "second", (2.0, 0.5, 0.5)
    proc = run_ngff("convert", *args, "--format", version, "--levels", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    return {
        "path": out,
        "data": data,
        "step": step,
        "unit": unit,
        "voxel": voxel,
        "version": version,
        "names": ["DAPI", "GFP"],
    }


def test_bioio_reads_dims_physical_sizes_and_time_step(series: dict[str, Any]) -> None:
    with _quiet():
        import bioio_ome_zarr
        from bioio import BioImage

        image = BioImage(str(series["path"]), reader=bioio_ome_zarr.Reader)
        assert image.dims.order == "TCZYX"
        assert image.shape == (3, 2, 4, 24, 32)
        sizes = image.physical_pixel_sizes
        assert series["voxel"] == (sizes.Z, sizes.Y, sizes.X)
        assert float(image.time_interval) == series["step"]
        np.testing.assert_array_equal(np.asarray(image.get_image_data("TCZYX")), series["data"])


def test_bioio_reports_the_channel_names(series: dict[str, Any]) -> None:
    with _quiet():
        import bioio_ome_zarr
        from bioio import BioImage

        image = BioImage(str(series["path"]), reader=bioio_ome_zarr.Reader)
        assert list(image.channel_names) == series["names"]


def _napari_layers(path: Path) -> list[Any]:
    with _quiet():
        from napari_ome_zarr import napari_get_reader

        reader = napari_get_reader(str(path))
        assert reader is not None
        return list(reader(str(path)))


def test_napari_ome_zarr_reads_channels_and_time_step(series: dict[str, Any]) -> None:
    layers = _napari_layers(series["path"])
    assert all(kind == "image" for _, _, kind in layers)
    data, kwargs, _ = layers[0]
    if "channel_axis" in kwargs:  # up to 0.10: one layer that napari splits along c
        assert len(layers) == 1 and kwargs["channel_axis"] == 1
        channels = data[0].shape[1]
        shapes = [tuple(lv.shape[:1]) + tuple(lv.shape[2:]) for lv in data]
    else:  # 0.11 on: one layer per channel
        channels = len(layers)
        shapes = [tuple(lv.shape) for lv in data]
    assert channels == 2
    assert shapes == [(3, 4, 24, 32), (3, 4, 12, 16)]
    assert kwargs["scale"][0] == series["step"]
    assert tuple(kwargs["scale"][1:]) == series["voxel"]


def test_napari_ome_zarr_reports_the_time_unit(series: dict[str, Any]) -> None:
    # 0.10 is the first release that hands napari the axes' names and units; it needs
    # zarr>=3.1.5, so the lower-bounds run (zarr 3.1.1, napari-ome-zarr 0.8) skips this
    pytest.importorskip("napari_ome_zarr", minversion="0.10")
    _, kwargs, _ = _napari_layers(series["path"])[0]
    assert kwargs["axis_labels"] == ("t", "z", "y", "x")  # c is the channel axis
    assert kwargs["units"] == (series["unit"], "micrometer", "micrometer", "micrometer")


def test_ome_zarr_models_validates(series: dict[str, Any]) -> None:
    from ome_zarr_models import open_ome_zarr

    version = series["version"]
    if version == "0.5":
        from ome_zarr_models.v05.image import Image
    else:
        from ome_zarr_models.v04.image import Image
    with _quiet():
        model = open_ome_zarr(zarr.open_group(str(series["path"]), mode="r"), version=version)
    assert isinstance(model, Image)
    meta = model.attributes if version == "0.4" else model.ome_attributes
    axes = meta.multiscales[0].axes  # type: ignore[union-attr]
    assert [(a.name, a.type, a.unit) for a in axes] == [
        ("t", "time", series["unit"]),
        ("c", "channel", None),
        ("z", "space", "micrometer"),
        ("y", "space", "micrometer"),
        ("x", "space", "micrometer"),
    ]


def test_ngff_validate_strict_passes(series: dict[str, Any]) -> None:
    code, out, err = cli("validate", "--strict", str(series["path"]))
    assert code == 0, out + err
    assert "valid" in out

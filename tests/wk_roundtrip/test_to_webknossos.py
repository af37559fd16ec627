"""``--webknossos`` / ``ngff webknossos-properties``: the real ``webknossos`` package's
``Dataset.open`` opens what we write (IMAGE/webknossos/), with the image as a color layer
and each label image as a segmentation layer, every level a mag, the voxel size and unit as
written and the data equal; and its own writes leave our OME metadata alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from _support import cli
from ngffkit.image import open_image

pytestmark = pytest.mark.webknossos


def _volumes(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 60000, (24, 40, 56), dtype=np.uint16)  # z, y, x
    cells = (np.arange(image.size).reshape(image.shape) // 3001).astype(np.uint32) * 7
    nuclei = (image > 50000).astype(np.uint8) * 3
    paths = tmp_path / "image.tif", tmp_path / "cells.tif", tmp_path / "nuclei.tif"
    for path, data in zip(paths, (image, cells, nuclei), strict=True):
        tifffile.imwrite(path, data)
    return paths


def test_webknossos_opens_what_we_write(tmp_path: Path, wk_run: Any) -> None:
    image_tif, cells_tif, nuclei_tif = _volumes(tmp_path)
    out = tmp_path / "em.ome.zarr"
    box = "8:56,4:40,0:24"  # x,y,z: the image starts at x=8, y=4 (a translation)
    code, stdout, stderr = cli(
        "convert", image_tif, out, "--voxel-size", "8,8,30", "--unit", "nanometer",
        "--levels", "3", "--chunks", "16", "--ranges", box, "--webknossos",
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = cli("labels", "add", out, cells_tif, "--name", "cells", "--ranges", box)
    assert code == 0, stderr
    assert "em.ome.zarr/webknossos" in stdout
    code, stdout, stderr = cli(
        "labels", "add", out, nuclei_tif, "--name", "nuclei", "--ranges", box, "--webknossos"
    )
    assert code == 0, stderr
    assert "em.ome.zarr/webknossos" in stdout
    root_before = (out / "zarr.json").read_bytes()

    seen_file = tmp_path / "seen.json"
    wk_run("open", str(out / "webknossos"), str(seen_file))
    seen = json.loads(seen_file.read_text())
    image = open_image(out)
    assert seen["voxel_size"] == [8.0, 8.0, 30.0] and seen["unit"] == "nanometer"
    assert set(seen["layers"]) == {"em", "cells", "nuclei"}
    expected = {"em": image, "cells": image.label("cells"), "nuclei": image.label("nuclei")}
    for name, ours in expected.items():
        layer = seen["layers"][name]
        assert layer["category"] == ("color" if name == "em" else "segmentation")
        assert layer["dtype"] == ours.dtype.name
        mags = [m["mag"] for m in layer["mags"]]
        assert len(mags) == len(ours.levels) == 3
        for mag, level in zip(layer["mags"], ours.levels, strict=True):
            z, y, x = (round(f) for f in level.factors)
            assert mag["mag"] == [x, y, z]
            theirs = np.load(mag["data"])  # the layer's axis order: ours, z,y,x
            np.testing.assert_array_equal(theirs.reshape(level.shape), level.read())
        if name != "em":
            assert layer["largest_segment_id"] == int(ours.levels[0].read().max())
        # the translation, in voxels (x, y, z), as the layer's affine
        assert layer["transforms"] == [[[1, 0, 0, 8], [0, 1, 0, 4], [0, 0, 1, 0], [0, 0, 0, 1]]]

    # WEBKNOSSOS writing to the dataset rewrites webknossos/, never the image's metadata
    wk_run("touch", str(out / "webknossos"))
    assert (out / "webknossos" / "zarr.json").exists()  # its bare root group: it did write
    assert (out / "zarr.json").read_bytes() == root_before
    again = open_image(out)
    assert again.labels == ("cells", "nuclei")
    code, stdout, _ = cli("validate", out)
    assert code == 0 and "valid" in stdout, stdout
    wk_run("open", str(out / "webknossos"), str(seen_file))  # and it still opens


def test_a_time_series_with_channels_opens(tmp_path: Path, make_image: Any, wk_run: Any) -> None:
    """t becomes an additional axis, c the layer's channels; the data read back is ours."""
    path = tmp_path / "tc.ome.zarr"
    voxel = {"z": 2.0, "y": 1.0, "x": 1.0}
    made = make_image(
        path, axes="tczyx", shape=(3, 2, 8, 32, 32), unit="micrometer", voxel_size=voxel
    )
    code, _, stderr = cli("webknossos-properties", path)
    assert code == 0, stderr
    seen_file = tmp_path / "seen.json"
    wk_run("open", str(path / "webknossos"), str(seen_file))
    seen = json.loads(seen_file.read_text())
    assert seen["unit"] == "micrometer" and seen["voxel_size"] == [1.0, 1.0, 2.0]
    (layer,) = seen["layers"].values()
    assert layer["size"] == [3, 2, 8, 32, 32]
    assert len(layer["mags"]) == len(made["levels"])
    for mag, data in zip(layer["mags"], made["levels"], strict=True):
        np.testing.assert_array_equal(np.load(mag["data"]), data)

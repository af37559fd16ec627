"""``ngff convert WK_DATASET``: datasets the real ``webknossos`` package writes (zarr3,
sharded, color + segmentation) become OME-Zarr voxel for voxel, with their voxel size,
bounding box (as the translation) and, where they form a power-of-two ladder, their mags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _support import cli
from ngffkit.image import open_image

pytestmark = pytest.mark.webknossos


@pytest.fixture(scope="module", params=["8,4,2", "3,5,2"], ids=["aligned", "unaligned"])
def dataset(request: Any, tmp_path_factory: Any, wk_run: Any) -> tuple[Path, tuple[int, ...]]:
    path = tmp_path_factory.mktemp("wk") / "ds"
    wk_run("write", str(path), request.param)
    return path, tuple(int(v) for v in request.param.split(","))


def test_convert_keeps_data_voxel_size_translation_and_mags(
    dataset: tuple[Path, tuple[int, ...]], tmp_path: Path
) -> None:
    path, offset = dataset
    out = tmp_path / "out.ome.zarr"
    code, stdout, stderr = cli("convert", path, out)
    assert code == 0, stderr
    assert "labels: seg" in stdout
    image = open_image(out)
    color = np.load(f"{path}-color.npy")  # x, y, z
    seg = np.load(f"{path}-seg.npy")
    assert image.axis_names == ("c", "z", "y", "x")
    assert image.voxel_size == {"z": 25.0, "y": 11.0, "x": 11.0}
    assert image.units["x"] == "nanometer"
    # the bounding box's corner is the translation (x, y, z voxels times the voxel size)
    assert image.levels[0].translation[1:] == (offset[2] * 25.0, offset[1] * 11.0, offset[0] * 11.0)
    np.testing.assert_array_equal(image.levels[0].read()[0], color.transpose(2, 1, 0))
    assert image.labels == ("seg",)
    label = image.label("seg")
    np.testing.assert_array_equal(label.levels[0].read()[0], seg.transpose(2, 1, 0))
    assert len(image.levels) == 3  # mags 1, 2-2-1, 4-4-2 (kept or recomputed alike)
    source = open_image(path / "color")
    aligned = all(o % m == 0 for o, m in zip(offset, (4, 4, 2), strict=True))
    for k, mag in ((1, (2, 2, 1)), (2, (4, 4, 2))):
        ours = image.levels[k].read()
        assert image.levels[k].factors[1:] == (mag[2], mag[1], mag[0])
        start = [o // m for o, m in zip(offset, mag, strict=True)]
        size = (ours.shape[3], ours.shape[2], ours.shape[1])
        theirs = source.levels[k].read([0, *start], [1, *size], pad=True).transpose(0, 3, 2, 1)
        if aligned:  # the dataset's own mags, copied
            np.testing.assert_array_equal(ours, theirs)
    # the segmentation: its stated largestSegmentId keeps the layer's type (no value scan),
    # and its coarser mags are WEBKNOSSOS's own too, copied (never our mode first)
    assert label.dtype == np.uint32
    assert label.multiscale.metadata["label_values"] == {"max": int(seg.max()), "stated": True}
    seg_source = open_image(path / "seg")
    for k, mag in ((1, (2, 2, 1)), (2, (4, 4, 2))):
        ours = label.levels[k].read()
        start = [o // m for o, m in zip(offset, mag, strict=True)]
        size = (ours.shape[3], ours.shape[2], ours.shape[1])
        theirs = seg_source.levels[k].read([0, *start], [1, *size], pad=True).transpose(0, 3, 2, 1)
        if aligned:
            np.testing.assert_array_equal(ours, theirs)
    assert ("off the bounding box's grid" in stderr) != aligned
    assert not list(out.rglob(".ngffkit-*"))  # no partial marker, journal or lock left


def test_recompute_and_one_layer(dataset: tuple[Path, tuple[int, ...]], tmp_path: Path) -> None:
    path, _offset = dataset
    out = tmp_path / "seg.ome.zarr"
    code, _stdout, stderr = cli("convert", path, out, "--layer", "seg", "--recompute")
    assert code == 0, stderr
    image = open_image(out)
    assert image.labels == ()
    seg = np.load(f"{path}-seg.npy")
    np.testing.assert_array_equal(image.levels[0].read()[0], seg.transpose(2, 1, 0))
    assert image.method == "mode"  # a segmentation's levels keep its labels

"""``ngff convert WK_DATASET`` with WKW layers (read through the ``wkw`` package): a
dataset made with ``wkw`` converts voxel for voxel, its mag 2-2-1 kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import wkw

from _support import cli
from ngffkit.image import open_image
from ngffkit.omero import measure_omero


def _layer(root: Path, name: str, mags: dict[str, np.ndarray], offset: tuple[int, ...]) -> None:
    for mag, data in mags.items():
        factor = [int(v) for v in mag.split("-")] if "-" in mag else [int(mag)] * 3
        header = wkw.Header(voxel_type=data.dtype, num_channels=1, file_len=4)
        with wkw.Dataset.create(str(root / name / mag), header) as ds:
            at = tuple(o // f for o, f in zip(offset, factor, strict=True))
            ds.write(at, np.asfortranarray(data))


def _properties(root: Path, layers: list[tuple[str, str, str]], box: dict[str, Any]) -> None:
    """``layers``: (name, category, dtype); mags 1 and 2-2-1 without paths (LAYER/1 ...)."""
    mags = [{"mag": [1, 1, 1]}, {"mag": [2, 2, 1]}]
    entries = [
        {"name": name, "category": category, "boundingBox": box, "dataFormat": "wkw",
         "elementClass": dtype, "numChannels": 1, "mags": mags}
        for name, category, dtype in layers
    ]  # fmt: skip
    doc = {"scale": {"factor": [4.0, 4.0, 35.0], "unit": "nanometer"}, "dataLayers": entries}
    (root / "datasource-properties.json").write_text(json.dumps(doc))


def test_several_color_layers_make_one_image_each(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    root = tmp_path / "ds"
    data = {n: rng.integers(0, 255, (16, 12, 6), dtype=np.uint8) for n in ("em", "lm")}
    seg = np.ones((16, 12, 6), np.uint16)
    for name, volume in data.items():
        _layer(root, name, {"1": volume, "2-2-1": volume[::2, ::2]}, (0, 0, 0))
    _layer(root, "seg", {"1": seg, "2-2-1": seg[::2, ::2]}, (0, 0, 0))
    box = {"topLeft": [0, 0, 0], "width": 16, "height": 12, "depth": 6}
    _properties(
        root,
        [("em", "color", "uint8"), ("lm", "color", "uint8"), ("seg", "segmentation", "uint16")],
        box,
    )
    out = tmp_path / "out"
    code, stdout, stderr = cli("convert", root, out, "--webknossos")
    assert code == 0, stderr
    assert "done: 2 image(s)" in stdout
    for name, volume in data.items():
        image = open_image(out / f"{name}.ome.zarr")
        np.testing.assert_array_equal(image.levels[0].read()[0], volume.transpose(2, 1, 0))
        assert image.labels == ("seg",)
        assert (out / f"{name}.ome.zarr" / "webknossos" / "datasource-properties.json").exists()
    code, _, stderr = cli("convert", root, tmp_path / "x", "--layer", "nope")
    assert code == 2 and "'nope' is no layer" in stderr and "em, lm, seg" in stderr


def test_a_wkw_dataset_converts_voxel_for_voxel(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    offset = (32, 16, 4)  # x, y, z: on the grid of mag 2-2-1
    color = rng.integers(0, 255, (70, 50, 20), dtype=np.uint8)  # x, y, z
    seg = (np.arange(color.size).reshape(color.shape) // 777).astype(np.uint32)
    coarse = color[::2, ::2, :].copy()  # what "WEBKNOSSOS" stored as 2-2-1 (not our mean)
    seg_coarse = seg[::2, ::2, :].copy()
    root = tmp_path / "wkw-ds"
    _layer(root, "color", {"1": color, "2-2-1": coarse}, offset)
    _layer(root, "seg", {"1": seg, "2-2-1": seg_coarse}, offset)
    box = {"topLeft": list(offset), "width": 70, "height": 50, "depth": 20}
    mags = [{"mag": [1, 1, 1]}, {"mag": [2, 2, 1]}]  # no paths: LAYER/1, LAYER/2-2-1
    layers = [
        {"name": "color", "category": "color", "boundingBox": box, "dataFormat": "wkw",
         "elementClass": "uint8", "numChannels": 1, "mags": mags},
        {"name": "seg", "category": "segmentation", "boundingBox": box, "dataFormat": "wkw",
         "elementClass": "uint32", "numChannels": 1, "mags": mags, "largestSegmentId": 5},
    ]  # fmt: skip
    doc = {"scale": {"factor": [4.0, 4.0, 35.0], "unit": "nanometer"}, "dataLayers": layers}
    (root / "datasource-properties.json").write_text(json.dumps(doc))

    out = tmp_path / "out.ome.zarr"
    code, stdout, stderr = cli("convert", root, out)
    assert code == 0, stderr
    image = open_image(out)
    assert [lv.shape for lv in image.levels] == [(1, 20, 50, 70), (1, 20, 25, 35)]
    assert image.voxel_size == {"z": 35.0, "y": 4.0, "x": 4.0}
    assert image.levels[0].translation[1:] == (4 * 35.0, 16 * 4.0, 32 * 4.0)
    np.testing.assert_array_equal(image.levels[0].read()[0], color.transpose(2, 1, 0))
    np.testing.assert_array_equal(image.levels[1].read()[0], coarse.transpose(2, 1, 0))
    label = image.label("seg")
    np.testing.assert_array_equal(label.levels[0].read()[0], seg.transpose(2, 1, 0))
    np.testing.assert_array_equal(label.levels[1].read()[0], seg_coarse.transpose(2, 1, 0))
    assert "labels: seg" in stdout
    # largestSegmentId is stated: the values are not read first and the layer's own type is
    # kept (no cast), so even this wrong statement (5; the labels go up to 90) changes none
    assert label.dtype == np.uint32 and int(seg.max()) > 5
    assert (label.multiscale.metadata or {})["label_values"] == {"max": 5, "stated": True}
    assert "reading the label values" not in stderr
    # the display window is measured on the levels as they are: the copied mags
    window = image.omero.channels[0].window
    measured = measure_omero(image, name=image.name).channels[0].window
    assert (window.start, window.end) == (measured.start, measured.end) and window.end > 1

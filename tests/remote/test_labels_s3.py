"""``ngff labels add`` on an image in a bucket (moto's S3 on 127.0.0.1): the label image and
the labels group are written there, the image's own keys stay as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import ngffkit
from test_labels import SHAPE, segmentation, write_tiffs

from .conftest import Moto


def test_labels_add_to_an_image_in_a_bucket(s3: Moto, tmp_path: Path, run_ngff: Any) -> None:
    s3.create_bucket("labelled")
    raw = np.random.default_rng(4).integers(0, 4000, SHAPE, dtype="uint16")
    url = "s3://labelled/img.ome.zarr"
    ngffkit.convert(write_tiffs(tmp_path / "raw", raw), url, chunks=8, levels=3)
    before = {k: s3.get("labelled", k) for k in s3.keys("labelled", "img.ome.zarr/")}
    seg = segmentation()
    done = run_ngff(
        "labels",
        "add",
        url,
        write_tiffs(tmp_path / "seg", seg),
        "--name",
        "cells",
        "--s3-endpoint",
        s3.endpoint,
        "-q",
    )
    assert done.returncode == 0, done.stderr
    keys = s3.keys("labelled", "img.ome.zarr/")
    assert not [k for k in keys if ".ngffkit-" in k]  # no marker, journal or lock left
    for key, body in before.items():  # the image is never written to
        assert s3.get("labelled", key) == body
    group = json.loads(s3.get("labelled", "img.ome.zarr/labels/zarr.json"))
    assert group["attributes"]["ome"]["labels"] == ["cells"]
    image = ngffkit.open(url)
    label = image.label("cells")
    assert label.dtype == np.uint16 and len(label.levels) == len(image.levels)
    np.testing.assert_array_equal(label.levels[0][...], seg)

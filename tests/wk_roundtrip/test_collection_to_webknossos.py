"""``ngff collection create --webknossos``: the real ``webknossos`` package's ``Dataset.open``
opens the collection's dataset (COLLECTION/webknossos/) with every member as a layer (label
images as segmentation layers), every level a mag, one voxel size, the data equal; members
on another host (HTTP) read from there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _support import cli
from ngffkit.image import open_image
from remote.servers import StaticServer

pytestmark = pytest.mark.webknossos


def test_webknossos_opens_a_collection(
    tmp_path: Path, make_image: Any, wk_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_image(
        tmp_path / "raw.ome.zarr", shape=(8, 32, 48), levels=3, labels=True, unit="nanometer"
    )
    coarse = {"z": 2.0, "y": 1.0, "x": 1.0}  # twice raw's voxel in x and y: mags from 2-2-1
    make_image(
        tmp_path / "em.ome.zarr", shape=(8, 16, 24), levels=2, voxel_size=coarse,
        unit="nanometer", seed=1,
    )  # fmt: skip
    make_image(
        tmp_path / "far" / "lm.ome.zarr", shape=(8, 32, 48), levels=2, unit="nanometer",
        dtype="uint8", seed=2,
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    server = StaticServer(tmp_path / "far")
    try:
        remote = server.url("lm.ome.zarr")
        code, out, err = cli(
            "collection", "create", "study.zarr", "raw.ome.zarr", "raw.ome.zarr/labels/cells",
            "em.ome.zarr", f"{remote}=lm", "--webknossos",
        )  # fmt: skip
        assert code == 0, err
        assert "study.zarr/webknossos" in out
        root_before = (tmp_path / "study.zarr" / "zarr.json").read_bytes()
        seen_file = tmp_path / "seen.json"
        wk_run("open", str(tmp_path / "study.zarr" / "webknossos"), str(seen_file))
        # WEBKNOSSOS writing to the dataset leaves the collection's metadata alone
        wk_run("touch", str(tmp_path / "study.zarr" / "webknossos"))
        assert (tmp_path / "study.zarr" / "zarr.json").read_bytes() == root_before
        code, out, _ = cli("validate", tmp_path / "study.zarr")
        assert code == 0, out
    finally:
        server.stop()
    seen = json.loads(seen_file.read_text())
    assert seen["voxel_size"] == [0.5, 0.5, 2.0] and seen["unit"] == "nanometer"
    raw = open_image(tmp_path / "raw.ome.zarr")
    expected = {
        "raw": (raw, "color", 1),
        "cells": (raw.label("cells"), "segmentation", 1),
        "em": (open_image(tmp_path / "em.ome.zarr"), "color", 2),
        "lm": (open_image(tmp_path / "far" / "lm.ome.zarr"), "color", 1),
    }
    assert set(seen["layers"]) == set(expected)
    for name, (ours, category, ratio) in expected.items():
        layer = seen["layers"][name]
        assert layer["category"] == category and layer["dtype"] == ours.dtype.name
        assert len(layer["mags"]) == len(ours.levels)
        for mag, level in zip(layer["mags"], ours.levels, strict=True):
            z, y, x = (round(f) for f in level.factors)
            assert mag["mag"] == [x * ratio, y * ratio, z]
            theirs = np.load(mag["data"])
            np.testing.assert_array_equal(theirs.reshape(level.shape), level.read())
        if category == "segmentation":
            assert layer["largest_segment_id"] == int(ours.levels[0].read().max())

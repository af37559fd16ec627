"""``ngff convert WK_DATASET --resume``: an interrupted import of a WEBKNOSSOS dataset is
finished from its journal and ends byte for byte as an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ngffkit
from _support import cli
from ngffkit.errors import OptionError, PartialDatasetError
from ngffkit.samples import scroll_volume
from ngffkit.wk_import import convert_webknossos
from run_helpers import kill_when_journalled, ngff, tree_digest

# Small chunks and budget: the image takes many bricks, so that a kill lands mid-run.
COMMON = ("--chunks", "16", "--shards", "16", "--jobs", "2", "-q", "--max-memory", "300M")


@pytest.fixture
def dataset(tmp_path: Path, write_wk_layer: Any) -> Path:
    """A WEBKNOSSOS dataset: one color layer (256 × 256 × 512 uint8, mags 1, 2-2-1, 4-4-2)
    and a segmentation layer with its bounding box."""
    root = tmp_path / "ds"
    write_wk_layer(root, scroll_volume((256, 256, 512), "uint8", seed=3), shard=64, chunk=32)
    seg = root / "seg"
    (root / "color").rename(seg)
    write_wk_layer(root / "again", scroll_volume((256, 256, 512), "uint8", seed=3), 64, 32)
    (root / "again" / "color").rename(root / "color")
    doc = json.loads((root / "again" / "datasource-properties.json").read_text())
    layer = doc["dataLayers"][0]
    doc["dataLayers"] = [layer, {**layer, "name": "seg", "category": "segmentation"}]
    doc["dataLayers"][1]["largestSegmentId"] = 255
    (root / "datasource-properties.json").write_text(json.dumps(doc))
    return root


def test_a_killed_import_resumes_to_the_same_bytes(tmp_path: Path, dataset: Path) -> None:
    reference = tmp_path / "ref" / "img.ome.zarr"  # same name: the name is in the metadata
    done = ngff("convert", str(dataset), str(reference), *COMMON)
    assert done.wait(timeout=300) == 0, done.stderr.read() if done.stderr else ""
    assert ngffkit.open(reference).labels == ("seg",)
    out = tmp_path / "killed" / "img.ome.zarr"
    proc = ngff("convert", str(dataset), str(out), *COMMON)
    kill_when_journalled(proc, out)
    with pytest.raises(PartialDatasetError):
        ngffkit.open(out)
    again = ngff("convert", str(dataset), str(out), *COMMON)
    assert again.wait(timeout=300) == 1  # exists: refused without --resume
    resumed = ngff("convert", str(dataset), str(out), *COMMON, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read() if resumed.stderr else ""
    assert tree_digest(out) == tree_digest(reference)


def test_a_resume_keeps_a_finished_image_and_finishes_its_labels(
    tmp_path: Path, dataset: Path
) -> None:
    reference = tmp_path / "ref" / "img.ome.zarr"
    code, _, stderr = cli("convert", dataset, reference, *COMMON)
    assert code == 0, stderr
    out = tmp_path / "cut" / "img.ome.zarr"
    # The image written, then the run stopped before its label image (as a kill between them).
    convert_webknossos(dataset, out, layer="color", chunks=16, shards=16)
    kept = tree_digest(out)
    code, _, stderr = cli("convert", dataset, out, *COMMON, "--resume")
    assert code == 0, stderr
    assert ngffkit.open(out).labels == ("seg",)
    after, ref = tree_digest(out), tree_digest(reference)
    # the finished image kept as it was, its label image written as an uninterrupted run does
    assert {k: after[k] for k in kept if not k.startswith("labels")} == {
        k: v for k, v in kept.items() if not k.startswith("labels")
    }
    assert after == ref


def test_resume_and_overwrite_are_refused_together(tmp_path: Path, dataset: Path) -> None:
    with pytest.raises(OptionError, match="resume"):
        convert_webknossos(dataset, tmp_path / "x.ome.zarr", resume=True, overwrite=True)

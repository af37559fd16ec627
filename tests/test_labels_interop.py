"""A segmentation TIFF stack added with ``ngff labels add`` opens as labels in the readers
our users have (issue 15's "done when"): ome-zarr-py's Reader, napari-ome-zarr's reader,
ome-zarr-models (valid), ngff-zarr; OME-Zarr 0.4 and 0.5, sharded and not."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import zarr

import ngffkit
from _support import cli
from test_labels import SHAPE, segmentation, write_tiffs

CASES = [("0.4", None), ("0.5", None), ("0.5", "16")]


@pytest.fixture(scope="module", params=CASES, ids=["0.4", "0.5", "0.5-sharded"])
def labelled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    version, shards = request.param
    root = tmp_path_factory.mktemp("interop")
    raw = np.random.default_rng(5).integers(0, 4000, SHAPE, dtype="uint16")
    seg = segmentation()
    image = root / "img.ome.zarr"
    args = ["--format", version, "--chunks", "8", "--levels", "3", "-q"]
    args += ["--shards", shards] if shards else (["--shards", "none"] if version == "0.5" else [])
    args += ["--voxel-size", "0.5,0.5,1", "--unit", "micrometer"]
    args += ["--labels", f"cells={write_tiffs(root / 'seg', seg)}"]
    code = _run("convert", write_tiffs(root / "raw", raw), image, *args)
    assert code == 0
    return {"image": image, "seg": seg, "version": version, "shards": shards}


def _run(*args: Any) -> int:
    from ngffkit.cli._common import run_app
    from ngffkit.cli.app import app, register_commands

    register_commands()
    return run_app(app, [str(a) for a in args])


def _expected_levels(seg: np.ndarray) -> list[np.ndarray]:
    label = seg.astype(np.uint16)
    out = [label]
    from ngffkit.kernels import downsample

    for step in ((1, 2, 2), (2, 2, 2)):  # the image's pyramid for 12×40×52 at 1×0.5×0.5
        out.append(downsample(out[-1], step, "mode"))
    return out


def test_the_pyramid_is_the_images(labelled: dict[str, Any]) -> None:
    image = ngffkit.open(labelled["image"])
    label = image.label("cells")
    assert [lv.scale for lv in label.levels] == [lv.scale for lv in image.levels]
    for lv, data in zip(label.levels, _expected_levels(labelled["seg"]), strict=True):
        np.testing.assert_array_equal(lv.read(), data)
    if labelled["shards"]:
        assert label.levels[0].shards == image.levels[0].shards == (16, 16, 16)
    else:
        assert label.levels[0].shards is None


def test_ome_zarr_py_reader_sees_the_labels_node(labelled: dict[str, Any]) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    location = parse_url(str(labelled["image"]))
    assert location is not None
    nodes = list(Reader(location)())
    label_nodes = [n for n in nodes if any(isinstance(s, Label) for s in n.specs)]
    assert len(label_nodes) == 1
    node = label_nodes[0]
    for dask_level, data in zip(node.data, _expected_levels(labelled["seg"]), strict=True):
        np.testing.assert_array_equal(dask_level.compute(), data)
    colors = node.metadata["color"]
    assert sorted(colors) == [3, 7, 12, 300]
    assert len({tuple(c) for c in colors.values()}) == 4


def _version(dist: str) -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(p) for p in version(dist).split(".")[:2])


def test_napari_ome_zarr_reads_a_labels_layer(labelled: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        # napari's own deprecations (its pydantic models), first seen when it is imported
        warnings.simplefilter("ignore", DeprecationWarning)
        from napari_ome_zarr._reader import napari_get_reader

        reader = napari_get_reader(str(labelled["image"]))
        assert reader is not None
        layers = reader(str(labelled["image"]))
    kinds = [kind for _data, _kw, kind in layers]
    assert kinds == ["image", "labels"]
    data, kwargs, _ = layers[1]
    np.testing.assert_array_equal(np.asarray(data[0]), labelled["seg"])
    if _version("napari-ome-zarr") >= (0, 10):  # earlier releases pass no units to napari
        assert kwargs["units"] == ("micrometer",) * 3
    assert list(kwargs["scale"]) == [1.0, 0.5, 0.5]
    # our colours, one per value; napari-ome-zarr 0.11 adds the background (0) itself
    assert sorted(set(kwargs["colormap"]) - {0}) == [3, 7, 12, 300]


def test_ome_zarr_models_validates_the_image_and_its_labels(labelled: dict[str, Any]) -> None:
    from ome_zarr_models import open_ome_zarr

    version = labelled["version"]
    if version == "0.5":
        from ome_zarr_models.v05.image import Image
        from ome_zarr_models.v05.image_label import ImageLabel
    else:
        from ome_zarr_models.v04.image import Image
        from ome_zarr_models.v04.image_label import ImageLabel

    group = zarr.open_group(str(labelled["image"]), mode="r")
    assert isinstance(open_ome_zarr(group, version=version), Image)
    label_group = zarr.open_group(str(labelled["image"] / "labels" / "cells"), mode="r")
    assert isinstance(open_ome_zarr(label_group, version=version), ImageLabel)
    assert Image.from_zarr(group) is not None  # through the image: labels group and all


def test_ngff_zarr_reads_the_label_image(labelled: dict[str, Any]) -> None:
    import ngff_zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own deprecations, not ours
        multiscales = ngff_zarr.from_ngff_zarr(str(labelled["image"] / "labels" / "cells"))
    # the image's dims and units (the metadata classes differ between ngff-zarr releases)
    assert multiscales.images[0].dims == ("z", "y", "x")
    assert multiscales.images[0].axes_units == dict.fromkeys("zyx", "micrometer")
    levels = _expected_levels(labelled["seg"])
    assert len(multiscales.images) == len(levels)
    for image, data in zip(multiscales.images, levels, strict=True):
        np.testing.assert_array_equal(np.asarray(image.data), data)


def test_ngff_validate_strict_passes(labelled: dict[str, Any]) -> None:
    code, out, err = cli("validate", labelled["image"], "--strict")
    assert code == 0, out + err

"""``ngff labels add`` / ``ngffkit.add_labels``: a segmentation beside an image (issue 15).

Real TIFF stacks, real conversions, read back with ngffkit, zarr-python and the spec's
rules; the image itself is checked byte for byte to be untouched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import ngffkit
from _support import cli
from ngffkit.image import open_image
from ngffkit.kernels import downsample
from ngffkit.label_metadata import auto_colors
from ngffkit.label_values import (
    MAX_COLORS,
    brick_values,
    known_dtype,
    merge_values,
    scan_boxes,
)
from run_helpers import tree_digest

SHAPE = (12, 40, 52)


def segmentation(shape: tuple[int, ...] = SHAPE, dtype: str = "int32") -> np.ndarray:
    """Blocky cells (as segmentations are), a few values, one above 255."""
    lab = np.zeros(shape, dtype)
    lab[1:7, 3:25, 4:30] = 3
    lab[5:11, 20:38, 25:50] = 7
    lab[0:4, 30:40, 0:10] = 12
    lab[10:12, 0:5, 45:52] = 300
    return lab


def write_tiffs(folder: Path, data: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for z, plane in enumerate(data):
        tifffile.imwrite(folder / f"{z:05d}.tif", plane)
    return folder


@pytest.fixture
def image_and_seg(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    raw = np.random.default_rng(1).integers(0, 4000, SHAPE, dtype="uint16")
    write_tiffs(tmp_path / "raw", raw)
    image = tmp_path / "img.ome.zarr"
    code, _out, err = cli(
        "convert",
        tmp_path / "raw",
        image,
        "--voxel-size",
        "0.5,0.5,1",
        "--unit",
        "micrometer",
        "--chunks",
        "8",
        "--levels",
        "3",
        "-q",
    )
    assert code == 0, err
    seg = segmentation()
    return image, write_tiffs(tmp_path / "seg", seg), seg


def _image_files(image: Path) -> dict[str, str]:
    return tree_digest(image, skip=("labels",))


def _ome(path: Path) -> dict[str, Any]:
    if (path / "zarr.json").exists():
        return dict(json.loads((path / "zarr.json").read_text())["attributes"]["ome"])
    return dict(json.loads((path / ".zattrs").read_text()))


@pytest.mark.parametrize(
    ("version", "shards"), [("0.5", "16"), ("0.5", "none"), ("0.4", None)], ids=str
)
def test_labels_add_follows_the_image(tmp_path: Path, version: str, shards: str | None) -> None:
    raw = np.random.default_rng(2).integers(0, 4000, SHAPE, dtype="uint16")
    write_tiffs(tmp_path / "raw", raw)
    image = tmp_path / "img.ome.zarr"
    args = ["--format", version, "--chunks", "8", "--levels", "3", "-q"]
    args += ["--shards", shards] if shards else []
    args += ["--voxel-size", "0.5,0.5,1", "--unit", "micrometer"]
    code, _, err = cli("convert", tmp_path / "raw", image, *args)
    assert code == 0, err
    seg = segmentation()
    before = _image_files(image)
    code, out, err = cli(
        "labels", "add", image, write_tiffs(tmp_path / "seg", seg), "--name", "cells"
    )
    assert code == 0, err
    assert "done:" in out and "uint16" in out and "values 0..300 (5 distinct)" in out
    assert _image_files(image) == before  # the image is never written to

    img = ngffkit.open(image)
    assert img.labels == ("cells",)
    label = img.label("cells")
    assert label.dtype == np.uint16  # the smallest unsigned type for 0..300 (input int32)
    assert len(label.levels) == len(img.levels)
    expected = seg.astype(np.uint16)
    for k, (lv, im_lv) in enumerate(zip(label.levels, img.levels, strict=True)):
        assert lv.scale == im_lv.scale  # the spec's MUST
        assert lv.shape == im_lv.shape
        assert lv.chunks == im_lv.chunks and lv.shards == im_lv.shards
        assert lv.info.zarr_format == im_lv.info.zarr_format
        if k:
            step = [
                round(a / b) for a, b in zip(lv.factors, label.levels[k - 1].factors, strict=True)
            ]
            expected = downsample(expected, step, "mode")
        np.testing.assert_array_equal(lv.read(), expected)
    assert [a.unit for a in label.axes] == [a.unit for a in img.axes] == ["micrometer"] * 3
    ome = _ome(image / "labels" / "cells")
    meta = ome["image-label"]
    assert meta["source"] == {"image": "../../"}
    colors = {c["label-value"]: tuple(c["rgba"]) for c in meta["colors"]}
    assert sorted(colors) == [3, 7, 12, 300]  # one per value found, none for the background
    assert len(set(colors.values())) == 4
    assert _ome(image / "labels")["labels"] == ["cells"]
    if version == "0.4":
        assert meta["version"] == "0.4"
    report = ngffkit.validate(image, strict=True)
    assert report.valid, [str(p) for p in report.problems]
    # info lists the label image with its levels and values
    code, out, _ = cli("info", image)
    assert "cells: 3 levels, uint16" in out and "values 0..300 (5 distinct)" in out


def test_overwrite_replaces_that_label_only(
    image_and_seg: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    image, seg_dir, _seg = image_and_seg
    assert cli("labels", "add", image, seg_dir, "--name", "cells", "-q")[0] == 0
    assert cli("labels", "add", image, seg_dir, "--name", "nuclei", "-q")[0] == 0
    code, _, err = cli("labels", "add", image, seg_dir, "--name", "cells", "-q")
    assert code == 1 and "already exists" in err and "--overwrite" in err
    before = _image_files(image)
    nuclei = tree_digest(image / "labels" / "nuclei")
    other = np.zeros(SHAPE, np.uint8)
    other[2:5, 2:5, 2:5] = 9
    code, _, err = cli(
        "labels",
        "add",
        image,
        write_tiffs(tmp_path / "other", other),
        "--name",
        "cells",
        "--overwrite",
        "-q",
    )
    assert code == 0, err
    assert _image_files(image) == before
    assert tree_digest(image / "labels" / "nuclei") == nuclei
    img = ngffkit.open(image)
    assert img.labels == ("cells", "nuclei")  # its place in the list is kept
    label = img.label("cells")
    assert label.dtype == np.uint8
    np.testing.assert_array_equal(label.levels[0].read(), other)


@pytest.mark.parametrize(
    ("make", "args", "words"),
    [
        (lambda: -segmentation(), [], ["negative label values", "-300"]),
        (lambda: segmentation().astype("float32") + 0.5, [], ["non-integral", "0.5"]),
        (lambda: segmentation((12, 40, 50)), [], ["12×40×50", "12×40×52"]),
        (segmentation, ["--method", "mean"], ["--method", "mode"]),
        (segmentation, ["--dtype", "uint8"], ["--dtype", "300", "uint8"]),
        (segmentation, ["--dtype", "int64"], ["--dtype", "int64"]),
        (segmentation, ["--name", "a/b"], ["--name", "a/b"]),
    ],
    ids=["negative", "fractions", "shape", "mean", "dtype-small", "int64", "name"],
)
def test_bad_labels_are_refused_and_nothing_is_written(
    image_and_seg: tuple[Path, Path, np.ndarray],
    tmp_path: Path,
    make: Any,
    args: list[str],
    words: list[str],
) -> None:
    image, _, _ = image_and_seg
    before = tree_digest(image)
    bad = write_tiffs(tmp_path / "bad", make())
    name = [] if "--name" in args else ["--name", "cells"]
    code, _, err = cli("labels", "add", image, bad, *name, *args)
    assert code in (1, 2), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    assert tree_digest(image) == before


def test_ranges_crop_a_larger_segmentation(
    image_and_seg: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    image, _, seg = image_and_seg
    big = np.zeros((14, 45, 60), np.uint32)
    big[1:13, 5:45, 8:60] = seg
    code, _, err = cli(
        "labels",
        "add",
        image,
        write_tiffs(tmp_path / "big", big),
        "--name",
        "cells",
        "--ranges",
        "8:60,5:45,1:13",
        "-q",
    )
    assert code == 0, err
    np.testing.assert_array_equal(ngffkit.open(image).label("cells").levels[0].read(), seg)


def test_colors_and_properties_from_csv(
    image_and_seg: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    image, seg_dir, _ = image_and_seg
    (tmp_path / "colors.csv").write_text("label-value,r,g,b,a\n3,255,0,0,255\n7,0,255,0\n")
    (tmp_path / "cells.csv").write_text("label-value,type,volume\n3,neuron,12.5\n7,glia,3\n")
    code, _, err = cli(
        "labels",
        "add",
        image,
        seg_dir,
        "--name",
        "cells",
        "--colors",
        tmp_path / "colors.csv",
        "--properties",
        tmp_path / "cells.csv",
        "-q",
    )
    assert code == 0, err
    meta = _ome(image / "labels" / "cells")["image-label"]
    assert meta["colors"] == [
        {"label-value": 3, "rgba": [255, 0, 0, 255]},
        {"label-value": 7, "rgba": [0, 255, 0, 255]},
    ]
    assert meta["properties"] == [
        {"label-value": 3, "type": "neuron", "volume": 12.5},
        {"label-value": 7, "type": "glia", "volume": 3},
    ]
    code, _, err = cli("labels", "add", image, seg_dir, "--name", "plain", "--colors", "none", "-q")
    assert code == 0, err
    assert "colors" not in _ome(image / "labels" / "plain")["image-label"]
    (tmp_path / "broken.csv").write_text("id,type\n3,neuron\n")
    code, _, err = cli(
        "labels",
        "add",
        image,
        seg_dir,
        "--name",
        "x",
        "--properties",
        tmp_path / "broken.csv",
    )
    assert code == 1 and "broken.csv" in err and "label-value" in err


def test_dry_run_writes_nothing(image_and_seg: tuple[Path, Path, np.ndarray]) -> None:
    image, seg_dir, _ = image_and_seg
    before = tree_digest(image)
    code, out, err = cli("labels", "add", image, seg_dir, "--name", "cells", "--dry-run")
    assert code == 0, err
    assert "labels/cells" in out and "method mode" in out and "levels:" in out
    assert tree_digest(image) == before


def test_python_api_with_an_array_and_a_channel_image(tmp_path: Path, make_image: Any) -> None:
    made = make_image(tmp_path / "czyx.ome.zarr", axes="czyx", shape=(2, 12, 40, 52), levels=2)
    image = ngffkit.open(tmp_path / "czyx.ome.zarr")
    seg = segmentation()[np.newaxis]  # c = 1
    label = image.add_labels("cells", seg, colors={3: (255, 0, 0), 7: (0, 0, 255, 128)})
    assert image.labels == ("cells",)
    assert label.axis_names == ("c", "z", "y", "x") and label.shape == (1, *SHAPE)
    assert label.dtype == np.uint16
    np.testing.assert_array_equal(label.levels[0].read(), seg)
    assert [lv.scale for lv in label.levels] == [lv.scale for lv in image.levels]
    colors = {c.label_value: c.rgba for c in label.image_label.colors}  # type: ignore[union-attr]
    assert colors == {3: (255, 0, 0, 255), 7: (0, 0, 255, 128)}
    assert made["spec"].axis_names == ("c", "z", "y", "x")
    report = ngffkit.validate(tmp_path / "czyx.ome.zarr", strict=True)
    assert report.valid, [str(p) for p in report.problems]


def test_a_zyx_stack_labels_a_channel_image(tmp_path: Path, make_image: Any) -> None:
    make_image(tmp_path / "czyx.ome.zarr", axes="czyx", shape=(2, 12, 40, 52), levels=2)
    seg = segmentation()
    code, _, err = cli(
        "labels",
        "add",
        tmp_path / "czyx.ome.zarr",
        write_tiffs(tmp_path / "seg", seg),
        "--name",
        "cells",
        "-q",
    )
    assert code == 0, err
    label = ngffkit.open(tmp_path / "czyx.ome.zarr").label("cells")
    assert label.shape == (1, *SHAPE)
    np.testing.assert_array_equal(label.levels[0].read()[0], seg)


def test_zarr_python_reads_the_label_image(image_and_seg: tuple[Path, Path, np.ndarray]) -> None:
    image, seg_dir, seg = image_and_seg
    assert cli("labels", "add", image, seg_dir, "--name", "cells", "-q")[0] == 0
    group = zarr.open_group(str(image / "labels" / "cells"), mode="r")
    np.testing.assert_array_equal(group["0"][...], seg)
    assert group["0"].metadata.dimension_names == ("z", "y", "x")


# -- the pure parts -------------------------------------------------------------------------


def test_brick_values_and_the_colour_cap() -> None:
    lo, hi, distinct = brick_values(np.array([[0, 5], [5, 9]], np.uint16), "x")
    assert (lo, hi, list(distinct)) == (0, 9, [0, 5, 9])
    lo, hi, distinct = brick_values(np.array([2.0, 4.0, 2.0]), "x")
    assert (lo, hi, list(distinct)) == (2, 4, [2, 4])
    parts = [brick_values(np.arange(i, i + 10, dtype=np.uint64), "x") for i in range(0, 100, 10)]
    merged = merge_values(iter(parts), cap=50)
    assert (merged.min, merged.max, merged.values) == (0, 99, None)  # over the cap: no list
    merged = merge_values(iter(parts), cap=200)
    assert merged.values == tuple(range(100))
    assert MAX_COLORS >= 1000


def test_scan_boxes_tile_the_region_within_the_limit() -> None:
    region = [(2, 13), (0, 40), (5, 52)]
    boxes = list(scan_boxes(region, 4, 4 * 5 * 40 * 47))
    covered = np.zeros((13, 40, 52), int)
    for box in boxes:
        assert np.prod([s.stop - s.start for s in box]) * 4 <= 4 * 5 * 40 * 47
        covered[box] += 1
    assert covered[2:13, :, 5:].min() == 1 and covered.max() == 1
    assert covered[:2].sum() == 0 and covered[:, :, :5].sum() == 0


def test_auto_colors_are_distinct() -> None:
    colors = auto_colors(range(0, 3001))
    assert 0 not in colors and len(colors) == 3000
    assert len({c[:3] for c in colors.values()}) == 3000
    assert all(c[3] == 255 for c in colors.values())


def test_convert_with_labels_writes_both(tmp_path: Path) -> None:
    raw = np.random.default_rng(3).integers(0, 4000, SHAPE, dtype="uint16")
    seg = segmentation()
    out = tmp_path / "img.ome.zarr"
    code, stdout, err = cli(
        "convert",
        write_tiffs(tmp_path / "raw", raw),
        out,
        "--voxel-size",
        "0.5,0.5,1",
        "--unit",
        "micrometer",
        "--chunks",
        "8",
        "--labels",
        f"cells={write_tiffs(tmp_path / 'seg', seg)}",
        "--labels",
        f"blobs={tmp_path / 'seg'}",
        "-q",
    )
    assert code == 0, err
    assert stdout.count("done:") == 3
    img = ngffkit.open(out)
    assert img.labels == ("cells", "blobs")
    for name in img.labels:
        label = img.label(name)
        assert len(label.levels) == len(img.levels)
        np.testing.assert_array_equal(label.levels[0].read(), seg)
    # a rerun with --resume finds the image and its labels complete and leaves them be
    before = tree_digest(out)
    code, _, err = cli(
        "convert",
        tmp_path / "raw",
        out,
        "--labels",
        f"cells={tmp_path / 'seg'}",
        "--resume",
    )
    assert code == 0, err
    assert tree_digest(out) == before
    code, _, err = cli("convert", tmp_path / "raw", tmp_path / "x.zarr", "--labels", "cells")
    assert code == 2 and "--labels" in err and "NAME=INPUT" in err


def test_killed_labels_add_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    from ngffkit.samples import scroll_volume
    from run_helpers import kill_when_journalled, ngff

    shape = (48, 160, 192)
    raw = scroll_volume(shape, "uint16", seed=2)
    seg = (raw // 600).astype(np.uint32) * 7  # blocky-ish labels with many runs
    write_tiffs(tmp_path / "raw", raw)
    write_tiffs(tmp_path / "seg", seg)
    slow = ["--chunks", "8", "--shards", "8", "--compression", "gzip:9", "--levels", "3"]
    images = {}
    for run in ("ref", "killed"):
        images[run] = tmp_path / run / "img.ome.zarr"
        done = ngff("convert", str(tmp_path / "raw"), str(images[run]), *slow, "-q")
        assert done.wait(timeout=300) == 0
    add = ["labels", "add"]
    args = [str(tmp_path / "seg"), "--name", "cells", "--jobs", "1"]
    done = ngff(*add, str(images["ref"]), *args)
    assert done.wait(timeout=300) == 0, done.stderr.read() if done.stderr else ""
    proc = ngff(*add, str(images["killed"]), *args)
    label = images["killed"] / "labels" / "cells"
    kill_when_journalled(proc, label)
    assert ngffkit.open(images["killed"]).labels == ()  # not listed while partial
    again = ngff(*add, str(images["killed"]), *args)
    assert again.wait(timeout=300) == 1  # refused: an interrupted run is there
    resumed = ngff(*add, str(images["killed"]), *args, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read() if resumed.stderr else ""
    assert tree_digest(images["killed"] / "labels") == tree_digest(images["ref"] / "labels")
    assert ngffkit.open(images["killed"]).labels == ("cells",)


def test_labels_add_on_a_local_dask_cluster_is_byte_identical(tmp_path: Path) -> None:
    from run_helpers import ngff

    raw = np.random.default_rng(6).integers(0, 4000, SHAPE, dtype="uint16")
    write_tiffs(tmp_path / "raw", raw)
    write_tiffs(tmp_path / "seg", segmentation())
    images = {}
    for run in ("threads", "dask"):
        images[run] = tmp_path / run / "img.ome.zarr"
        done = ngff("convert", str(tmp_path / "raw"), str(images[run]), "--chunks", "8", "-q")
        assert done.wait(timeout=300) == 0
    args = [str(tmp_path / "seg"), "--name", "cells"]
    done = ngff("labels", "add", str(images["threads"]), *args)
    assert done.wait(timeout=300) == 0
    proc = ngff("labels", "add", str(images["dask"]), *args, "--executor", "dask", "--jobs", "2")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "dask: local cluster tcp://127.0.0.1:" in stderr and "done:" in stdout
    assert tree_digest(images["dask"] / "labels") == tree_digest(images["threads"] / "labels")


def test_known_dtype_skips_the_scan_only_where_no_value_can_change() -> None:
    u8, u16, u32 = np.dtype("uint8"), np.dtype("uint16"), np.dtype("uint32")
    assert known_dtype(u8, None, largest=None, colors_auto=False) == u8  # already the smallest
    assert known_dtype(u8, None, largest=None, colors_auto=True) is None  # colours need values
    assert known_dtype(u16, None, largest=None, colors_auto=False) is None  # uint8 might do
    assert known_dtype(u16, "uint32", largest=None, colors_auto=False) == u32  # a widening
    assert known_dtype(u32, "uint16", largest=None, colors_auto=False) is None  # a narrowing
    assert known_dtype(u32, None, largest=5, colors_auto=True) == u32  # stated: keep the type
    assert known_dtype(u32, "uint8", largest=5, colors_auto=True) is None  # trust no statement
    assert known_dtype(np.dtype("int16"), "uint32", largest=5, colors_auto=False) is None


def test_labels_add_without_the_scan_keeps_every_value(
    image_and_seg: tuple[Path, Path, np.ndarray],
) -> None:
    image, _, seg = image_and_seg
    seg16 = write_tiffs(image.parent / "seg16", seg.astype(np.uint16))
    code, out, err = cli(
        "labels", "add", image, seg16, "--name", "wide", "--dtype", "uint32", "--colors", "none"
    )
    assert code == 0, err
    assert "reading the label values" not in err  # the type holds every value: no scan
    assert "(3 levels, uint32, 0 colours)" in out  # no value range: none was measured
    label = open_image(image).label("wide")
    assert label.dtype == np.uint32
    np.testing.assert_array_equal(label.levels[0].read(), seg)
    code, _, err = cli("labels", "add", image, seg16, "--name", "auto")
    assert code == 0, err
    assert "reading the label values" in err  # the smallest type and the colours need them
    assert open_image(image).label("auto").dtype == np.uint16

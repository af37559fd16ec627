"""The ``omero`` rendering block: the pure rules (colours, window, sample boxes) and the block
every converted image carries, read by the real readers (ome-zarr-models, ome-zarr-py) and
by ``ngff validate --strict``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import ngffkit
from ngffkit.metadata.models import ChannelInfo
from ngffkit.omero import channel_samples, measure_windows
from ngffkit.rendering import (
    CHANNEL_COLORS,
    channel_colors,
    omero_block,
    percentiles,
    sample_regions,
    window,
)

# ------------------------------------------------------------------------------ pure rules


def test_colours_white_for_one_distinct_for_many_given_kept() -> None:
    assert channel_colors(1) == ["FFFFFF"]
    assert channel_colors(3) == ["FF0000", "00FF00", "0000FF"]
    many = channel_colors(12)
    assert many[:7] == list(CHANNEL_COLORS) and len(set(many)) == 12
    assert channel_colors(2, ["#00ff00", None]) == ["00FF00", "00FF00"]
    assert channel_colors(1, ["ff00ff"]) == ["FF00FF"]


def test_window_integers_span_the_dtype_percentiles_inside() -> None:
    sample = np.arange(1000, dtype=np.uint16)
    w = window(sample, "uint16")
    assert (w.min, w.max) == (0, 65535)
    assert (w.start, w.end) == pytest.approx(tuple(np.percentile(sample, [0.5, 99.5])))
    w = window(np.array([-5, 7], dtype=np.int8), "int8")
    assert (w.min, w.max) == (-128, 127)
    # constant data is widened so that end > start, within the dtype
    w = window(np.full(10, 255, np.uint8), "uint8")
    assert (w.start, w.end) == (254, 255)
    w = window(np.zeros(10, np.uint8), "uint8")
    assert (w.start, w.end) == (0, 1)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("n", [1, 2, 7, 1000, 100_003])
def test_percentiles_are_numpys_linear_method(dtype: str, n: int) -> None:
    """Diffed against np.percentile where its interpolation cannot wrap (neighbours close)."""
    rng = np.random.default_rng(n)
    sample = (rng.normal(100, 20, n)).astype(dtype)
    qs = (0, 0.1, 0.5, 37.3, 50, 99.5, 99.9, 100)
    want = np.percentile(sample.astype(np.float64), qs)
    assert percentiles(sample, qs) == pytest.approx(tuple(want), rel=1e-12, abs=0)
    assert percentiles(sample.copy(), qs) == percentiles(sample[::-1].copy(), qs)


def test_percentiles_interpolate_where_numpy_wraps() -> None:
    """np.percentile subtracts neighbours in the sample's dtype: int8 -100 and 100 give 128."""
    wide = np.array([-100, 100], dtype=np.int8)
    assert percentiles(wide, (50,)) == (0.0,)
    assert percentiles(np.array([0, 60000], np.uint16), (0.5, 99.5)) == (300.0, 59700.0)
    assert window(wide, "int8").start == pytest.approx(-99.0)
    with pytest.raises(ValueError, match="empty"):
        percentiles(np.array([], np.uint8), (50,))


def test_window_floats_span_the_data_and_skip_nan() -> None:
    sample = np.linspace(-2, 3, 1001, dtype=np.float32)
    sample[0] = np.nan
    w = window(sample, "float32")
    assert w.min == pytest.approx(sample[1]) and w.max == pytest.approx(3)
    assert -2 < w.start < w.end < 3
    empty = window(np.array([np.nan], np.float32), "float32")
    assert (empty.start, empty.end, empty.min, empty.max) == (0, 1, 0, 1)
    flat = window(np.full(4, 5.0), "float64")
    assert flat.end > flat.start == 5.0 and flat.max >= flat.end


def test_block_labels_and_version() -> None:
    w = window(np.arange(10, dtype=np.uint8), "uint8")
    one = omero_block([w], name="scan", version="0.5")
    assert one.version is None and one.channels[0].label == "scan"
    assert one.channels[0].color == "FFFFFF" and one.channels[0].active is True
    two = omero_block([w, w], channels=[ChannelInfo(label="DAPI")], version="0.4")
    assert two.version == "0.4"
    assert [c.label for c in two.channels] == ["DAPI", "Channel 1"]
    assert [c.color for c in two.channels] == ["FF0000", "00FF00"]


@pytest.mark.parametrize(
    ("shape", "kinds"),
    [
        ((4, 3, 50, 60, 70), ("time", "channel", "space", "space", "space")),
        ((200, 300, 400), ("space", "space", "space")),
        ((3, 5000, 6000), ("channel", "space", "space")),
        ((1, 2, 3), ("space", "space", "space")),
    ],
)
def test_sample_regions_stay_in_budget(shape: tuple[int, ...], kinds: tuple[str, ...]) -> None:
    budget = 100_000
    regions = sample_regions(shape, kinds, budget)
    total = 0
    for region in regions:
        assert len(region) == len(shape)
        for sl, extent in zip(region, shape, strict=True):
            assert 0 <= sl.start < sl.stop <= extent
        # every box holds all channels
        for sl, extent, kind in zip(region, shape, kinds, strict=True):
            if kind == "channel":
                assert (sl.start, sl.stop) == (0, extent)
        total += math.prod(sl.stop - sl.start for sl in region)
    assert total <= max(budget, math.prod(shape) if math.prod(shape) <= budget else budget)
    if math.prod(shape) <= budget:
        assert regions == [tuple(slice(0, s) for s in shape)]
    else:
        assert 1 < len(regions) <= 64 or shape == (3, 5000, 6000)


# ------------------------------------------------------------------------------ written images

DATA = np.random.default_rng(3).integers(100, 4000, (2, 24, 64, 64), dtype=np.uint16)


def _two_channel_tiff(path: Path) -> Path:
    tifffile.imwrite(path, DATA.transpose(1, 0, 2, 3), ome=True, metadata={"axes": "ZCYX"})
    return path


def _attrs(path: Path, version: str) -> dict[str, Any]:
    if version == "0.5":
        doc: dict[str, Any] = json.loads((path / "zarr.json").read_text())["attributes"]["ome"]
        return doc
    result: dict[str, Any] = json.loads((path / ".zattrs").read_text())
    return result


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_convert_writes_omero_per_channel(tmp_path: Path, version: str) -> None:
    out = tmp_path / "two.ome.zarr"
    ngffkit.convert(
        _two_channel_tiff(tmp_path / "in.ome.tif"), out, version=version, levels=2, chunks=16,
        voxel_size=1, unit="micrometer",
    )  # fmt: skip
    omero = _attrs(out, version)["omero"]
    assert ("version" in omero) == (version == "0.4")
    channels = omero["channels"]
    assert [c["color"] for c in channels] == ["FF0000", "00FF00"]
    assert [c["label"] for c in channels] == ["Channel 0", "Channel 1"]
    assert all(c["active"] is True for c in channels)
    image = ngffkit.open(out)
    coarse = image.levels[-1].read()
    assert coarse.shape[0] == 2
    for c, entry in enumerate(channels):
        w = entry["window"]
        assert (w["min"], w["max"]) == (0, 65535)
        lo, hi = np.percentile(coarse[c], [0.5, 99.5])
        assert (w["start"], w["end"]) == pytest.approx((lo, hi))
    # the real readers
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models import open_ome_zarr
    from ome_zarr_models.v04.omero import Omero as ModelsOmero

    model: Any = open_ome_zarr(zarr.open_group(str(out), mode="r"), version=version)  # type: ignore[arg-type]
    if version == "0.4":  # validated as part of the image
        assert len(model.attributes.omero.channels) == 2
    # 0.5 keeps omero as an unchecked extra: the same model checks it there
    assert len(ModelsOmero.model_validate(omero).channels) == 2
    location = parse_url(str(out))
    assert location is not None
    node = next(iter(Reader(location)()))
    assert node.metadata["channel_names"] == ["Channel 0", "Channel 1"]
    assert node.metadata["contrast_limits"] == [
        [c["window"]["start"], c["window"]["end"]] for c in channels
    ]
    report = ngffkit.validate(out, strict=True)
    assert report.valid, [str(p) for p in report.problems]


def test_convert_one_channel_white_named_after_the_image(tmp_path: Path) -> None:
    src = tmp_path / "s.tif"
    data = np.random.default_rng(1).random((8, 32, 32)).astype(np.float32) * 10 - 3
    tifffile.imwrite(src, data)
    out = tmp_path / "scan.ome.zarr"
    ngffkit.convert(src, out, levels=1, voxel_size=1, unit="micrometer")
    (channel,) = _attrs(out, "0.5")["omero"]["channels"]
    assert channel["color"] == "FFFFFF" and channel["label"] == "scan"
    w = channel["window"]
    assert w["min"] == pytest.approx(float(data.min())) and w["max"] == pytest.approx(data.max())
    assert w["start"] == pytest.approx(np.percentile(data, 0.5), rel=1e-5)
    assert ngffkit.validate(out, strict=True).valid


def test_time_points_pooled_and_memory_bounded(tmp_path: Path) -> None:
    # A t,c,z,y,x image whose two time points differ: both are in the sample.
    spec = ngffkit.pyramid_spec((2, 1, 4, 16, 16), "uint8", axes="tczyx", chunks=8,
                                unit="micrometer")  # fmt: skip
    image = ngffkit.create_image(tmp_path / "t.zarr", spec)
    data = np.zeros((2, 1, 4, 16, 16), np.uint8)
    data[1] = 200
    image.levels[0].write(data)
    ngffkit.finish_image(tmp_path / "t.zarr", spec)
    opened = ngffkit.open(tmp_path / "t.zarr")
    (sample,) = channel_samples(opened)
    assert sample.size == data.size and {0, 200} == set(np.unique(sample))
    (small,) = channel_samples(opened, budget=64)
    assert 0 < small.size <= 64
    (w,) = measure_windows(opened)
    assert (w.start, w.end) == pytest.approx(tuple(np.percentile(data, [0.5, 99.5])))


# ------------------------------------------------------------------------------ rewritten images


def _bare_image(path: Path, version: str = "0.5") -> np.ndarray:
    """A 2-level image written with the building blocks and no omero block."""
    data = np.random.default_rng(9).integers(0, 1000, (8, 32, 32), dtype=np.uint16)
    spec = ngffkit.pyramid_spec(
        data.shape, "uint16", levels=2, chunks=16, unit="micrometer", version=version, name="img"
    )
    image = ngffkit.create_image(path, spec)
    image.levels[0].write(data)
    image.levels[1].write(data[::2, ::2, ::2])
    ngffkit.finish_image(path, spec)
    assert ngffkit.open(path).omero is None
    return data


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_downsample_rebuild_adds_a_missing_block_and_keeps_one(
    tmp_path: Path, version: str
) -> None:
    path = tmp_path / "img.zarr"
    _bare_image(path, version)
    ngffkit.downsample(path, from_level=0, levels=3, rebuild=True)
    image = ngffkit.open(path)
    assert image.omero is not None and len(image.levels) == 3
    (w,) = measure_windows(image)
    assert image.omero.channels[0].window == w  # measured on the new coarsest level
    assert ("version" in _attrs(path, version)["omero"]) == (version == "0.4")
    # a block already there (perhaps tuned by hand) is kept as it was
    tuned = _attrs(path, version)["omero"]
    tuned["channels"][0]["window"]["start"] = 7
    meta = path / ("zarr.json" if version == "0.5" else ".zattrs")
    doc = json.loads(meta.read_text())
    (doc["attributes"]["ome"] if version == "0.5" else doc)["omero"] = tuned
    meta.write_text(json.dumps(doc))
    ngffkit.downsample(path, from_level=0, levels=2, rebuild=True)
    assert _attrs(path, version)["omero"] == tuned
    assert ngffkit.validate(path, strict=True).valid


def test_compress_gives_an_image_without_one_a_block(tmp_path: Path) -> None:
    src, out = tmp_path / "old.zarr", tmp_path / "new.zarr"
    data = _bare_image(src, "0.4")
    ngffkit.compress(src, output=out, version="0.5")
    (channel,) = _attrs(out, "0.5")["omero"]["channels"]
    assert channel["window"]["start"] == pytest.approx(np.percentile(data[::2, ::2, ::2], 0.5))
    assert ngffkit.open(src).omero is None  # the input is never touched
    np.testing.assert_array_equal(ngffkit.open(out).levels[0].read(), data)
    # in place, a block that is there is carried over (0.4 -> 0.5 drops its version)
    ngffkit.compress(out, version="0.4")
    assert _attrs(out, "0.4")["omero"]["channels"] == [channel]

"""Interoperability, both directions, with the real third-party libraries (no mocks).

Into ngffkit: images written by zarr-python 3 (v3 sharded, v2 with "/" and "."), by
ome-zarr-py 0.18 (0.4 and 0.5, with labels) and in the WEBKNOSSOS layout (c,x,y,z axes, mag
paths, transpose codec, padded shapes) are opened and read by ``ngffkit.open``.

Out of ngffkit: images written with ``pyramid_spec`` / ``create_image`` / ``Level.write`` /
``finish_image`` (0.4 and 0.5, sharded and not, with and without labels) are opened by
zarr-python, ome-zarr-py's Reader and tensorstore, and validated by ome-zarr-models and by
the spec's own JSON schemas.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts
import zarr

import ngffkit
from ngffkit.info import describe
from ngffkit.metadata import ImageLabel
from ngffkit.metadata.schema import schema_findings

UM = "micrometer"
LEVEL_SCALES = [(2.0, 0.5, 0.5), (4.0, 1.0, 1.0), (8.0, 2.0, 2.0)]


def _pyramid(data: np.ndarray, n: int = 3) -> list[np.ndarray]:
    out = [data]
    for _ in range(n - 1):
        out.append(out[-1][..., ::2, ::2, ::2])
    return out


def _axes(names: str) -> list[dict[str, str]]:
    return [{"name": n, "type": "space", "unit": UM} for n in names]


def _datasets(paths: list[str], scales: list[tuple[float, ...]]) -> list[dict[str, Any]]:
    return [
        {"path": p, "coordinateTransformations": [{"type": "scale", "scale": list(s)}]}
        for p, s in zip(paths, scales, strict=True)
    ]


# ============================================================================================
# Into ngffkit
# ============================================================================================

DATA_ZYX = np.random.default_rng(7).integers(0, 60000, (20, 64, 64), dtype=np.uint16)


@pytest.mark.parametrize("key_encoding", ["default", "v2"])
def test_reads_zarr_python_v3_sharded_05(tmp_path: Path, key_encoding: str) -> None:
    """Zarr v3 allows either chunk key encoding; 0.5 does not restrict it."""
    path = tmp_path / "zp3.ome.zarr"
    encoding = {"name": "v2", "separator": "."} if key_encoding == "v2" else {"name": "default"}
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    levels = _pyramid(DATA_ZYX)
    for i, data in enumerate(levels):
        array = group.create_array(
            str(i),
            shape=data.shape,
            dtype=data.dtype,
            chunks=(8, 16, 16),
            shards=(16, 32, 32) if i == 0 else None,
            compressors=[zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")],
            dimension_names=("z", "y", "x"),
            fill_value=0,
            chunk_key_encoding=encoding,
        )
        array[...] = data
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": "by-hand",
                "axes": _axes("zyx"),
                "datasets": _datasets(["0", "1", "2"], LEVEL_SCALES),
            }
        ],
    }

    with warnings.catch_warnings():
        warnings.simplefilter("error", ngffkit.NgffWarning)  # nothing to read leniently
        image = ngffkit.open(path)
    assert image.version == "0.5" and image.zarr_format == 3
    assert image.name == "by-hand"
    assert image.axis_names == ("z", "y", "x")
    assert image.units == {"z": UM, "y": UM, "x": UM}
    assert image.voxel_size == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert image.dtype == np.uint16
    assert [lv.shape for lv in image.levels] == [d.shape for d in levels]
    assert [lv.scale for lv in image.levels] == LEVEL_SCALES
    assert [lv.factors for lv in image.levels] == [(1, 1, 1), (2, 2, 2), (4, 4, 4)]
    level0 = image.levels[0]
    assert level0.chunks == (8, 16, 16) and level0.shards == (16, 32, 32)
    assert image.levels[1].chunks == (8, 16, 16) and image.levels[1].shards is None
    assert level0.compression == "blosc-zstd:5(shuffle)"
    assert level0.info.dimension_names == ("z", "y", "x")
    assert level0.info.separator == ("." if key_encoding == "v2" else "/")
    assert (path / "0" / ("0.0.0" if key_encoding == "v2" else "c/0/0/0")).exists()
    for level, data in zip(image.levels, levels, strict=True):
        np.testing.assert_array_equal(level.read(), data)
    # regions, numpy indexing, absolute (level-0) boxes
    np.testing.assert_array_equal(
        image.read(0, (3, 10, 20), (5, 30, 17)), DATA_ZYX[3:8, 10:40, 20:37]
    )
    np.testing.assert_array_equal(image.levels[1][2, 5:9, ...], levels[1][2, 5:9, :])
    np.testing.assert_array_equal(
        image.read(1, (4, 8, 8), (8, 16, 16), absolute=True), levels[1][2:6, 4:12, 4:12]
    )


@pytest.mark.parametrize("separator", ["/", "."])
def test_reads_zarr_python_v2_04(tmp_path: Path, separator: str) -> None:
    path = tmp_path / "zp2.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    levels = _pyramid(DATA_ZYX)
    for i, data in enumerate(levels):
        array = group.create_array(
            str(i),
            shape=data.shape,
            dtype=data.dtype,
            chunks=(8, 16, 16),
            chunk_key_encoding={"name": "v2", "separator": separator},
            compressors=None if i == 2 else "auto",
        )
        array[...] = data
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "name": "v2",
            "axes": _axes("zyx"),
            "datasets": _datasets(["0", "1", "2"], LEVEL_SCALES),
        }
    ]
    # the chunk keys really are spelled with the separator
    assert (path / "0" / ("1/1/1" if separator == "/" else "1.1.1")).exists()

    image = ngffkit.open(path)
    assert image.version == "0.4" and image.zarr_format == 2
    assert image.axis_names == ("z", "y", "x") and image.units["x"] == UM
    assert [lv.scale for lv in image.levels] == LEVEL_SCALES
    for level, data in zip(image.levels, levels, strict=True):
        assert level.info.separator == separator
        assert level.chunks == tuple(
            min(c, s) for c, s in zip((8, 16, 16), (8, 16, 16), strict=True)
        )
        assert level.shards is None
        np.testing.assert_array_equal(level.read(), data)
    assert image.levels[0].compression != "none"  # zarr-python's default compressor
    assert image.levels[2].compression == "none"
    np.testing.assert_array_equal(image.read(0, (1, 2, 3), (9, 17, 33)), DATA_ZYX[1:10, 2:19, 3:36])
    report = ngffkit.validate(path)
    assert report.valid, report.problems
    if separator == ".":
        assert any("dimension_separator" in w.message for w in report.warnings)


def test_reads_the_spec_example_with_top_level_transform_and_omero(tmp_path: Path) -> None:
    """The spec's own 0.4 multiscales example (t,c,z,y,x, a top-level scale on t, type and
    metadata) plus omero channels, written with zarr-python v2."""
    path = tmp_path / "spec-example.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = np.random.default_rng(9).integers(0, 4000, (2, 2, 8, 32, 32), dtype=np.uint16)
    levels = [data, data[:, :, ::2, ::2, ::2], data[:, :, ::4, ::4, ::4]]
    for i, d in enumerate(levels):
        group.create_array(
            str(i),
            data=d,
            chunks=(1, 1, 8, 16, 16),
            chunk_key_encoding={"name": "v2", "separator": "/"},
        )
    axes = [
        {"name": "t", "type": "time", "unit": "millisecond"},
        {"name": "c", "type": "channel"},
        *_axes("zyx"),
    ]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "name": "example",
            "axes": axes,
            "datasets": _datasets(
                ["0", "1", "2"],
                [(1.0, 1.0, 0.5, 0.5, 0.5), (1.0, 1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 2.0, 2.0, 2.0)],
            ),
            "coordinateTransformations": [{"type": "scale", "scale": [0.1, 1.0, 1.0, 1.0, 1.0]}],
            "type": "gaussian",
            "metadata": {
                "description": "the fourth dimension",
                "method": "skimage",
                "version": "0.16.1",
            },
        }
    ]
    window = {"start": 0, "end": 1500, "min": 0, "max": 65535}
    group.attrs["omero"] = {
        "channels": [
            {"color": "00FF00", "label": "GFP", "window": window, "active": True},
            {"color": "FF00FF", "label": "DAPI", "window": window, "active": True},
        ]
    }
    image = ngffkit.open(path)
    assert image.axis_names == ("t", "c", "z", "y", "x")
    assert image.method == "gaussian"
    assert [lv.scale for lv in image.levels] == [
        (0.1, 1.0, 0.5, 0.5, 0.5),
        (0.1, 1.0, 1.0, 1.0, 1.0),
        (0.1, 1.0, 2.0, 2.0, 2.0),
    ]
    assert [lv.factors for lv in image.levels][2] == (1.0, 1.0, 4.0, 4.0, 4.0)
    assert image.voxel_size == {"z": 0.5, "y": 0.5, "x": 0.5}
    assert image.omero is not None and [c.label for c in image.omero.channels] == ["GFP", "DAPI"]
    for level, d in zip(image.levels, levels, strict=True):
        np.testing.assert_array_equal(level.read(), d)
    np.testing.assert_array_equal(image.levels[0][1, 0, 3], data[1, 0, 3])
    described = ngffkit.describe(path)
    assert described["channels"] == ["GFP", "DAPI"]
    assert described["levels"][0]["scale"] == [0.1, 1.0, 0.5, 0.5, 0.5]
    report = ngffkit.validate(path, strict=True)
    assert report.valid, [str(p) for p in report.problems]


# -- ome-zarr-py ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["0.4", "0.5"])
def ome_zarr_py_image(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image, write_labels

    version = request.param
    fmt = FormatV05() if version == "0.5" else FormatV04()
    path = tmp_path_factory.mktemp("omezarrpy") / f"img-{version}.ome.zarr"
    rng = np.random.default_rng(3)
    data = rng.integers(0, 255, (2, 20, 64, 64), dtype=np.uint8)
    seg = np.zeros((1, 20, 64, 64), dtype=np.uint16)
    seg[0, 4:12, 10:40, 20:50] = 3
    seg[0, 12:18, 40:60, 5:30] = 7
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    # dict factors so that z is downsampled too (integer factors leave z alone)
    factors = [{"z": 2, "y": 2, "x": 2}, {"z": 4, "y": 4, "x": 4}]
    units = {"z": UM, "y": UM, "x": UM}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Scale value not provided for 'c'"
        write_image(
            data,
            group,
            scale_factors=factors,
            fmt=fmt,
            axes="czyx",
            method=Methods.NEAREST,
            scale={"z": 2.0, "y": 0.5, "x": 0.5},
            axes_units=units,
            storage_options={"chunks": (1, 8, 16, 16)},
        )
        write_labels(
            seg,
            group,
            name="cells",
            scaler=None,
            scale_factors=factors,
            method=Methods.NEAREST,
            fmt=fmt,
            axes="czyx",
            scale={"z": 2.0, "y": 0.5, "x": 0.5},
            axes_units=units,
            label_metadata={"colors": [{"label-value": 3, "rgba": [0, 255, 0, 255]}]},
        )
    return {"path": path, "version": version, "data": data, "seg": seg}


def test_reads_ome_zarr_py_image(ome_zarr_py_image: dict[str, Any]) -> None:
    path, version = ome_zarr_py_image["path"], ome_zarr_py_image["version"]
    image = ngffkit.open(path)
    assert image.version == version
    assert image.zarr_format == (3 if version == "0.5" else 2)
    assert image.axis_names == ("c", "z", "y", "x")
    assert [a.type for a in image.axes] == ["channel", "space", "space", "space"]
    assert image.units == {"c": None, "z": UM, "y": UM, "x": UM}
    assert image.voxel_size == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert [lv.path for lv in image.levels] == ["s0", "s1", "s2"]
    assert [lv.shape for lv in image.levels] == [(2, 20, 64, 64), (2, 10, 32, 32), (2, 5, 16, 16)]
    assert [lv.factors for lv in image.levels] == [(1, 1, 1, 1), (1, 2, 2, 2), (1, 4, 4, 4)]
    assert image.levels[0].chunks == (1, 8, 16, 16)
    np.testing.assert_array_equal(image.levels[0].read(), ome_zarr_py_image["data"])
    group = zarr.open_group(str(path), mode="r")
    for level in image.levels:  # lower levels: ngffkit reads what ome-zarr-py wrote
        np.testing.assert_array_equal(level.read(), group[level.path][...])
        if version == "0.5":
            assert level.info.dimension_names == ("c", "z", "y", "x")


def test_reads_ome_zarr_py_labels(ome_zarr_py_image: dict[str, Any]) -> None:
    image = ngffkit.open(ome_zarr_py_image["path"])
    assert image.labels == ("cells",)
    label = image.label("cells")
    assert label.image_label is not None
    colors = label.image_label.colors or ()
    assert [(c.label_value, c.rgba) for c in colors] == [(3, (0, 255, 0, 255))]
    assert label.dtype == np.uint16
    assert [lv.shape for lv in label.levels] == [(1, 20, 64, 64), (1, 10, 32, 32), (1, 5, 16, 16)]
    np.testing.assert_array_equal(label.levels[0].read(), ome_zarr_py_image["seg"])
    group = zarr.open_group(str(ome_zarr_py_image["path"] / "labels" / "cells"), mode="r")
    for level in label.levels[1:]:
        got = level.read()
        np.testing.assert_array_equal(got, group[level.path][...])
        assert set(np.unique(got)) <= {0, 3, 7}  # nearest: no new label values
    with pytest.raises(ngffkit.InputError, match="no label image 'nuclei'"):
        image.label("nuclei")


# -- WEBKNOSSOS layout ------------------------------------------------------------------------


def test_reads_webknossos_layout(tmp_path: Path, write_wk_layer: Any) -> None:
    mags, voxel_nm = write_wk_layer.mags, write_wk_layer.voxel_nm
    zyx = np.random.default_rng(5).integers(1, 255, (20, 50, 60), dtype=np.uint8)
    written = write_wk_layer(tmp_path / "ds", zyx)
    layer = tmp_path / "ds" / "color"
    meta = json.loads((layer / "1" / "zarr.json").read_text())
    inner = meta["codecs"][0]["configuration"]["codecs"]
    assert inner[0] == {"name": "transpose", "configuration": {"order": [3, 2, 1, 0]}}
    assert meta["shape"] == [1, 64, 64, 32]  # padded to whole shards

    image = ngffkit.open(layer)
    assert image.version == "0.5"
    assert image.axis_names == ("c", "x", "y", "z")  # stored order, not reordered
    assert image.units == {"c": None, "x": "nanometer", "y": "nanometer", "z": "nanometer"}
    assert image.voxel_size == pytest.approx(dict(zip("xyz", voxel_nm, strict=True)))
    assert [lv.path for lv in image.levels] == list(mags)
    for level, (name, mag) in zip(image.levels, mags.items(), strict=True):
        assert level.path == name
        assert level.factors == pytest.approx((1, *mag))
        assert level.scale == pytest.approx(
            (1, *(v * f for v, f in zip(voxel_nm, mag, strict=True)))
        )
        assert level.shards == (1, 32, 32, 32) and level.chunks == (1, 16, 16, 16)
        assert level.compression == "transpose(3, 2, 1, 0) + zstd:5"
        true = written[name]
        got = level.read()
        assert got.shape == tuple(meta_shape := [1] + [-(-s // 32) * 32 for s in true.shape[1:]])
        assert len(meta_shape) == 4
        np.testing.assert_array_equal(got[tuple(slice(0, s) for s in true.shape)], true)
        # the padding beyond the true extent is the fill value
        assert not got[:, true.shape[1] :].any() and not got[:, :, :, true.shape[3] :].any()
    # a region in c,x,y,z order, and an x,y,z point of level 0 matches z,y,x data
    level0 = image.levels[0]
    np.testing.assert_array_equal(
        level0.read((0, 10, 20, 3), (1, 7, 5, 4)), zyx[3:7, 20:25, 10:17].transpose(2, 1, 0)[None]
    )
    assert level0[0, 33, 44, 15] == zyx[15, 44, 33]
    # a level-0 box on the 2-2-1 level: x, y halve, z does not
    level1 = written["2-2-1"]
    np.testing.assert_array_equal(
        image.read(1, (0, 8, 8, 4), (1, 16, 16, 6), absolute=True), level1[:, 4:12, 4:12, 4:10]
    )
    # reading past the padded array needs pad=True and gives the fill value
    with pytest.raises(ngffkit.InputError, match="outside"):
        level0.read((0, 60, 0, 0), (1, 8, 4, 4))
    padded = level0.read((0, 60, 0, 0), (1, 8, 4, 4), pad=True)
    np.testing.assert_array_equal(padded[:, :4], level0.read((0, 60, 0, 0), (1, 4, 4, 4)))
    assert not padded[:, 4:].any()
    # zarr-python reads the same bytes (transpose codec and all)
    group = zarr.open_group(str(layer), mode="r")
    np.testing.assert_array_equal(group["2-2-1"][...], image.levels[1].read())
    report = ngffkit.validate(layer)
    assert report.valid, report.problems
    assert any("z, y, x" in w.message for w in report.warnings)


def test_validate_orders_padded_webknossos_levels_by_scale(
    tmp_path: Path, write_wk_layer: Any
) -> None:
    """WEBKNOSSOS pads each mag's array to whole shards, so a coarse mag's stored shape can
    exceed a finer one's (here 4-4-2 padded to 64 where 2-2-1 is 32). The spec orders
    levels by scale; the stored shapes do not make a level finer."""
    zyx = np.random.default_rng(8).integers(1, 255, (20, 50, 60), dtype=np.uint8)
    write_wk_layer(tmp_path / "ds", zyx)
    layer = tmp_path / "ds" / "color"
    meta_file = layer / "4-4-2" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    assert json.loads((layer / "2-2-1" / "zarr.json").read_text())["shape"] == [1, 32, 32, 32]
    meta["shape"] = [1, 64, 64, 64]
    meta_file.write_text(json.dumps(meta))
    report = ngffkit.validate(layer)
    assert report.valid, [str(p) for p in report.problems]
    assert ngffkit.open(layer).levels[2].shape == (1, 64, 64, 64)
    # a level whose scale is finer than the one before is still refused
    group = json.loads((layer / "zarr.json").read_text())
    datasets = group["attributes"]["ome"]["multiscales"][0]["datasets"]
    datasets[1], datasets[2] = datasets[2], datasets[1]
    (layer / "zarr.json").write_text(json.dumps(group))
    (problem,) = ngffkit.validate(layer).problems
    assert "fine to coarse" in problem.message and "x, y, z" in problem.message


def test_info_notes_the_axis_order_and_a_wk_root_points_to_its_layers(
    tmp_path: Path, write_wk_layer: Any, run_ngff: Any
) -> None:
    zyx = np.random.default_rng(9).integers(1, 255, (20, 50, 60), dtype=np.uint8)
    write_wk_layer(tmp_path / "ds", zyx)
    shown = run_ngff("info", tmp_path / "ds" / "color")
    assert shown.returncode == 0, shown.stderr
    notes = [line for line in shown.stdout.splitlines() if "note:" in line]
    assert any("z, y, x" in n and "x, y, z" in n for n in notes), shown.stdout
    described = describe(tmp_path / "ds" / "color")
    assert any("z, y, x" in n for n in described["notes"])
    root = run_ngff("info", tmp_path / "ds")
    assert root.returncode == 1
    message = " ".join(root.stderr.split())
    assert "WEBKNOSSOS dataset" in message and str(tmp_path / "ds" / "color") in message
    assert "Traceback" not in root.stderr
    # z, y, x (ours): no such note
    spec = ngffkit.pyramid_spec((4, 8, 8), "uint8", unit=UM, name="ours")
    ngffkit.create_image(tmp_path / "ours.zarr", spec)
    ngffkit.finish_image(tmp_path / "ours.zarr", spec)
    assert not [n for n in describe(tmp_path / "ours.zarr")["notes"] if "axes" in n]


def test_reads_webknossos_zarr2_layout(tmp_path: Path, write_wk_layer: Any) -> None:
    """webknossos-libs' Zarr v2 layers: Fortran order, and a ``.zgroup`` whose zarr_format
    is the string "2" (zarr-python refuses such a group; ngffkit reads it and says why it
    is invalid)."""
    zyx = np.random.default_rng(6).integers(1, 255, (20, 50, 60), dtype=np.uint8)
    written = write_wk_layer(tmp_path / "ds", zyx, zarr_format=2)
    layer = tmp_path / "ds" / "color"
    assert json.loads((layer / "1" / ".zarray").read_text())["order"] == "F"
    image = ngffkit.open(layer)
    assert image.version == "0.4" and image.axis_names == ("c", "x", "y", "z")
    for level in image.levels:
        assert level.shape == written[level.path].shape
        np.testing.assert_array_equal(level.read(), written[level.path])
    assert image.levels[0][0, 33, 44, 15] == zyx[15, 44, 33]
    with pytest.raises(ValueError, match="zarr_format"):
        zarr.open_group(str(layer), mode="r")
    report = ngffkit.validate(layer)
    assert [(p.where, "string" in p.message or "'2'" in p.message) for p in report.problems] == [
        (".zgroup.zarr_format", True)
    ]


# -- 2-D, 4-D, 5-D ----------------------------------------------------------------------------

ND_CASES = {
    "yx": ((48, 40), {"y": 0.25, "x": 0.25}),
    "czyx": ((3, 10, 32, 24), {"z": 1.0, "y": 0.25, "x": 0.25}),
    "tczyx": ((2, 3, 10, 32, 24), {"z": 1.0, "y": 0.25, "x": 0.25}),
}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("axes", list(ND_CASES))
def test_nd_round_trip(tmp_path: Path, make_image: Any, axes: str, version: str) -> None:
    shape, voxel = ND_CASES[axes]
    path = tmp_path / f"{axes}.ome.zarr"
    shards = 16 if version == "0.5" else None
    made = make_image(
        path,
        version=version,
        shape=shape,
        axes=axes,
        voxel_size=voxel,
        chunks=8,
        shards=shards,
        levels=2,
    )
    image = ngffkit.open(path)
    assert image.axis_names == tuple(axes)
    expected_types = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    assert [a.type for a in image.axes] == [expected_types[a] for a in axes]
    assert image.voxel_size == voxel
    space = [expected_types[a] == "space" for a in axes]
    assert image.levels[1].factors == tuple(2.0 if s else 1.0 for s in space)
    assert image.levels[0].chunks == tuple(8 if s else 1 for s in space)
    if shards:
        assert image.levels[0].shards == tuple(16 if s else 1 for s in space)
    for level, data in zip(image.levels, made["levels"], strict=True):
        assert level.shape == data.shape
        np.testing.assert_array_equal(level.read(), data)
    # and a third party agrees
    group = zarr.open_group(str(path), mode="r")
    for level, data in zip(image.levels, made["levels"], strict=True):
        np.testing.assert_array_equal(group[level.path][...], data)
        if version == "0.5":
            assert group[level.path].metadata.dimension_names == tuple(axes)
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models import open_ome_zarr

    node = next(iter(Reader(parse_url(str(path)))()))
    assert [a["name"] for a in node.metadata["axes"]] == list(axes)
    for dask_level, data in zip(node.data, made["levels"], strict=True):
        np.testing.assert_array_equal(dask_level.compute(), data)
    open_ome_zarr(zarr.open_group(str(path), mode="r"), version=version)
    report = ngffkit.validate(path)
    assert report.valid, [str(p) for p in report.problems]
    # pyramid_spec(unit=...) sets the space unit only; the t axis is left without one
    expected = ["multiscales[0].axes[0].unit"] if "t" in axes else []
    assert [w.where for w in report.warnings] == expected


# ============================================================================================
# Out of ngffkit
# ============================================================================================

OUT_CASES = [
    # (id, version, shards, labels)
    ("0.4", "0.4", None, False),
    ("0.4-labels", "0.4", None, True),
    ("0.5", "0.5", None, False),
    ("0.5-sharded-labels", "0.5", 32, True),
]
# shapes that are no multiple of the chunks or shards (partial edge chunks and shards)
ODD_SHAPE = (21, 77, 45)


@pytest.fixture(scope="module", params=OUT_CASES, ids=[c[0] for c in OUT_CASES])
def written(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, make_image: Any
) -> dict[str, Any]:
    case, version, shards, labels = request.param
    path = tmp_path_factory.mktemp("out") / f"{case}.ome.zarr"
    shape = ODD_SHAPE if case.startswith("0.5-sharded") or case == "0.4" else (20, 64, 64)
    made = make_image(path, version=version, shards=shards, labels=labels, shape=shape)
    made.update(path=path, version=version, shards=shards, labels=labels)
    return made


def _expected_shards(level_spec: Any) -> tuple[int, ...] | None:
    """Shards equal to the chunks are written as a plain (unsharded) array."""
    if level_spec.shards is None or level_spec.shards == level_spec.chunks:
        return None
    return level_spec.shards


def _images(written: dict[str, Any]) -> list[tuple[Path, Any, list[np.ndarray]]]:
    out = [(written["path"], written["spec"], written["levels"])]
    if written["labels"]:
        out.append(
            (written["path"] / "labels" / "cells", written["label_spec"], written["label_levels"])
        )
    return out


def test_zarr_python_opens_ours(written: dict[str, Any]) -> None:
    version = written["version"]
    for path, spec, levels in _images(written):
        group = zarr.open_group(str(path), mode="r")
        assert group.metadata.zarr_format == (3 if version == "0.5" else 2)
        ome = group.attrs["ome"] if version == "0.5" else dict(group.attrs)
        if version == "0.5":
            assert ome["version"] == "0.5" and "version" not in ome["multiscales"][0]
        else:
            assert ome["multiscales"][0]["version"] == "0.4"
        assert [d["path"] for d in ome["multiscales"][0]["datasets"]] == [
            lv.path for lv in spec.levels
        ]
        for level_spec, data in zip(spec.levels, levels, strict=True):
            array = group[level_spec.path]
            assert isinstance(array, zarr.Array)
            assert array.shape == data.shape and array.dtype == data.dtype
            np.testing.assert_array_equal(array[...], data)
            assert array.chunks == level_spec.chunks
            assert array.shards == _expected_shards(level_spec)
            if version == "0.5":
                assert array.metadata.dimension_names == ("z", "y", "x")
            else:
                assert array.metadata.dimension_separator == "/"
    if written["shards"]:
        assert zarr.open_group(str(written["path"]), mode="r")["0"].shards == (32, 32, 32)
    if written["labels"]:
        group = zarr.open_group(str(written["path"] / "labels"), mode="r")
        labels = group.attrs["ome"]["labels"] if version == "0.5" else group.attrs["labels"]
        assert labels == ["cells"]


def test_ome_zarr_py_reader_opens_ours(written: dict[str, Any]) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Multiscales, Reader

    location = parse_url(str(written["path"]))
    assert location is not None
    assert location.version == written["version"]
    nodes = list(Reader(location)())
    image_node = nodes[0]
    assert any(isinstance(s, Multiscales) for s in image_node.specs)
    assert len(image_node.data) == 3
    for dask_level, data in zip(image_node.data, written["levels"], strict=True):
        np.testing.assert_array_equal(dask_level.compute(), data)
    assert [a["name"] for a in image_node.metadata["axes"]] == ["z", "y", "x"]
    label_nodes = [n for n in nodes if any(isinstance(s, Label) for s in n.specs)]
    if written["labels"]:
        assert len(label_nodes) == 1
        for dask_level, data in zip(label_nodes[0].data, written["label_levels"], strict=True):
            np.testing.assert_array_equal(dask_level.compute(), data)
        assert label_nodes[0].metadata.get("color") == {
            1: [1.0, 0.0, 0.0, 1.0],
            2: [0.0, 1.0, 0.0, 1.0],
        }
    else:
        assert label_nodes == []


def test_tensorstore_opens_ours(written: dict[str, Any]) -> None:
    driver = "zarr3" if written["version"] == "0.5" else "zarr"
    for path, spec, levels in _images(written):
        for level_spec, data in zip(spec.levels, levels, strict=True):
            store = ts.open(
                {
                    "driver": driver,
                    "kvstore": {"driver": "file", "path": f"{path / level_spec.path}/"},
                },
                read=True,
            ).result()
            assert store.shape == data.shape and store.dtype.numpy_dtype == data.dtype
            np.testing.assert_array_equal(store.read().result(), data)
            if driver == "zarr3":
                assert list(store.domain.labels) == ["z", "y", "x"]
                layout = store.chunk_layout
                assert tuple(layout.read_chunk.shape) == level_spec.chunks
                assert tuple(layout.write_chunk.shape) == (
                    _expected_shards(level_spec) or level_spec.chunks
                )


def test_ome_zarr_models_validates_ours(written: dict[str, Any]) -> None:
    from ome_zarr_models import open_ome_zarr

    version = written["version"]
    if version == "0.5":
        from ome_zarr_models.v05.image import Image
        from ome_zarr_models.v05.image_label import ImageLabel as ModelsImageLabel
    else:
        from ome_zarr_models.v04.image import Image
        from ome_zarr_models.v04.image_label import ImageLabel as ModelsImageLabel

    model = open_ome_zarr(zarr.open_group(str(written["path"]), mode="r"), version=version)
    assert isinstance(model, Image)
    multiscale = (
        model.attributes.multiscales[0] if version == "0.4" else model.ome_attributes.multiscales[0]
    )
    assert [d.path for d in multiscale.datasets] == ["0", "1", "2"]
    if written["labels"]:
        label_group = zarr.open_group(str(written["path"] / "labels" / "cells"), mode="r")
        label_model = open_ome_zarr(label_group, version=version)
        assert isinstance(label_model, ModelsImageLabel)
        # also through the image: the labels group and its label image
        assert Image.from_zarr(zarr.open_group(str(written["path"]), mode="r")) is not None


@pytest.mark.parametrize("strict", [False, True], ids=["schema", "strict-schema"])
def test_spec_json_schemas_accept_ours(written: dict[str, Any], strict: bool) -> None:
    version = written["version"]
    for path, _spec, _levels in _images(written):
        kind = "label" if path.name == "cells" else "image"
        meta_file = path / ("zarr.json" if version == "0.5" else ".zattrs")
        attrs = json.loads(meta_file.read_text())
        if version == "0.5":
            attrs = attrs["attributes"]
        for check in {kind, "image"}:  # a label image is an image too
            findings = schema_findings(attrs, version, check, strict=strict)
            assert findings == [], [str(f) for f in findings]


def test_ngffkit_reads_ours_back_and_validates(written: dict[str, Any]) -> None:
    image = ngffkit.open(written["path"])
    assert image.version == written["version"]
    for level, data in zip(image.levels, written["levels"], strict=True):
        np.testing.assert_array_equal(level.read(), data)
    assert image.labels == (("cells",) if written["labels"] else ())
    if written["labels"]:
        label = image.label("cells")
        assert label.image_label is not None and label.image_label.source is not None
        np.testing.assert_array_equal(label.levels[0].read(), written["label_levels"][0])
    report = ngffkit.validate(written["path"], strict=True)
    assert report.valid, [str(p) for p in report.problems]


def test_refuses_to_write_a_float_label_image() -> None:
    spec = ngffkit.pyramid_spec((8, 16, 16), "float32", levels=2, unit=UM, voxel_size=1.0)
    with pytest.raises(ValueError, match="label image must hold integers"):
        ngffkit.ImageSpec.model_validate({**spec.model_dump(), "image_label": ImageLabel()})
    as_int = ngffkit.pyramid_spec((8, 16, 16), "uint32", levels=2, unit=UM, voxel_size=1.0)
    assert ngffkit.ImageSpec.model_validate({**as_int.model_dump(), "image_label": ImageLabel()})

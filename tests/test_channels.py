"""Several inputs as channels, and folders of t,c,z files read through a name pattern
(issue 15: channels and time). Real TIFFs written with tifffile, real conversions."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import ngffkit
from _support import cli
from ngffkit.errors import InputError, OptionError
from ngffkit.plan import ConversionPlan
from ngffkit.sources import open_source
from ngffkit.sources.channels import open_inputs
from safety_helpers import write_stack


def _axes(out: Path) -> list[dict[str, Any]]:
    attrs = json.loads((out / "zarr.json").read_text())["attributes"]["ome"]
    return list(attrs["multiscales"][0]["axes"])


def _scale0(out: Path) -> list[float]:
    attrs = json.loads((out / "zarr.json").read_text())["attributes"]["ome"]
    return list(attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"])


def test_several_folders_become_the_channels_of_one_image(tmp_path: Path) -> None:
    stacks = [write_stack(tmp_path / n, depth=6, seed=i) for i, n in enumerate(["dapi", "gfp"])]
    out = tmp_path / "out.zarr"
    code, _, err = cli(
        "convert",
        str(tmp_path / "dapi"),
        str(tmp_path / "gfp"),
        str(out),
        "--channel-names",
        "DAPI,GFP",
        "--voxel-size",
        "0.5,0.5,2",
        "--unit",
        "micrometer",
        "-q",
    )
    assert code == 0, err
    image = ngffkit.open(out)
    level0 = image.levels[0]
    assert level0.shape == (2, 6, 40, 50)
    np.testing.assert_array_equal(level0.read(), np.stack(stacks))
    assert [a["name"] for a in _axes(out)] == ["c", "z", "y", "x"]
    assert _axes(out)[0] == {"name": "c", "type": "channel"}
    # chunk 1 along c, pyramid over space only
    assert level0.info.chunks[0] == 1
    assert all(lv.shape[0] == 2 for lv in image.levels)


def test_channel_names_reach_the_image_spec(tmp_path: Path) -> None:
    for n in ("dapi", "gfp", "rfp"):
        write_stack(tmp_path / n, depth=2)
    inputs = [tmp_path / n for n in ("dapi", "gfp", "rfp")]
    plan = ngffkit.plan_convert(inputs, tmp_path / "o.zarr")
    assert isinstance(plan, ConversionPlan)
    assert [c.label for c in plan.spec.channels] == ["dapi", "gfp", "rfp"]  # named after inputs
    plan = ngffkit.plan_convert(inputs, tmp_path / "o.zarr", channel_names=["DAPI", "GFP", "RFP"])
    assert isinstance(plan, ConversionPlan)
    assert [c.label for c in plan.spec.channels] == ["DAPI", "GFP", "RFP"]
    with pytest.raises(OptionError, match="2 name.*3 channel"):
        ngffkit.plan_convert(inputs, tmp_path / "o.zarr", channel_names=["A", "B"])


def test_channels_of_different_shape_or_dtype_are_named_with_both(tmp_path: Path) -> None:
    write_stack(tmp_path / "a", depth=4)
    write_stack(tmp_path / "b", depth=5)
    write_stack(tmp_path / "c", depth=4, dtype="int32")
    with pytest.raises(InputError) as info:
        open_inputs([tmp_path / "a", tmp_path / "b"])
    text = str(info.value)
    assert f"{tmp_path / 'b'} is z,y,x 5×40×50 uint16" in text
    assert f"{tmp_path / 'a'} is z,y,x 4×40×50 uint16" in text
    with pytest.raises(InputError, match="int32.*uint16"):
        open_inputs([tmp_path / "a", tmp_path / "c"])


def test_a_channel_stack_reopens_from_its_spec(tmp_path: Path) -> None:
    for i, n in enumerate(("a", "b")):
        write_stack(tmp_path / n, depth=3, seed=i)
    with open_inputs([tmp_path / "a", tmp_path / "b"]) as src:
        spec = pickle.loads(pickle.dumps(src.spec()))
        box = (slice(0, 2), slice(1, 3), slice(5, 9), slice(0, 50))
        expected = src.read(box)
    with open_source(spec) as again:
        np.testing.assert_array_equal(again.read(box), expected)
        assert again.axes == ("c", "z", "y", "x")


def _series(folder: Path, ts: list[str], cs: list[str], nz: int) -> dict[tuple[str, str], Any]:
    """img_t{t}_c{c}_z{z}.tif slices; each slice's value says where it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for ti, t in enumerate(ts):
        for ci, c in enumerate(cs):
            stack = np.zeros((nz, 12, 16), np.uint16)
            for z in range(nz):
                stack[z] = 1000 * ti + 100 * ci + z + 1
                tifffile.imwrite(folder / f"img_t{t}_c{c}_z{z}.tif", stack[z])
            data[t, c] = stack
    return data


def test_a_tagged_folder_converts_to_tczyx_ordered_by_value(tmp_path: Path) -> None:
    # t 2 comes before t 10 (numbers), channels in alphabetical order
    data = _series(tmp_path / "s", ["0", "2", "10"], ["GFP", "DAPI"], 3)
    (tmp_path / "s" / "notes.txt").write_text("junk is ignored")
    out = tmp_path / "out.zarr"
    code, _, err = cli(
        "convert",
        str(tmp_path / "s"),
        str(out),
        "--pattern",
        "img_t{t}_c{c}_z{z}.tif",
        "--allow-gaps",
        "--time-step",
        "30",
        "--time-unit",
        "s",
        "-q",
    )
    assert code == 0, err
    image = ngffkit.open(out)
    got = image.levels[0].read()
    # t runs 0..10 in steps of 2: 0, 2, 4, 6, 8, 10; 4..8 are gaps (fill value)
    assert got.shape == (6, 2, 3, 12, 16)
    np.testing.assert_array_equal(got[0, 0], data["0", "DAPI"])
    np.testing.assert_array_equal(got[1, 1], data["2", "GFP"])
    np.testing.assert_array_equal(got[5, 0], data["10", "DAPI"])
    assert not got[2:5].any()
    assert [(a["name"], a["type"], a.get("unit")) for a in _axes(out)] == [
        ("t", "time", "second"),
        ("c", "channel", None),
        ("z", "space", None),
        ("y", "space", None),
        ("x", "space", None),
    ]
    assert _scale0(out)[:2] == [30.0, 1.0]
    assert image.levels[0].info.chunks[:2] == (1, 1)


def test_a_tagged_folder_names_missing_files(tmp_path: Path) -> None:
    _series(tmp_path / "s", ["0", "1"], ["a", "b"], 2)
    (tmp_path / "s" / "img_t1_cb_z1.tif").unlink()
    with pytest.raises(InputError, match=r"1 combination\(s\).*img_t1_cb_z1\.tif.*allow_gaps=True"):
        open_inputs(tmp_path / "s", pattern="img_t{t}_c{c}_z{z}.tif")
    # a time point missing from a numbered run is named too
    _series(tmp_path / "r", ["0", "1", "3"], ["a"], 1)
    with pytest.raises(InputError, match=r"t = 2\b"):
        open_inputs(tmp_path / "r", pattern="img_t{t}_c{c}_z{z}.tif")
    with open_inputs(tmp_path / "s", pattern="img_t{t}_c{c}_z{z}.tif", allow_gaps=True) as src:
        assert src.shape == (2, 2, 2, 12, 16)
        assert not src.read(
            (slice(1, 2), slice(1, 2), slice(1, 2), slice(0, 12), slice(0, 16))
        ).any()


def test_a_pattern_without_z_reads_one_stack_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "stacks"
    folder.mkdir()
    stacks = {}
    for t in range(2):
        for c in ("red", "green"):
            stacks[t, c] = np.random.default_rng(t).integers(0, 255, (4, 10, 12), np.uint8)
            tifffile.imwrite(
                folder / f"pos1_{c}_T{t:03d}.tif", stacks[t, c], photometric="minisblack"
            )
    with open_inputs(folder, pattern="*_{c}_T{t}.tif") as src:
        assert src.axes == ("t", "c", "z", "y", "x") and src.shape == (2, 2, 4, 10, 12)
        got = src.read(tuple(slice(0, n) for n in src.shape))
        np.testing.assert_array_equal(got[1, 0], stacks[1, "green"])
        np.testing.assert_array_equal(got[0, 1], stacks[0, "red"])
        assert [c.label for c in src.channels] == ["green", "red"]
        spec = pickle.loads(pickle.dumps(src.spec()))
    with open_source(spec) as again:
        np.testing.assert_array_equal(again.read(tuple(slice(0, n) for n in again.shape)), got)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("img.tif", "no tag"),
        ("img_{q}.tif", "unknown tag"),
        ("img_{t}_{t}.tif", "twice"),
        ("sub/img_{z}.tif", "no folders"),
        ("x_{z}.tif", "no file matches"),
    ],
)
def test_bad_patterns_are_refused(tmp_path: Path, pattern: str, message: str) -> None:
    _series(tmp_path / "s", ["0"], ["a"], 2)
    with pytest.raises(InputError, match=message):
        open_inputs(tmp_path / "s", pattern=pattern)


def test_time_options_need_a_time_axis(tmp_path: Path) -> None:
    write_stack(tmp_path / "a", depth=2)
    with pytest.raises(OptionError, match="no time axis"):
        ngffkit.plan_convert(tmp_path / "a", tmp_path / "o.zarr", time_step=2.0)
    _series(tmp_path / "s", ["0", "1"], ["a"], 1)
    with pytest.raises(OptionError, match="not a time unit"):
        ngffkit.plan_convert(
            tmp_path / "s",
            tmp_path / "o.zarr",
            pattern="img_t{t}_c{c}_z{z}.tif",
            time_unit="parsec",
        )


def write_ome_tczyx(path: Path) -> np.ndarray:
    """A 2-channel × 3-timepoint OME-TIFF with physical sizes, time step, names, colours."""
    data = np.random.default_rng(3).integers(0, 4000, (3, 2, 4, 24, 32), dtype=np.uint16)
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            "axes": "TCZYX",
            "PhysicalSizeX": 0.25,
            "PhysicalSizeY": 0.25,
            "PhysicalSizeZ": 1.5,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeYUnit": "µm",
            "PhysicalSizeZUnit": "µm",
            "TimeIncrement": 2.5,
            "TimeIncrementUnit": "min",
            "Channel": {"Name": ["DAPI", "GFP"], "Color": [-16776961, 16711935]},
        },
    )
    return data


def test_an_ome_tiff_keeps_t_c_names_colours_sizes_and_time_step(tmp_path: Path) -> None:
    data = write_ome_tczyx(tmp_path / "cells.ome.tif")
    out = tmp_path / "cells.zarr"
    plan = ngffkit.plan_convert(tmp_path / "cells.ome.tif", out)
    assert isinstance(plan, ConversionPlan)
    assert [(c.label, c.color) for c in plan.spec.channels] == [
        ("DAPI", "FF0000"),
        ("GFP", "00FF00"),
    ]
    assert "channels: DAPI #FF0000, GFP #00FF00" in plan.summary()
    image = ngffkit.convert(tmp_path / "cells.ome.tif", out, levels=2)
    assert isinstance(image, ngffkit.Image)
    np.testing.assert_array_equal(image.levels[0].read(), data)
    assert [(a["name"], a["type"], a.get("unit")) for a in _axes(out)] == [
        ("t", "time", "minute"),
        ("c", "channel", None),
        ("z", "space", "micrometer"),
        ("y", "space", "micrometer"),
        ("x", "space", "micrometer"),
    ]
    assert _scale0(out) == [2.5, 1.0, 1.5, 0.25, 0.25]
    # the pyramid halves y and x only; t and c keep their extent and chunk 1
    assert image.levels[1].shape == (3, 2, 4, 12, 16)
    assert image.levels[0].info.chunks[:2] == (1, 1)
    report = ngffkit.validate(out, strict=True)
    assert report.valid and not report.warnings, report.as_dict()
    # --time-step / --time-unit override what the file says
    ngffkit.convert(
        tmp_path / "cells.ome.tif",
        out,
        overwrite=True,
        time_step=100,
        time_unit="ms",
        channel_names=["nuclei", "membrane"],
    )
    assert _axes(out)[0]["unit"] == "millisecond" and _scale0(out)[0] == 100.0


def test_an_imagej_hyperstack_keeps_t_c_labels_and_frame_interval(tmp_path: Path) -> None:
    data = np.random.default_rng(4).integers(0, 200, (3, 4, 2, 16, 20), dtype=np.uint8)
    luts = [np.zeros((3, 256), np.uint8) for _ in range(2)]
    luts[0][2] = np.arange(256)  # blue
    luts[1][1] = np.arange(256)  # green
    tifffile.imwrite(
        tmp_path / "hyper.tif",
        data,
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={
            "axes": "TZCYX",
            "finterval": 0.5,
            "tunit": "sec",
            "spacing": 2.0,
            "unit": "um",
            # ImageJ keeps per-plane labels (c fastest, then z, then t): channel names live there
            "Labels": [
                f"{c}-{z}-{t}" if z or t else ["Hoechst", "GFP"][c]
                for t in range(3)
                for z in range(4)
                for c in range(2)
            ],
            "LUTs": luts,
        },
    )
    with open_source(tmp_path / "hyper.tif") as src:
        assert src.axes == ("t", "c", "z", "y", "x") and src.shape == (3, 2, 4, 16, 20)
        np.testing.assert_array_equal(
            src.read(tuple(slice(0, n) for n in src.shape)), data.transpose(0, 2, 1, 3, 4)
        )
        assert (src.time_step, src.time_unit) == (0.5, "second")
        assert [(c.label, c.color) for c in src.channels] == [
            ("Hoechst", "0000FF"),
            ("GFP", "00FF00"),
        ]
        assert src.voxel_size == {"x": 0.25, "y": 0.25, "z": 2.0}


def test_rgb_samples_of_an_ome_tiff_become_c(tmp_path: Path) -> None:
    data = np.random.default_rng(5).integers(0, 255, (2, 3, 16, 20, 3), dtype=np.uint8)
    tifffile.imwrite(
        tmp_path / "rgb.ome.tif", data, ome=True, photometric="rgb", metadata={"axes": "TZYXS"}
    )
    with open_source(tmp_path / "rgb.ome.tif") as src:
        assert src.axes == ("t", "c", "z", "y", "x") and src.shape == (2, 3, 3, 16, 20)
        np.testing.assert_array_equal(
            src.read(tuple(slice(0, n) for n in src.shape)), data.transpose(0, 4, 1, 2, 3)
        )


def test_channels_that_disagree_on_voxel_size_leave_it_to_the_user(tmp_path: Path) -> None:
    vol = np.zeros((3, 8, 10), np.uint16)
    for name, size in (("a", 0.5), ("b", 0.7)):
        tifffile.imwrite(
            tmp_path / f"{name}.ome.tif",
            vol,
            ome=True,
            metadata={"axes": "ZYX", "PhysicalSizeX": size, "PhysicalSizeY": size},
        )
    inputs = [tmp_path / "a.ome.tif", tmp_path / "b.ome.tif"]
    with open_inputs(inputs) as src:
        assert src.voxel_size is None and src.unit is None  # not the first one's
        assert "voxel sizes differ" in (src.input_axes or "")
        assert "x 0.7 micrometer" in (src.input_axes or "")
    with pytest.warns(ngffkit.NgffWarning, match="no voxel size"):
        ngffkit.convert(inputs, tmp_path / "o.zarr")
    ngffkit.convert(inputs, tmp_path / "o.zarr", overwrite=True, voxel_size=0.5, unit="micrometer")
    assert _scale0(tmp_path / "o.zarr") == [1.0, 0.5, 0.5, 0.5]

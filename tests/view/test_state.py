"""The Neuroglancer state built from images: layers, contrast, channels, labels, units, centre."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ngffkit import open as open_image
from ngffkit.metadata.units import to_si
from ngffkit.rendering import SAMPLE_VOXELS
from ngffkit.view.state import (
    ViewAxis,
    ViewChannel,
    ViewImage,
    ViewLabels,
    build_state,
    describe_image,
    describe_labels,
    measure_contrast,
    notes_for,
)

from .conftest import BRIGHT, DARK, write_pattern

ZYX = (ViewAxis("z", "space", "micrometer"), ViewAxis("y", "space", "micrometer"),
       ViewAxis("x", "space", "micrometer"))  # fmt: skip


def image(**changes: object) -> ViewImage:
    base: dict[str, object] = {
        "name": "vol",
        "source": "zarr3://http://127.0.0.1:1/vol.zarr",
        "axes": ZYX,
        "shape": (100, 200, 300),
        "scale": (2.0, 0.5, 0.5),
        "translation": (0.0, 0.0, 0.0),
        "dtype": "uint16",
        "channels": (ViewChannel("c0", "#ffffff", (10.0, 500.0)),),
    }
    base.update(changes)
    return ViewImage(**base)  # type: ignore[arg-type]


def test_units_to_si() -> None:
    assert to_si("micrometer") == (1e-6, "m")
    assert to_si("nanometer") == (1e-9, "m")
    assert to_si("meter") == (1.0, "m")
    assert to_si("millisecond") == (1e-3, "s")
    assert to_si("angstrom") == (1e-10, "m")
    assert to_si("hour") == (3600.0, "s")
    assert to_si(None) == (1.0, "")
    assert to_si("furlong") == (1.0, "")


def test_single_image_state() -> None:
    state = build_state([image()], layout="xy")
    # x, y, z order (Neuroglancer's xy panel shows the first two), physical voxel size in m.
    assert list(state["dimensions"]) == ["x", "y", "z"]
    assert state["dimensions"]["x"] == [pytest.approx(5e-7), "m"]
    assert state["dimensions"]["z"] == [pytest.approx(2e-6), "m"]
    assert state["position"] == [149.5, 99.5, 49.5]  # voxel centres at integers
    assert state["layout"] == "xy"
    assert state["crossSectionScale"] == pytest.approx(300 / 400)
    (layer,) = state["layers"]
    assert layer["type"] == "image"
    assert layer["source"] == "zarr3://http://127.0.0.1:1/vol.zarr"
    assert layer["shaderControls"] == {"normalized": {"range": [10.0, 500.0]}}
    assert "emitGrayscale" in layer["shader"]


def test_translation_moves_the_centre() -> None:
    state = build_state([image(translation=(20.0, 5.0, -10.0))])
    assert state["position"] == [149.5 - 20.0, 99.5 + 10.0, 49.5 + 10.0]


def test_channels_become_additive_colour_layers() -> None:
    axes = (ViewAxis("c", "channel", None), *ZYX)
    channels = (
        ViewChannel("DAPI", "#0000ff", (0.0, 1500.0)),
        ViewChannel("GFP", "#00ff00", (100.0, 900.0), visible=False),
    )
    state = build_state(
        [
            image(
                axes=axes,
                shape=(2, 10, 20, 30),
                scale=(1.0, 2.0, 0.5, 0.5),
                translation=(0.0,) * 4,
                channels=channels,
            )
        ]
    )
    assert list(state["dimensions"]) == ["x", "y", "z"]  # c is the layer-local c'
    assert state["position"] == [14.5, 9.5, 4.5]
    dapi, gfp = state["layers"]
    assert dapi["name"] == "vol DAPI"
    assert dapi["localPosition"] == [0]
    assert gfp["localPosition"] == [1]
    assert dapi["shaderControls"] == {"normalized": {"range": [0.0, 1500.0]}, "color": "#0000ff"}
    assert gfp["visible"] is False
    assert {dapi["blend"], gfp["blend"]} == {"additive"}


def test_time_axis_and_labels_and_several_datasets() -> None:
    axes = (ViewAxis("t", "time", "second"), *ZYX)
    first = image(
        axes=axes, shape=(5, 10, 20, 30), scale=(0.5, 1.0, 1.0, 1.0), translation=(0.0,) * 4,
        labels=(ViewLabels("cells", "zarr3://http://127.0.0.1:1/vol.zarr/labels/cells",
                           {1: "#ff0000"}),),
    )  # fmt: skip
    second = image(name="vol", source="zarr2://http://127.0.0.1:1/other.zarr")
    state = build_state([first, second], layout="4panel")
    assert list(state["dimensions"]) == ["x", "y", "z", "t"]
    assert state["dimensions"]["t"] == [0.5, "s"]
    assert state["position"] == [14.5, 9.5, 4.5, 0.0]
    names = [layer["name"] for layer in state["layers"]]
    assert names == ["vol", "vol cells", "vol (2)"]
    seg = state["layers"][1]
    assert seg["type"] == "segmentation"
    assert seg["segmentColors"] == {"1": "#ff0000"}
    assert state["layers"][2]["source"] == "zarr2://http://127.0.0.1:1/other.zarr"


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_state([])
    with pytest.raises(ValueError, match="layout"):
        build_state([image()], layout="2x2")


def test_notes_for_types_neuroglancer_cannot_show() -> None:
    assert notes_for([image()]) == []
    (note,) = notes_for([image(dtype="float64")])
    assert "float64" in note and "float32" in note
    (note,) = notes_for([image(labels=(ViewLabels("x", "s", {}, "int64"),))])
    assert "int64" in note


def test_describe_measures_percentiles(tmp_path: Path) -> None:
    write_pattern(tmp_path / "a.zarr", version="0.5", shards=32, labels=True)
    img = open_image(tmp_path / "a.zarr")
    assert measure_contrast(img) == [(float(DARK), float(BRIGHT))]
    labels = describe_labels(img.label("cells"), "src/labels/cells", "cells")
    assert labels.colors == {1: "#ff0000", 2: "#00ff00"}
    assert labels.dtype == "uint32"
    view = describe_image(img, "zarr3://h/a.zarr", labels=[labels])
    assert view.channels == (ViewChannel("Channel 0", "#ffffff", (float(DARK), float(BRIGHT))),)
    assert view.scale == (1.0, 0.5, 0.5)
    assert view.axes[2] == ViewAxis("x", "space", "micrometer")
    state = build_state([view])
    assert [layer["type"] for layer in state["layers"]] == ["image", "segmentation"]


def test_describe_uses_omero_window(tmp_path: Path) -> None:
    omero = {
        "channels": [
            {"color": "FF00FF", "label": "membrane", "active": True,
             "window": {"start": 5, "end": 50, "min": 0, "max": 65535}},
            {"color": "00FFFF", "label": "nuclei", "active": False,
             "window": {"start": 7, "end": 70, "min": 0, "max": 65535}},
        ]
    }  # fmt: skip
    write_pattern(
        tmp_path / "c.zarr", version="0.4", shards=None, axes="czyx", shape=(2, 8, 32, 32),
        omero=omero,
    )  # fmt: skip
    view = describe_image(open_image(tmp_path / "c.zarr"), "zarr2://h/c.zarr")
    assert view.channels == (
        ViewChannel("membrane", "#ff00ff", (5.0, 50.0), True),
        ViewChannel("nuclei", "#00ffff", (7.0, 70.0), False),
    )
    assert [layer["name"] for layer in build_state([view])["layers"]] == [
        "c membrane",
        "c nuclei",
    ]


def test_percentiles_read_a_bounded_sample(tmp_path: Path) -> None:
    # A tiny budget forces a central crop; the measured range stays within the data's values.
    write_pattern(tmp_path / "b.zarr", version="0.5", shards=None, shape=(8, 64, 64))
    lo, hi = measure_contrast(open_image(tmp_path / "b.zarr"), budget=64)[0]
    assert DARK <= lo < hi <= BRIGHT
    assert SAMPLE_VOXELS == 1 << 22


def test_float_data_contrast(tmp_path: Path) -> None:
    from ngffkit.spec import pyramid_spec
    from ngffkit.writer import create_image, finish_image

    spec = pyramid_spec((4, 16, 16), "float32", axes="zyx", voxel_size={"z": 1, "y": 1, "x": 1},
                        unit="micrometer", levels=1, chunks=8, version="0.5")  # fmt: skip
    img = create_image(tmp_path / "f.zarr", spec)
    data = np.linspace(-1, 1, 4 * 16 * 16, dtype=np.float32).reshape(4, 16, 16)
    data[0, 0, 0] = np.nan
    img.levels[0].write(data)
    finish_image(tmp_path / "f.zarr", spec)
    lo, hi = measure_contrast(open_image(tmp_path / "f.zarr"))[0]
    assert -1 < lo < -0.9 and 0.9 < hi < 1


def test_one_coloured_channel_keeps_its_colour() -> None:
    (layer,) = build_state([image(channels=(ViewChannel("GFP", "#00ff00", (1.0, 9.0)),))])["layers"]
    assert layer["shaderControls"] == {"normalized": {"range": [1.0, 9.0]}, "color": "#00ff00"}
    (gray,) = build_state([image()])["layers"]
    assert "emitGrayscale" in gray["shader"] and "color" not in gray["shaderControls"]


def test_webknossos_layer_shows_x_y_and_centres_on_the_data(
    tmp_path: Path,
    write_wk_layer: Any,
) -> None:
    # c,x,y,z storage, arrays padded to whole shards (level 0: 64×64×32 for 60×50×20 data)
    zyx = np.random.default_rng(2).integers(1, 255, (20, 50, 60), dtype=np.uint8)
    write_wk_layer(tmp_path / "ds", zyx)
    image = open_image(tmp_path / "ds" / "color")
    assert image.shape == (1, 64, 64, 32)
    view = describe_image(image, "zarr3://h/ds/color")
    state = build_state([view])
    assert list(state["dimensions"]) == ["x", "y", "z"]  # the xy panel shows x and y
    assert state["dimensions"]["z"] == [pytest.approx(25e-9), "m"]
    assert state["position"] == [29.5, 24.5, 9.5]  # the data's centre, not the padding's
    # the same axes without a datasource-properties.json: the arrays' centre, still x, y, z
    bare = build_state([image_of(view, bounds=None)])
    assert list(bare["dimensions"]) == ["x", "y", "z"]
    assert bare["position"] == [31.5, 31.5, 15.5]


def image_of(view: ViewImage, **changes: Any) -> ViewImage:
    from dataclasses import replace

    return replace(view, **changes)

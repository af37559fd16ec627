"""What WEBKNOSSOS needs of an image (wk_export.problems) and how validate reports it; the
real webknossos package opening what we write is tested in tests/wk_roundtrip/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _support import cli
from ngffkit._validate import validate
from ngffkit.errors import InputError
from ngffkit.image import open_image
from ngffkit.wk_export import problems, write_properties


def test_a_good_image_has_no_problems_and_gets_properties(tmp_path: Path, make_image: Any) -> None:
    made = make_image(tmp_path / "img.zarr", labels=True, unit="nanometer")
    image = open_image(tmp_path / "img.zarr")
    assert problems(image) == []
    folder = write_properties(image)
    doc = json.loads(
        (tmp_path / "img.zarr" / "webknossos" / "datasource-properties.json").read_text()
    )
    assert folder.name == "webknossos"
    color, seg = doc["dataLayers"]
    assert (color["category"], seg["category"]) == ("color", "segmentation")
    assert [m["path"] for m in color["mags"]] == ["../0", "../1", "../2"]
    assert seg["mags"][0]["path"] == "../labels/cells/0"
    assert color["mags"][0]["axisOrder"] == {"z": 0, "y": 1, "x": 2}
    assert doc["scale"] == {"factor": [0.5, 0.5, 2.0], "unit": "nanometer"}
    assert seg["largestSegmentId"] == int(made["label_levels"][0].max())
    # the image itself is untouched: only the webknossos/ folder is new
    assert validate(tmp_path / "img.zarr").warnings == []


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"dtype": "float64"}, "dtype float64"),
        ({"unit": None}, "has no unit"),
        ({"unit": "second"}, "no length unit"),
        ({"axes": "cyx", "shape": (2, 64, 64)}, "space axes x, y and z"),
    ],
)
def test_what_webknossos_refuses_is_named(
    kwargs: dict[str, Any], said: str, tmp_path: Path, make_image: Any
) -> None:
    make_image(tmp_path / "img.zarr", **kwargs)
    image = open_image(tmp_path / "img.zarr")
    assert any(said in p for p in problems(image)), problems(image)
    # validate warns with --webknossos, or once the image has a webknossos/ folder
    plain = validate(tmp_path / "img.zarr").warnings
    assert not any("WEBKNOSSOS" in w.message for w in plain)
    warned = validate(tmp_path / "img.zarr", webknossos=True).warnings
    assert any(said in w.message and "WEBKNOSSOS" in w.message for w in warned)
    code, stdout, _ = cli("validate", tmp_path / "img.zarr", "--webknossos")
    assert code == 0 and said in stdout
    if said != "has no unit":
        with pytest.raises(InputError, match="WEBKNOSSOS cannot open"):
            write_properties(image)
        return
    # WEBKNOSSOS assumes nanometer: the properties say so, and validate warns from now on
    doc = json.loads(write_properties(image).read("datasource-properties.json") or b"")
    assert doc["scale"]["unit"] == "nanometer"
    after = validate(tmp_path / "img.zarr").warnings
    assert any(said in w.message and "WEBKNOSSOS" in w.message for w in after)


def test_the_command_writes_or_refuses(tmp_path: Path, make_image: Any) -> None:
    make_image(tmp_path / "good.zarr", unit="nanometer")
    code, stdout, stderr = cli("webknossos-properties", tmp_path / "good.zarr")
    assert code == 0, stderr
    assert "good.zarr/webknossos" in stdout
    assert (tmp_path / "good.zarr" / "webknossos" / "datasource-properties.json").exists()
    make_image(tmp_path / "f64.zarr", dtype="float64")
    code, _, stderr = cli("webknossos-properties", tmp_path / "f64.zarr")
    assert code == 1 and "dtype float64" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "f64.zarr" / "webknossos").exists()

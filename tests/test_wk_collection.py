"""A collection as one WEBKNOSSOS dataset (wk_collection): the properties we write, where
the mags point, what is refused. The real webknossos package opening it is tested in
tests/wk_roundtrip/test_collection_to_webknossos.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _support import cli
from ngffkit.errors import InputError
from ngffkit.wk_collection import write_collection_properties
from remote.servers import StaticServer


def _properties(collection: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (collection / "webknossos" / "datasource-properties.json").read_text()
    )
    return doc


@pytest.fixture
def here(tmp_path: Path, make_image: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_image(tmp_path / "raw.ome.zarr", shape=(8, 32, 32), levels=2, labels=True)
    coarse = {"z": 2.0, "y": 1.0, "x": 1.0}  # twice raw's voxel in x and y
    make_image(tmp_path / "em.ome.zarr", shape=(8, 16, 16), levels=2, voxel_size=coarse, seed=1)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_create_webknossos_writes_one_dataset_of_the_members(here: Path) -> None:
    code, out, err = cli(
        "collection", "create", "study.zarr", "raw.ome.zarr", "raw.ome.zarr/labels/cells=seg",
        "em.ome.zarr=em lm", "--webknossos",
    )  # fmt: skip
    assert code == 0, err
    assert "study.zarr/webknossos" in out
    doc = _properties(here / "study.zarr")
    assert doc["id"]["name"] == "study"
    assert doc["scale"] == {"factor": [0.5, 0.5, 2.0], "unit": "micrometer"}
    raw, seg, em = doc["dataLayers"]
    assert [raw["name"], seg["name"], em["name"]] == ["raw", "seg", "em_lm"]
    assert [raw["category"], seg["category"], em["category"]] == ["color", "segmentation", "color"]
    assert [m["path"] for m in raw["mags"]] == ["../../raw.ome.zarr/0", "../../raw.ome.zarr/1"]
    assert seg["mags"][0]["path"] == "../../raw.ome.zarr/labels/cells/0"
    assert seg["largestSegmentId"] > 0
    # em's voxel is twice the dataset's in x and y: its finest mag is 2-2-1
    assert [m["mag"] for m in em["mags"]] == [[2, 2, 1], [4, 4, 2]]
    assert em["boundingBox"] == {"topLeft": [0, 0, 0], "width": 32, "height": 32, "depth": 8}
    # the collection's own metadata is untouched by the dataset folder
    assert json.loads((here / "study.zarr" / "zarr.json").read_text())["attributes"]["ome"]

    # add and remove keep the dataset in step with the collection
    code, _, err = cli("collection", "remove", "study.zarr", "em lm")
    assert code == 0, err
    assert [x["name"] for x in _properties(here / "study.zarr")["dataLayers"]] == ["raw", "seg"]


def test_layer_names_are_unique_and_plain(here: Path, make_image: Any) -> None:
    make_image(here / "a" / "raw.ome.zarr", shape=(8, 32, 32), levels=2, seed=2)
    code, _, err = cli("collection", "create", "c.zarr", "raw.ome.zarr=r.1", "a/raw.ome.zarr=r 1")
    assert code == 0, err
    code, _out, err = cli("webknossos-properties", "c.zarr")
    assert code == 0, err
    assert [x["name"] for x in _properties(here / "c.zarr")["dataLayers"]] == ["r.1", "r_1"]


def test_absolute_and_url_members(here: Path) -> None:
    server = StaticServer(here)
    try:
        url = server.url("raw.ome.zarr")
        absolute = (here / "em.ome.zarr").as_uri()
        code, _, err = cli(
            "collection", "create", "mixed.zarr", f"{url}=remote", f"{absolute}=em", "--webknossos"
        )
        assert code == 0, err
    finally:
        server.stop()
    remote, em = _properties(here / "mixed.zarr")["dataLayers"]
    assert remote["mags"][0]["path"] == f"{url}/0"
    assert em["mags"][0]["path"] == str(here / "em.ome.zarr" / "0")


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"unit": "nanometer"}, "different units"),
        ({"voxel_size": {"z": 2.0, "y": 1.5, "x": 1.5}}, "3× the dataset's"),
        ({"dtype": "float64"}, "dtype float64"),
    ],
)
def test_what_cannot_be_one_dataset_is_refused(
    kwargs: dict[str, Any], said: str, here: Path, make_image: Any
) -> None:
    make_image(here / "odd.ome.zarr", shape=(8, 16, 16), levels=1, **kwargs)
    code, _, err = cli("collection", "create", "c.zarr", "raw.ome.zarr", "odd.ome.zarr")
    assert code == 0, err
    with pytest.raises(InputError, match=said):
        write_collection_properties(here / "c.zarr")
    code, _, err = cli("webknossos-properties", "c.zarr")
    assert code == 1 and said in err and "Traceback" not in err
    assert not (here / "c.zarr" / "webknossos").exists()


def test_a_json_collection_is_refused(here: Path) -> None:
    code, _, err = cli("collection", "create", "c.json", "raw.ome.zarr", "--webknossos")
    assert code == 2 and "--webknossos" in err and "JSON" in err
    assert not (here / "c.json").exists()
    assert cli("collection", "create", "c.json", "raw.ome.zarr")[0] == 0
    code, _, err = cli("webknossos-properties", "c.json")
    assert code == 1 and "Zarr group" in err


def test_an_add_webknossos_cannot_open_says_what_was_written(here: Path, make_image: Any) -> None:
    make_image(here / "f64.ome.zarr", shape=(8, 32, 32), levels=2, dtype="float64")
    assert cli("collection", "create", "c.zarr", "raw.ome.zarr", "--webknossos")[0] == 0
    code, out, err = cli("collection", "add", "c.zarr", "f64.ome.zarr")
    assert code == 1 and "2 members (raw, f64)" in out
    assert "the collection is written, but not its WEBKNOSSOS dataset" in err
    assert "dtype float64" in err and "Traceback" not in err

"""``ngff view COLLECTION`` without a browser: one layer per member with its display
settings, label members as segmentation layers, the collection's start, remote members
through the proxy; ``ngff serve`` names the collection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ngffkit.collection_edit import add_to_collection, create_collection
from ngffkit.serve import FileBackend, create_app, start_server
from ngffkit.view import start_view

from .conftest import write_pattern


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``cells.ome.zarr`` (labels ``cells``: 1 red, 2 green) and ``em.ome.zarr``, and
    ``study.zarr``: the image, its labels (recoloured) and the second image, dimmed, cyan,
    inverted; the start at x 8, y 4, z 2 µm."""
    write_pattern(tmp_path / "cells.ome.zarr", version="0.5", shards=32, labels=True)
    write_pattern(tmp_path / "em.ome.zarr", version="0.4", shards=None, split="y")
    monkeypatch.chdir(tmp_path)
    create_collection(
        "study.zarr",
        ["cells.ome.zarr", ("cells.ome.zarr/labels/cells", "seg")],
        view={"position": {"x": 8, "y": 4, "z": 2}, "pixelSize": 0.25},
    )
    add_to_collection(
        "study.zarr",
        "em.ome.zarr",
        display={"window": (0, 5000), "color": "00FFFF", "inverted": True, "disabled": True},
    )
    return tmp_path / "study.zarr"


def _layers(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {layer["name"]: layer for layer in state["layers"]}


def test_every_member_is_a_layer_with_its_settings(study: Path) -> None:
    with start_view([str(study)], layout="xy") as session:
        layers = _layers(session.state)
        assert list(layers) == ["cells", "em", "seg"]
        local = session.data_server.url
        assert layers["cells"]["source"] == f"zarr3://{local}/cells.ome.zarr"
        assert layers["em"]["source"] == f"zarr2://{local}/em.ome.zarr"
        assert layers["seg"]["type"] == "segmentation"
        assert layers["seg"]["source"] == f"zarr3://{local}/cells"
        assert layers["seg"]["segmentColors"] == {"1": "#ff0000", "2": "#00ff00"}
        em = layers["em"]
        assert em["visible"] is False
        assert em["shaderControls"] == {"normalized": {"range": [5000.0, 0.0]}, "color": "#00ffff"}
        assert "visible" not in layers["cells"]
        # the collection's start: x 8 µm / 0.5 µm = 16 voxels, y 8, z 2; a pixel 0.25 µm
        assert list(session.state["dimensions"]) == ["x", "y", "z"]
        assert session.state["position"] == [16.0, 8.0, 2.0]
        assert session.state["crossSectionScale"] == 0.5
        r = httpx.get(f"{local}/em.ome.zarr/.zattrs")
        assert r.status_code == 200 and "multiscales" in r.json()


def test_label_attributes_of_the_collection_win(study: Path) -> None:
    doc = json.loads((study / "zarr.json").read_text())
    seg = doc["attributes"]["ome"]["nodes"][1]
    seg["attributes"]["labels"]["labelAttributes"] = [{"labelValue": 1, "color": [0, 0, 255, 255]}]
    (study / "zarr.json").write_text(json.dumps(doc))
    with start_view([str(study)], layout="xy") as session:
        assert _layers(session.state)["seg"]["segmentColors"] == {"1": "#0000ff"}


def test_a_collection_served_over_http_reads_its_members_through_the_proxy(study: Path) -> None:
    folder = study.parent
    with (
        start_server(create_app(FileBackend(folder))) as remote,
        start_view([f"{remote.url}/study.zarr"], layout="xy") as session,
    ):
        layers = _layers(session.state)
        assert list(layers) == ["cells", "em", "seg"]
        local = session.data_server.url
        assert layers["cells"]["source"] == f"zarr3://{local}/cells.ome.zarr"
        # the browser reads the local proxy, which reads the other server
        r = httpx.get(f"{local}/cells/zarr.json")
        assert r.json()["attributes"]["ome"]["image-label"]["colors"][0]["label-value"] == 1


def test_serve_names_the_collection(study: Path) -> None:
    import asyncio

    from ngffkit.serve.discover import discover_datasets

    found = asyncio.run(discover_datasets(FileBackend(study.parent)))
    kinds = {d.key: d.kind for d in found}
    assert kinds["study.zarr"] == "collection"
    assert kinds["cells.ome.zarr"] == "image" and kinds["em.ome.zarr"] == "image"


def test_webknossos_is_disabled_hides_a_member(study: Path) -> None:
    doc = json.loads((study / "zarr.json").read_text())
    doc["attributes"]["ome"]["nodes"][0]["attributes"] = {
        "webknossos:rendering": {"is_disabled": True}
    }
    (study / "zarr.json").write_text(json.dumps(doc))
    with start_view([str(study)], layout="xy") as session:
        assert _layers(session.state)["cells"]["visible"] is False


def test_a_label_member_neuroglancer_cannot_show_is_named() -> None:
    from ngffkit.view.state import ViewLabels, notes_for

    notes = notes_for([], [ViewLabels("seg", "zarr3://x", {}, "int64")])
    assert notes == ["seg: Neuroglancer cannot display int64 labels; use uint32 or uint64."]

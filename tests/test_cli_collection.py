"""``ngff collection create|add|remove`` and ``ngff info|validate`` on collections, as a user
types them (relative paths, from the folder that holds the images)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _support import cli
from ngffkit.cli.collection import split_member
from ngffkit.collection import DRAFT_VERSION


@pytest.fixture
def here(tmp_path: Path, make_image: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_image(tmp_path / "raw.ome.zarr", shape=(8, 32, 32), levels=2, labels=True)
    make_image(tmp_path / "em.ome.zarr", shape=(8, 32, 32), levels=2, seed=1)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _nodes(path: Path) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = json.loads((path / "zarr.json").read_text())["attributes"]["ome"][
        "nodes"
    ]
    return nodes


def test_create_add_remove_say_it_is_a_draft(here: Path) -> None:
    code, out, err = cli(
        "collection", "create", "study.zarr", "raw.ome.zarr", "raw.ome.zarr/labels/cells=seg",
        "--name", "study",
    )  # fmt: skip
    assert code == 0, err
    assert "draft" in err and DRAFT_VERSION in err
    assert "collection 'study', 2 members (raw, seg)" in out
    seg = _nodes(here / "study.zarr")[1]
    assert seg["path"]["path"] == "../raw.ome.zarr/labels/cells"
    assert seg["attributes"]["labels"]["source"] == [{"id": "raw"}]
    code, out, err = cli(
        "collection", "add", "study.zarr", "em.ome.zarr=EM", "--color", "ff00ff",
        "--window", "0:2000", "--inverted", "--disabled",
    )  # fmt: skip
    assert code == 0, err
    assert "draft" in err and "3 members (raw, seg, EM)" in out
    assert _nodes(here / "study.zarr")[2]["attributes"]["ngffkit:display"] == {
        "window": [0, 2000],
        "color": "FF00FF",
        "inverted": True,
        "disabled": True,
    }
    code, out, err = cli("collection", "remove", "study.zarr", "EM")
    assert code == 0, err
    assert "draft" in err and "2 members (raw, seg)" in out
    assert (here / "em.ome.zarr" / "zarr.json").is_file()


def test_json_documents_and_the_overwrite_rule(here: Path) -> None:
    code, _out, err = cli("collection", "create", "views.json", "em.ome.zarr", "--json")
    assert code == 0, err
    assert json.loads((here / "views.json").read_text())["ome"]["nodes"][0]["path"] == {
        "type": "zarr",
        "path": "./em.ome.zarr",
    }
    code, _out, err = cli("collection", "create", "views.json", "raw.ome.zarr", "--json")
    assert code == 1 and "already holds a collection" in err and "--overwrite" in err
    code, _out, err = cli(
        "collection", "create", "views.json", "raw.ome.zarr", "--json", "--overwrite"
    )
    assert code == 0, err
    before = (here / "em.ome.zarr" / "zarr.json").read_text()
    code, _out, err = cli("collection", "create", "em.ome.zarr", "raw.ome.zarr", "--overwrite")
    assert code == 1 and "not a collection written by ngffkit" in err
    assert (here / "em.ome.zarr" / "zarr.json").read_text() == before


def test_bad_display_options_name_the_option(here: Path) -> None:
    cli("collection", "create", "c.zarr", "raw.ome.zarr")
    for args, option in (
        (["--color", "red"], "--color"),
        (["--window", "9"], "--window"),
        (["--window", "5:1"], "--window"),
    ):
        code, _out, err = cli("collection", "add", "c.zarr", "em.ome.zarr", *args)
        assert code == 2 and option in err, err
        assert "Traceback" not in err
    assert len(_nodes(here / "c.zarr")) == 1


def test_info_prints_the_tree(here: Path) -> None:
    cli(
        "collection", "create", "c.zarr", "raw.ome.zarr", "raw.ome.zarr/labels/cells", "em.ome.zarr"
    )
    code, out, err = cli("info", "c.zarr")
    assert code == 0, err
    assert "collection 'c'" in out and DRAFT_VERSION in out
    assert "raw (multiscale, id raw) → ../raw.ome.zarr: 2 levels, uint16, 8×32×32" in out
    assert "cells (multiscale, id cells)" in out and "labels of raw" in out
    code, out, _err = cli("info", "c.zarr", "--json")
    data = json.loads(out)
    assert data["kind"] == "collection" and [m["name"] for m in data["members"]] == [
        "raw",
        "cells",
        "em",
    ]


def test_validate_checks_the_rules_and_every_member(here: Path) -> None:
    cli(
        "collection", "create", "c.zarr", "raw.ome.zarr", "em.ome.zarr", "raw.ome.zarr/labels/cells"
    )
    code, out, err = cli("validate", "c.zarr")
    assert code == 0, out + err
    code, _out, err = cli("collection", "add", "c.zarr", "raw.ome.zarr/labels=group")
    assert code == 1 and "labels group, not an image" in err  # a member must be an image
    assert [n["name"] for n in _nodes(here / "c.zarr")] == ["raw", "em", "cells"]
    assert "valid" in out and "collection" in out
    doc = json.loads((here / "c.zarr" / "zarr.json").read_text())
    nodes = doc["attributes"]["ome"]["nodes"]
    nodes[1]["path"]["path"] = "../missing.ome.zarr"
    (here / "c.zarr" / "zarr.json").write_text(json.dumps(doc))
    code, out, _err = cli("validate", "c.zarr")
    assert code == 1 and "em: member '../missing.ome.zarr'" in out
    # a broken member image: its own problem, named under the member
    meta = json.loads((here / "raw.ome.zarr" / "zarr.json").read_text())
    meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = "nope"
    (here / "raw.ome.zarr" / "zarr.json").write_text(json.dumps(meta))
    code, out, _err = cli("validate", "c.zarr")
    assert code == 1 and "✗ raw" in out
    nodes[1]["path"]["path"] = "../em.ome.zarr"
    nodes.append(dict(nodes[0], id="a b"))
    (here / "c.zarr" / "zarr.json").write_text(json.dumps(doc))
    code, out, _err = cli("validate", "c.zarr")
    assert code == 1 and "'a b'" in out and "two children named 'raw'" not in out


def test_validate_names_the_node_of_each_rule(here: Path) -> None:
    (here / "bad.json").write_text(json.dumps({"ome": {"version": "0.x", "type": "collection",
        "name": "bad", "nodes": [
            {"type": "multiscale", "name": "a", "path": {"type": "zarr", "path": "./em.ome.zarr"}},
            {"type": "multiscale", "name": "a", "path": {"type": "zarr", "path": "./em.ome.zarr"}},
        ]}}))  # fmt: skip
    code, out, _err = cli("validate", "bad.json")
    assert code == 1 and "node 'bad' has two children named 'a'" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("raw.ome.zarr", ("raw.ome.zarr", None)),
        ("raw.ome.zarr=raw", ("raw.ome.zarr", "raw")),
        ("a/b=c", ("a/b", "c")),
        ("https://h/x.zarr?token=abc", ("https://h/x.zarr?token=abc", None)),
        ("https://h/x.zarr?token=abc=EM", ("https://h/x.zarr?token=abc=EM", None)),
        ("x=", ("x=", None)),
    ],
)
def test_image_equals_name(text: str, expected: tuple[str, str | None]) -> None:
    assert split_member(text) == expected


def test_validate_data_reads_every_member(here: Path) -> None:
    cli("collection", "create", "c.zarr", "raw.ome.zarr", "em.ome.zarr")
    code, out, err = cli("validate", "c.zarr", "--data")
    assert code == 0, out + err
    assert "collection (RFC-8 draft)" in out and "every stored chunk read and decoded" in out
    chunk = next(
        p for p in (here / "em.ome.zarr" / "0").rglob("*") if p.is_file() and p.name != "zarr.json"
    )
    chunk.write_bytes(b"garbage")
    code, out, _err = cli("validate", "c.zarr", "--data")
    assert code == 1 and "✗ em: " in out


def test_create_with_a_start_for_viewers(here: Path) -> None:
    code, _out, err = cli(
        "collection",
        "create",
        "c.json",
        "raw.ome.zarr",
        "--position",
        "8,4,0",
        "--pixel-size",
        "0.25",
    )
    assert code == 0, err
    view = json.loads((here / "c.json").read_text())["ome"]["attributes"]["ngffkit:view"]
    assert view == {"position": {"x": 8.0, "y": 4.0, "z": 0.0}, "pixelSize": 0.25}
    for args, option in (
        (["--position", "1,2"], "--position"),
        (["--pixel-size", "0"], "--pixel-size"),
    ):
        code, _out, err = cli("collection", "create", "d.json", "raw.ome.zarr", *args)
        assert code == 2 and option in err
    assert not (here / "d.json").exists()


def test_validate_follows_references_into_other_documents(here: Path) -> None:
    cli("collection", "create", "images.json", "raw.ome.zarr")
    ref = {"id": "raw", "path": {"type": "json", "path": "./images.json"}}
    doc = {"ome": {"version": "0.x", "type": "collection", "name": "segs", "nodes": [
        {"type": "multiscale", "name": "cells", "path": {"type": "zarr", "path": "./raw.ome.zarr/labels/cells"},
         "attributes": {"labels": {"source": [ref]}}}]}}  # fmt: skip
    (here / "segs.json").write_text(json.dumps(doc))
    code, out, err = cli("validate", "segs.json")
    assert code == 0, out + err
    ref["id"] = "nope"
    (here / "segs.json").write_text(json.dumps(doc))
    code, out, _err = cli("validate", "segs.json")
    assert code == 1 and "cells: labels id 'nope', which './images.json' has no node with" in out

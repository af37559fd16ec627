"""Collections (the RFC-8 draft): the model's rules, the documents we write, reading earlier
drafts, member paths (relative, URLs, over HTTP) and what may be replaced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ngffkit
from ngffkit._collection import open_collection
from ngffkit.collection import DRAFT_VERSION, RootNode, upgrade
from ngffkit.collection_edit import (
    add_to_collection,
    create_collection,
    remove_from_collection,
)
from ngffkit.errors import ConflictError, InputError, MetadataError, NgffWarning
from remote.servers import StaticServer


@pytest.fixture
def images(tmp_path: Path, make_image: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``data/raw.ome.zarr`` (with labels ``cells``) and ``data/em.ome.zarr``; the current
    folder is ``tmp_path`` and the path returned is relative (``data``), as users type them."""
    data = tmp_path / "data"
    make_image(data / "raw.ome.zarr", shape=(8, 32, 32), levels=2, labels=True)
    make_image(data / "em.ome.zarr", shape=(8, 32, 32), levels=2, seed=1)
    monkeypatch.chdir(tmp_path)
    return Path("data")


def _ome(path: Path) -> dict[str, Any]:
    return json.loads((path / "zarr.json").read_text())["attributes"]["ome"]


def test_a_group_collection_is_the_drafts_node_tree(images: Path) -> None:
    out = images / "all.zarr"
    collection = create_collection(
        out,
        [
            images / "raw.ome.zarr",
            (images / "raw.ome.zarr" / "labels" / "cells", "cells"),
            images / "em.ome.zarr",
        ],
        name="cells study",
    )
    ome = _ome(out)
    assert ome["version"] == DRAFT_VERSION and ome["type"] == "collection"
    assert ome["name"] == "cells study"
    assert [n["name"] for n in ome["nodes"]] == ["raw", "cells", "em"]
    raw, cells, em = ome["nodes"]
    assert raw == {
        "type": "multiscale",
        "name": "raw",
        "id": "raw",
        "path": {"type": "zarr", "path": "../raw.ome.zarr"},
    }
    assert em["path"] == {"type": "zarr", "path": "../em.ome.zarr"}
    # the label image refers to its image by id, with its colours in the draft's words
    assert cells["attributes"]["labels"]["source"] == [{"id": "raw"}]
    assert all("labelValue" in a for a in cells["attributes"]["labels"]["labelAttributes"])
    assert ome["attributes"]["ngffkit:creator"]["name"] == "ngffkit"
    assert [m.name for m in collection] == ["raw", "cells", "em"]
    opened = ngffkit.open_collection(out).images()
    assert opened["raw"].shape == opened["em"].shape == (8, 32, 32)
    assert opened["cells"].image_label is not None


def test_members_inside_the_group_are_kept_relative_and_json_documents_work(
    images: Path, tmp_path: Path
) -> None:
    inside = create_collection(images, [images / "raw.ome.zarr"], zarr_format=2)
    attrs = json.loads((images / ".zattrs").read_text())
    assert attrs["ome"]["nodes"][0]["path"]["path"] == "./raw.ome.zarr"
    assert (images / ".zgroup").is_file() and inside.name == "data"
    doc = tmp_path / "views" / "study.json"
    doc.parent.mkdir()
    create_collection(doc, [images / "em.ome.zarr", str(images / "raw.ome.zarr")])
    written = json.loads(doc.read_text())["ome"]
    assert [n["path"]["path"] for n in written["nodes"]] == [
        "../data/em.ome.zarr",
        "../data/raw.ome.zarr",
    ]
    assert written["name"] == "study"
    assert open_collection(doc).open("em").shape == (8, 32, 32)


def test_absolute_paths_and_urls_are_kept_as_given(images: Path, tmp_path: Path) -> None:
    doc = tmp_path / "abs.json"
    create_collection(doc, [images.resolve() / "em.ome.zarr"])
    node = json.loads(doc.read_text())["ome"]["nodes"][0]
    assert node["path"]["path"] == (images.resolve() / "em.ome.zarr").as_uri()
    assert open_collection(doc).open("em").shape == (8, 32, 32)
    with pytest.raises(InputError, match="credentials"):
        create_collection(tmp_path / "secret.json", ["https://me:pw@127.0.0.1:9/x.zarr"])
    assert not (tmp_path / "secret.json").exists()


def test_a_collection_served_over_http_opens_its_members_there(images: Path) -> None:
    create_collection(images / "all.zarr", [images / "raw.ome.zarr", images / "em.ome.zarr"])
    server = StaticServer(images)
    try:
        collection = open_collection(server.url("all.zarr"))
        assert [m.location.url for m in collection] == [
            server.url("raw.ome.zarr"),
            server.url("em.ome.zarr"),
        ]
        assert collection.open("raw").shape == (8, 32, 32)
        # a JSON document at the server's root: members beside it
        create_collection(images / "views.json", [images / "em.ome.zarr"])
        document = open_collection(server.url("views.json"))
        assert [m.location.url for m in document] == [server.url("em.ome.zarr")]
        assert document.open("em").shape == (8, 32, 32)
    finally:
        server.stop()


def test_add_and_remove(images: Path) -> None:
    out = images / "all.zarr"
    create_collection(out, [images / "raw.ome.zarr"])
    add_to_collection(
        out, images / "em.ome.zarr", name="EM", display={"window": (0, 500), "color": "#ff0000"}
    )
    node = _ome(out)["nodes"][1]
    assert node["name"] == "EM" and node["id"] == "EM"
    assert node["attributes"]["ngffkit:display"] == {"window": [0, 500], "color": "FF0000"}
    with pytest.raises(ConflictError, match="'EM'"):
        add_to_collection(out, images / "em.ome.zarr", name="EM")
    with pytest.raises(InputError, match="window 5:1"):
        add_to_collection(out, images / "em.ome.zarr", name="x", display={"window": (5, 1)})
    add_to_collection(out, images / "raw.ome.zarr" / "labels" / "cells")
    with pytest.raises(ConflictError, match="cells of .* label 'raw'"):
        remove_from_collection(out, "raw")
    remove_from_collection(out, "cells")
    collection = remove_from_collection(out, "raw")
    assert [m.name for m in collection] == ["EM"]
    assert (images / "raw.ome.zarr" / "zarr.json").is_file()  # the image itself is kept
    with pytest.raises(InputError, match="no member 'raw'.*members: EM"):
        remove_from_collection(out, "raw")


def test_a_member_must_be_an_image(images: Path, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    with pytest.raises((InputError, MetadataError), match="notes"):
        create_collection(tmp_path / "c.zarr", [tmp_path / "notes"])
    with pytest.raises(ConflictError, match="named 'raw'"):
        create_collection(
            tmp_path / "c.zarr", [(images / "raw.ome.zarr", "raw"), (images / "em.ome.zarr", "raw")]
        )
    assert not (tmp_path / "c.zarr").exists()


def test_only_our_collections_are_replaced(images: Path, tmp_path: Path) -> None:
    image = images / "em.ome.zarr"
    before = (image / "zarr.json").read_text()
    for overwrite in (False, True):
        with pytest.raises(ConflictError, match="not a collection written by ngffkit"):
            create_collection(image, [images / "raw.ome.zarr"], overwrite=overwrite)
    assert (image / "zarr.json").read_text() == before
    out = images / "all.zarr"
    create_collection(out, [images / "raw.ome.zarr"])
    with pytest.raises(ConflictError, match="already holds a collection"):
        create_collection(out, [images / "em.ome.zarr"])
    # a member inside the collection's group survives an overwrite: only metadata is rewritten
    inside = out / "kept.txt"
    inside.write_text("mine")
    create_collection(out, [images / "em.ome.zarr"], overwrite=True)
    assert inside.read_text() == "mine"
    assert [n["name"] for n in _ome(out)["nodes"]] == ["em"]
    theirs = tmp_path / "theirs.json"
    theirs.write_text(
        json.dumps({"ome": {"version": "0.x", "type": "collection", "name": "t", "nodes": []}})
    )
    with pytest.raises(ConflictError, match="another tool"):
        create_collection(theirs, [image], overwrite=True)
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(ConflictError, match="something else"):
        create_collection(other, [image], overwrite=True)
    assert other.read_text() == "{}"


# --------------------------------------------------------------------------- the rules


def _root(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "0.x",
        "type": "collection",
        "name": "c",
        "nodes": [
            {"type": "multiscale", "name": "raw", "id": "raw", "path": {"type": "zarr", "path": "./raw"}},
            {"type": "multiscale", "name": "seg", "path": {"type": "zarr", "path": "./seg"},
             "attributes": {"labels": {"source": [{"id": "raw"}]}}},
        ],
    }  # fmt: skip
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([{"type": "multiscale", "name": "", "path": {"type": "zarr", "path": "a"}}], "name is required"),
        ([{"type": "multiscale", "path": {"type": "zarr", "path": "a"}}], "nodes.0.name"),
        ([{"name": "a", "path": {"type": "zarr", "path": "a"}}], "nodes.0.type"),
        ([{"type": "picture", "name": "a", "path": {"type": "zarr", "path": "a"}}], "'picture'"),
        ([{"type": "multiscale", "name": "a", "id": "a b", "path": {"type": "zarr", "path": "a"}}], "'a b'"),
        ([{"type": "multiscale", "name": "a"}], "node 'a' needs exactly one of 'nodes' and 'path', found neither"),
        ([{"type": "collection", "name": "a", "nodes": [], "path": {"type": "json", "path": "a.json"}}], "found both"),
        ([{"type": "multiscale", "name": "a", "path": {"type": "tiff", "path": "a"}}], "'tiff'"),
        ([{"type": "multiscale", "name": "a", "path": {"type": "zarr", "path": "a"}},
          {"type": "multiscale", "name": "a", "path": {"type": "zarr", "path": "b"}}], "two children named 'a'"),
        ([{"type": "multiscale", "name": "a", "id": "x", "path": {"type": "zarr", "path": "a"}},
          {"type": "collection", "name": "b", "nodes": [
              {"type": "multiscale", "name": "c", "id": "x", "path": {"type": "zarr", "path": "c"}}]}],
         "id 'x' is used by both 'a' and 'b/c'"),
        ([{"type": "multiscale", "name": "a", "path": {"type": "zarr", "path": "a"},
           "attributes": {"labels": {"source": [{"id": "nope"}]}}}], "node 'a' labels id 'nope'"),
        ([{"type": "collection", "name": "g", "id": "g", "nodes": []},
          {"type": "multiscale", "name": "a", "path": {"type": "zarr", "path": "a"},
           "attributes": {"labels": {"source": [{"id": "g"}]}}}], "a collection node"),
        ([{"type": "multiscale", "name": "a", "path": {"type": "zarr", "path": "a"},
           "attributes": {"ngffkit:display": {"color": "red"}}}], "'red' is not RRGGBB"),
    ],
)  # fmt: skip
def test_each_draft_rule_names_what_it_found(nodes: list[Any], message: str) -> None:
    from ngffkit._collection import parse_collection

    with pytest.raises(MetadataError, match=message.replace("(", r"\(")):
        parse_collection(_root(nodes=nodes), "here")


def test_a_good_tree_parses_and_keeps_unknown_keys() -> None:
    doc = _root(attributes={"mobie:grid": "true"}, extra_key=1)
    root = RootNode.model_validate(doc)
    assert root.document()["ome"] == doc
    assert [m.name for _, m in root.members()] == ["raw", "seg"]


def test_earlier_drafts_are_read_with_a_warning(images: Path, tmp_path: Path) -> None:
    v2025 = tmp_path / "v2025.json"
    v2025.write_text(json.dumps({"ome": {
        "version": "0.7", "node_type": "collection", "name": "old",
        "nodes": [{"node_type": "image", "name": "raw", "path": str(images / "raw.ome.zarr")}],
    }}))  # fmt: skip
    with pytest.warns(NgffWarning, match="node_type"):
        collection = open_collection(v2025)
    assert collection.open("raw").shape == (8, 32, 32)
    v2024 = tmp_path / "v2024.json"
    v2024.write_text(json.dumps({"https://ngff.openmicroscopy.org/0.6": {"collection": {
        "name": "talk", "members": [{"name": "em", "url": str(images / "em.ome.zarr")}],
    }}}))  # fmt: skip
    with pytest.warns(NgffWarning, match="members"):
        collection = open_collection(v2024)
    assert [m.name for m in collection] == ["em"] and collection.name == "talk"


def test_upgrade_leaves_the_current_draft_alone() -> None:
    current, notes = upgrade(_root())
    assert current == _root() and notes == []


def test_nested_collections_are_followed(images: Path, tmp_path: Path) -> None:
    create_collection(images / "inner.json", [images / "em.ome.zarr"])
    outer = images / "outer.json"
    outer.write_text(json.dumps({"ome": {"version": "0.x", "type": "collection", "name": "o", "nodes": [
        {"type": "collection", "name": "inner", "path": {"type": "json", "path": "./inner.json"}},
        {"type": "collection", "name": "here", "nodes": [
            {"type": "multiscale", "name": "raw", "path": {"type": "zarr", "path": "./raw.ome.zarr"}}]},
    ]}}))  # fmt: skip
    collection = open_collection(outer)
    assert [m.name for m in collection] == ["inner/em", "here/raw"]
    assert collection.open("em").shape == (8, 32, 32)


def test_the_2025_draft_with_custom_nodes_reads(images: Path) -> None:
    # The shape of the draft's WEBKNOSSOS example: node_type, image nodes, string paths (one
    # absolute), custom prefixed node types (kept, not members) and prefixed attributes.
    group = images / "wk.zarr"
    group.mkdir()
    absolute = str((images / "em.ome.zarr").resolve())
    ome = {"version": "0.7", "node_type": "collection", "name": "l4",
           "attributes": {"webknossos:rendering": {"position": {"x": 1, "y": 2, "z": 3}}},
           "nodes": [
               {"node_type": "image", "name": "color", "path": absolute,
                "attributes": {"webknossos:category": "color"}},
               {"node_type": "image", "name": "segmentation", "path": "../raw.ome.zarr/labels/cells",
                "attributes": {"webknossos:category": "segmentation"}},
               {"node_type": "webknossos:mesh", "name": "meshfile_4-4-2",
                "path": "./segmentation/zarr/meshes/meshfile_4-4-2",
                "attributes": {"webknossos:parent": "segmentation"}},
               {"node_type": "image", "name": "prediction", "path": "../raw.ome.zarr",
                "attributes": {"webknossos:rendering": {"is_disabled": True}}},
           ]}  # fmt: skip
    (group / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {"ome": ome}})
    )
    with pytest.warns(NgffWarning, match="node_type.*'image' nodes.*plain-string"):
        collection = open_collection(group)
    assert [m.name for m in collection] == ["color", "segmentation", "prediction"]
    assert collection.root.nodes is not None and collection.root.nodes[2].type == "webknossos:mesh"
    assert collection.open("color").shape == (8, 32, 32)
    assert collection.open("segmentation").image_label is not None


def test_labels_added_before_their_image_are_linked_when_it_comes(images: Path) -> None:
    out = images / "all.zarr"
    create_collection(out, [images / "raw.ome.zarr" / "labels" / "cells", images / "em.ome.zarr"])
    assert "attributes" not in _ome(out)["nodes"][0]
    add_to_collection(out, images / "raw.ome.zarr")
    cells, em, raw = _ome(out)["nodes"]
    assert cells["attributes"]["labels"]["source"] == [{"id": "raw"}]
    assert "attributes" not in em and raw["name"] == "raw"

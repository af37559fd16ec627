"""Metadata models: the spec's own examples round-trip; each MUST violation names its field."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ngffkit.errors import MetadataError
from ngffkit.metadata import dump, extract, parse, recommendations, validation_findings
from ngffkit.metadata.schema import schema_findings

EXAMPLES = Path(__file__).parent / "data" / "spec_examples"


def load_jsonc(path: Path) -> dict[str, Any]:
    # Two spec examples carry // comments (JSONC).
    return json.loads(re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M))


def _examples() -> list[tuple[str, Path]]:
    return [
        (v, p)
        for v in ("0.4", "0.5")
        for p in sorted((EXAMPLES / v).glob("*/*.json"))
        if not p.name.startswith(".")  # the spec's test-runner configs
    ]


@pytest.mark.parametrize(("version", "path"), _examples(), ids=lambda x: str(x)[-40:])
def test_spec_examples_round_trip(version: str, path: Path) -> None:
    raw = load_jsonc(path)
    attrs = raw.get("attributes", raw) if version == "0.5" else raw
    found_version, ns, _ = extract(attrs, 3 if version == "0.5" else 2, str(path))
    assert found_version == version
    model, _, _ = parse(ns, strict=True)
    assert dump(model, version) == attrs


def _image(version: str = "0.4") -> dict[str, Any]:
    return {
        "version": version,
        "multiscales": [
            {
                "axes": [
                    {"name": "c", "type": "channel"},
                    {"name": "z", "type": "space", "unit": "micrometer"},
                    {"name": "y", "type": "space", "unit": "micrometer"},
                    {"name": "x", "type": "space", "unit": "micrometer"},
                ],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [1, 0.5, 0.5, 0.5]}
                        ],
                    }
                ],
            }
        ],
    }


def _mutate(change: str) -> dict[str, Any]:
    ns = _image()
    ms = ns["multiscales"][0]
    if change == "axis order":
        ms["axes"] = [ms["axes"][1], ms["axes"][0], ms["axes"][2], ms["axes"][3]]
    elif change == "missing scale":
        ms["datasets"][0]["coordinateTransformations"] = [
            {"type": "translation", "translation": [0, 0, 0, 0]}
        ]
    elif change == "length mismatch":
        ms["datasets"][0]["coordinateTransformations"][0]["scale"] = [0.5, 0.5, 0.5]
    elif change == "duplicate names":
        ms["axes"][3]["name"] = "y"
    elif change == "too many space axes":
        ms["axes"][0] = {"name": "w", "type": "space"}
    elif change == "translation before scale":
        ms["datasets"][0]["coordinateTransformations"] = [
            {"type": "translation", "translation": [0, 0, 0, 0]},
            {"type": "scale", "scale": [1, 1, 1, 1]},
        ]
    elif change == "no datasets":
        ms["datasets"] = []
    elif change == "negative scale":
        ms["datasets"][0]["coordinateTransformations"][0]["scale"] = [1, -1, 1, 1]
    return ns


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ("axis order", "multiscales[0]", "ordered time, then channel"),
        ("missing scale", "coordinateTransformations", "[scale]"),
        ("length mismatch", "multiscales[0]", "has 3 values, but there are 4 axes"),
        ("duplicate names", "multiscales[0]", "must be unique"),
        ("too many space axes", "multiscales[0]", "Got 4 space axes"),
        ("translation before scale", "coordinateTransformations", "[scale, translation]"),
        ("no datasets", "multiscales[0]", "at least one level"),
        ("negative scale", "scale", "must be positive"),
    ],
)
def test_invalid_metadata_is_rejected_naming_the_field(change: str, field: str, words: str) -> None:
    ns = _mutate(change)
    with pytest.raises(MetadataError) as info:
        parse(ns, strict=True)
    message = str(info.value)
    assert field in message and words in message, message
    findings = validation_findings(ns)
    assert findings and any(field in str(f) for f in findings)


def test_unknown_version_is_rejected() -> None:
    with pytest.raises(MetadataError, match="'0.9'.*does not read"):
        extract({"ome": {"version": "0.9", "multiscales": []}}, 3, "x")
    with pytest.raises(MetadataError, match="no OME-Zarr metadata"):
        extract({"foo": 1}, 2, "somewhere")


def test_lenient_read_of_webknossos_style_axes() -> None:
    ns = {
        "version": "0.4",
        "multiscales": [
            {
                "axes": [
                    {"name": "c", "type": "channel"},
                    {"name": "x", "type": "space", "unit": "nm"},
                    {"name": "y", "type": "space", "unit": "nanometer"},
                    {"name": "z", "type": "space", "unit": "nanometer"},
                ],
                "datasets": [
                    {
                        "path": "1",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [1, 11.24, 11.24, 25]}
                        ],
                    },
                    {
                        "path": "2-2-1",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [1, 22.48, 22.48, 25]}
                        ],
                    },
                ],
            }
        ],
    }
    model, notes, derive = parse(ns)
    ms = model.multiscales[0]  # type: ignore[index]
    assert ms.axis_names == ("c", "x", "y", "z")
    assert ms.axes[1].unit == "nanometer"  # "nm" read as the UDUNITS name
    assert any("nm" in n.message for n in notes)
    assert [d.path for d in ms.datasets] == ["1", "2-2-1"]
    assert not derive
    assert any("z, y, x" in r.message for r in recommendations(model))


def test_lenient_read_of_old_versions() -> None:
    ns = {
        "version": "0.3",
        "multiscales": [{"axes": ["z", "y", "x"], "datasets": [{"path": "0"}, {"path": "1"}]}],
    }
    model, _notes, derive = parse(copy.deepcopy(ns))
    assert derive, "0.3 has no transforms: scales come from the array shapes"
    assert model.multiscales[0].axes[0].type == "space"  # type: ignore[index]
    with pytest.raises(MetadataError):
        parse(ns, strict=True)


def test_dump_writes_each_version_exactly() -> None:
    model, _, _ = parse(_image("0.4"), strict=True)
    v04 = dump(model, "0.4")
    assert v04["multiscales"][0]["version"] == "0.4"
    assert "version" not in v04
    v05 = dump(model, "0.5")
    assert v05["ome"]["version"] == "0.5"
    assert "version" not in v05["ome"]["multiscales"][0]
    assert schema_findings(v04, "0.4", "image") == []
    assert schema_findings(v05, "0.5", "image") == []
    with pytest.raises(MetadataError, match="0.4 or 0.5"):
        dump(model, "0.3")


def test_schema_findings_name_the_place() -> None:
    bad = {"multiscales": [{"version": "0.4", "axes": [{"name": "x"}], "datasets": []}]}
    findings = schema_findings(bad, "0.4", "image")
    assert findings and all("JSON schema image" in f.message for f in findings)
    assert any(f.where.startswith("multiscales[0]") for f in findings)


def test_label_colors_must_be_unique() -> None:
    ns = {
        "version": "0.4",
        "image-label": {
            "colors": [
                {"label-value": 1, "rgba": [0, 0, 0, 255]},
                {"label-value": 1, "rgba": [1, 1, 1, 255]},
            ]
        },
    }
    with pytest.raises(MetadataError, match=r"image-label.*more than once"):
        parse(ns, strict=True)


def test_omero_color_is_checked() -> None:
    ns = _image()
    ns["omero"] = {
        "channels": [{"color": "red", "window": {"start": 0, "end": 1, "min": 0, "max": 1}}]
    }
    with pytest.raises(MetadataError, match=r"omero\.channels\[0\]\.color"):
        parse(ns, strict=True)


def test_group_metadata_has_one_builder_per_zarr_format() -> None:
    from ngffkit.metadata.io import group_files, labels_attributes, ome_namespace, zarr_format_of

    attrs = {"ome": {"version": "0.5", "labels": ["cells"]}}
    assert group_files(attrs, 3) == {
        "zarr.json": {"zarr_format": 3, "node_type": "group", "attributes": attrs}
    }
    assert list(group_files({"labels": []}, 2)) == [".zgroup", ".zattrs"]
    assert ome_namespace(attrs, 3) is attrs["ome"]
    assert ome_namespace({"labels": ["a"]}, 2) == {"labels": ["a"]}
    assert labels_attributes(["a"], "0.5") == {"ome": {"version": "0.5", "labels": ["a"]}}
    assert labels_attributes(["a"], "0.4", {"x": 1}) == {"x": 1, "labels": ["a"]}
    assert (zarr_format_of("0.5"), zarr_format_of("0.4")) == (3, 2)

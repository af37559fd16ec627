"""``ngff info`` and ``ngff validate`` run as a user runs them (in this process: the
messages and exit statuses are the same as in a process of its own), on real data.

Valid images come from ngffkit itself (0.4 and 0.5, sharded, with labels), from ome-zarr-py
and from a WEBKNOSSOS-style layout; invalid ones are ngffkit images with one thing broken.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# -- fixtures: valid images -----------------------------------------------------------------


@pytest.fixture(scope="session")
def ours(tmp_path_factory: pytest.TempPathFactory, make_image: Any) -> dict[str, Path]:
    """Our 0.4 and 0.5 (sharded) images, both with a label image."""
    root = tmp_path_factory.mktemp("cli-ours")
    out = {}
    for version, shards in (("0.4", None), ("0.5", 32)):
        path = root / f"img-{version}.ome.zarr"
        make_image(path, version=version, shards=shards, labels=True)
        out[version] = path
    return out


def write_ome_zarr_py(path: Path, version: str, labels: bool) -> Path:
    """An OME-Zarr image (2 channels, 2 levels, z downsampled too) written by ome-zarr-py."""
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image, write_labels

    fmt = FormatV05() if version == "0.5" else FormatV04()
    data = np.random.default_rng(1).integers(0, 255, (2, 16, 48, 48), dtype=np.uint8)
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    factors = [{"z": 2, "y": 2, "x": 2}]
    units = {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    with pytest.warns(UserWarning):  # "Scale value not provided for axes {'c'}"
        write_image(
            data,
            group,
            scale_factors=factors,
            fmt=fmt,
            axes="czyx",
            method=Methods.NEAREST,
            scale={"z": 2.0, "y": 0.5, "x": 0.5},
            axes_units=units,
        )
    if labels:
        write_labels(
            (data[:1] > 128).astype(np.uint8),
            group,
            name="mask",
            scaler=None,
            scale_factors=factors,
            method=Methods.NEAREST,
            fmt=fmt,
            axes="czyx",
            axes_units=units,
        )
    return path


@pytest.fixture(scope="session")
def ome_zarr_py_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ome-zarr-py's 0.4 and 0.5 images, with labels, and a 0.5 one without labels."""
    root = tmp_path_factory.mktemp("cli-omezarr")
    return {
        "0.4": write_ome_zarr_py(root / "v04.ome.zarr", "0.4", labels=True),
        "0.5": write_ome_zarr_py(root / "v05.ome.zarr", "0.5", labels=True),
        "0.5-no-labels": write_ome_zarr_py(root / "v05-nolabels.ome.zarr", "0.5", labels=False),
    }


@pytest.fixture(scope="session")
def ome_zarr_py_image(ome_zarr_py_images: dict[str, Path]) -> Path:
    return ome_zarr_py_images["0.5"]


@pytest.fixture(scope="session")
def wk_image(tmp_path_factory: pytest.TempPathFactory, write_wk_layer: Any) -> Path:
    """A WEBKNOSSOS-style layer: axes c,x,y,z in nanometer, mag paths, transpose codec."""
    root = tmp_path_factory.mktemp("cli-wk") / "dataset"
    data = np.random.default_rng(2).integers(1, 255, (12, 40, 48), dtype=np.uint8)
    write_wk_layer(root, data)
    return root / "color"


# -- helpers -------------------------------------------------------------------------------


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    """No Python traceback reached the user."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


def info_json(run_cli: Callable[..., Any], path: Path) -> dict[str, Any]:
    proc = run_cli("info", "--json", path)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    return json.loads(proc.stdout)


def group_meta_file(path: Path) -> Path:
    return path / "zarr.json" if (path / "zarr.json").exists() else path / ".zattrs"


def edit_multiscale(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to the first multiscale of the group metadata at ``path``."""
    meta_file = group_meta_file(path)
    meta = json.loads(meta_file.read_text())
    ome = meta["attributes"]["ome"] if meta_file.name == "zarr.json" else meta
    change(ome["multiscales"][0])
    meta_file.write_text(json.dumps(meta))


def edit_ome(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    meta_file = group_meta_file(path)
    meta = json.loads(meta_file.read_text())
    change(meta["attributes"]["ome"] if meta_file.name == "zarr.json" else meta)
    meta_file.write_text(json.dumps(meta))


# -- ngff info -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_info_on_our_images(run_cli: Any, ours: dict[str, Path], version: str) -> None:
    proc = run_cli("info", ours[version])
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    out = proc.stdout
    zarr_format = "3" if version == "0.5" else "2"
    assert f"OME-Zarr {version} (Zarr v{zarr_format})" in out
    assert "name: ngffkit-test" in out
    for axis in ("z", "y", "x"):
        assert f"{axis} (space, micrometer)" in out
    assert "voxel size: z 2 micrometer, y 0.5 micrometer, x 0.5 micrometer" in out
    assert "dtype: uint16" in out
    # every level with shape, chunks, shards, compression
    lines = {
        line.split()[1]: line
        for line in out.splitlines()
        if line.split()[1:2] in (["0"], ["1"], ["2"])
    }
    assert "20×64×64" in lines["0"] and "16×16×16" in lines["0"] and "zstd:5" in lines["0"]
    assert "10×32×32" in lines["1"] and "5×16×16" in lines["2"]
    if version == "0.5":
        assert "32×32×32" in lines["0"]  # shards
    assert "levels (3)" in out and "stored" in out and "×" in lines["0"].split()[-1]  # ratio
    assert "cells: 3 levels, uint32, shape 20×64×64" in out


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_info_json_has_the_same_facts(run_cli: Any, ours: dict[str, Path], version: str) -> None:
    data = info_json(run_cli, ours[version])
    assert data["status"] == "complete"
    assert data["version"] == version
    assert data["zarr_format"] == (3 if version == "0.5" else 2)
    assert data["name"] == "ngffkit-test"
    assert [a["name"] for a in data["axes"]] == ["z", "y", "x"]
    assert {a["unit"] for a in data["axes"]} == {"micrometer"}
    assert data["voxel_size"] == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert [lv["path"] for lv in data["levels"]] == ["0", "1", "2"]
    assert [lv["shape"] for lv in data["levels"]] == [[20, 64, 64], [10, 32, 32], [5, 16, 16]]
    level0 = data["levels"][0]
    assert level0["chunks"] == [16, 16, 16]
    assert level0["shards"] == ([32, 32, 32] if version == "0.5" else None)
    assert level0["compression"] == "zstd:5"
    assert level0["bytes"] == 20 * 64 * 64 * 2
    assert level0["stored_bytes"] > 0 and level0["ratio"] == pytest.approx(
        level0["bytes"] / level0["stored_bytes"]
    )
    assert data["stored_bytes"] == sum(lv["stored_bytes"] for lv in data["levels"])
    assert data["levels"][1]["scale"] == [4.0, 1.0, 1.0]
    assert data["labels"] == [
        {
            "name": "cells",
            "levels": 3,
            "dtype": "uint32",
            "shape": [20, 64, 64],
            "values": None,  # not recorded by that writer; info reads no chunks
            "colors": 2,
        }
    ]


def test_info_on_ome_zarr_py_image(run_cli: Any, ome_zarr_py_image: Path) -> None:
    proc = run_cli("info", ome_zarr_py_image)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    assert "OME-Zarr 0.5 (Zarr v3)" in proc.stdout
    assert "c (channel), z (space, micrometer)" in proc.stdout
    assert "mask: 2 levels, uint8, shape 1×16×48×48" in proc.stdout
    data = info_json(run_cli, ome_zarr_py_image)
    assert [lv["path"] for lv in data["levels"]] == ["s0", "s1"]
    assert [lv["shape"] for lv in data["levels"]] == [[2, 16, 48, 48], [2, 8, 24, 24]]
    assert data["voxel_size"] == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert data["labels"][0]["name"] == "mask"


def test_info_on_webknossos_layout(run_cli: Any, wk_image: Path) -> None:
    proc = run_cli("info", wk_image)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    out = proc.stdout
    assert (
        "axes: c (channel), x (space, nanometer), y (space, nanometer), z (space, nanometer)" in out
    )
    assert "voxel size: x 11.24 nanometer, y 11.24 nanometer, z 25 nanometer" in out
    assert "transpose(3, 2, 1, 0) + zstd:5" in out
    data = info_json(run_cli, wk_image)
    assert [lv["path"] for lv in data["levels"]] == ["1", "2-2-1", "4-4-2"]
    assert [a["name"] for a in data["axes"]] == ["c", "x", "y", "z"]
    assert data["levels"][1]["scale"] == pytest.approx([1.0, 22.48, 22.48, 25.0])
    assert data["levels"][0]["shards"] == [1, 32, 32, 32]
    assert data["levels"][0]["chunks"] == [1, 16, 16, 16]


def test_info_on_partial_dataset(run_cli: Any, tmp_path: Path, make_image: Any) -> None:
    path = tmp_path / "partial.ome.zarr"
    make_image(path, finish=False, levels=2)
    proc = run_cli("info", path)
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr
    assert "PARTIAL" in proc.stdout and "partial" in proc.stdout
    data = info_json(run_cli, path)
    assert data["status"] == "partial"
    assert [lv["shape"] for lv in data["levels"]] == [[20, 64, 64], [10, 32, 32]]


def _not_ome(tmp_path: Path) -> Path:
    folder = tmp_path / "just-a-folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    return folder


def _malformed(tmp_path: Path) -> Path:
    folder = tmp_path / "garbage.ome.zarr"
    folder.mkdir()
    (folder / "zarr.json").write_text('{"zarr_format": 3, "node_type": "gro')
    return folder


def _zarr_group_without_ome(tmp_path: Path) -> Path:
    # e.g. the root of a WEBKNOSSOS dataset: a Zarr group, but no OME metadata
    folder = tmp_path / "wk-dataset"
    folder.mkdir()
    (folder / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    return folder


def _labels_group(tmp_path: Path) -> Path:
    folder = tmp_path / "img" / "labels"
    folder.mkdir(parents=True)
    (folder / ".zgroup").write_text('{"zarr_format": 2}')
    (folder / ".zattrs").write_text('{"labels": ["cells"]}')
    return folder


@pytest.mark.parametrize(
    "make_path",
    [
        lambda tmp: tmp / "does-not-exist.zarr",
        _not_ome,
        _malformed,
        _zarr_group_without_ome,
        _labels_group,
    ],
    ids=["missing", "not-ome", "malformed-json", "zarr-group-without-ome", "labels-group"],
)
def test_info_errors(run_cli: Any, tmp_path: Path, make_path: Callable[[Path], Path]) -> None:
    path = make_path(tmp_path)
    proc = run_cli("info", path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert_clean(proc)
    assert proc.stderr.startswith("Error: "), proc.stderr
    assert str(path) in proc.stderr
    assert proc.stdout == ""


def test_info_on_labels_group_points_to_label_images(run_cli: Any, ours: dict[str, Path]) -> None:
    proc = run_cli("info", ours["0.5"] / "labels")
    assert proc.returncode == 1
    assert_clean(proc)
    assert "labels group, not an image" in proc.stderr and "cells" in proc.stderr
    label = run_cli("info", ours["0.5"] / "labels" / "cells")
    assert label.returncode == 0, label.stderr
    assert "20×64×64" in label.stdout


def test_validate_zarr_group_without_ome(run_cli: Any, tmp_path: Path) -> None:
    """A Zarr group is readable; without OME metadata it is simply not a valid OME-Zarr."""
    path = _zarr_group_without_ome(tmp_path)
    proc = run_cli("validate", path)
    assert_clean(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no OME-Zarr metadata" in proc.stdout


# -- ngff validate: valid ------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_validate_accepts_our_images(run_cli: Any, ours: dict[str, Path], version: str) -> None:
    proc = run_cli("validate", ours[version])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_clean(proc)
    assert f"valid OME-Zarr {version} image" in proc.stdout
    # ours is clean enough for --strict too
    strict = run_cli("validate", "--strict", ours[version])
    assert strict.returncode == 0, strict.stdout + strict.stderr
    report = json.loads(run_cli("validate", "--json", ours[version]).stdout)
    assert report["valid"] is True and report["version"] == version and report["problems"] == []


@pytest.mark.parametrize("which", ["0.4", "0.5-no-labels"])
def test_validate_accepts_ome_zarr_py_images(
    run_cli: Any, ome_zarr_py_images: dict[str, Path], which: str
) -> None:
    proc = run_cli("validate", ome_zarr_py_images[which])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_clean(proc)
    assert "valid OME-Zarr" in proc.stdout


def test_validate_names_ome_zarr_py_05_labels_group_without_version(
    run_cli: Any, ome_zarr_py_images: dict[str, Path]
) -> None:
    """ome-zarr-py 0.18 writes a 0.5 ``labels`` group as ``{"ome": {"labels": [...]}}``,
    without the ``ome.version`` that 0.5 requires in every OME group (ome-zarr-models
    rejects it too). Everything else about that image is valid: the report names just that."""
    proc = run_cli("validate", ome_zarr_py_images["0.5"])
    assert_clean(proc)
    assert proc.returncode == 1, proc.stdout
    problems = [line for line in proc.stdout.splitlines() if line.startswith("✗")]
    assert len(problems) == 1, proc.stdout
    assert "labels/ome.version" in problems[0] and "missing" in problems[0]


def test_validate_accepts_webknossos_layout(run_cli: Any, wk_image: Path) -> None:
    proc = run_cli("validate", wk_image)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_clean(proc)
    # x,y,z order is a SHOULD: a warning, which --strict turns into a failure
    assert "z, y, x" in proc.stdout
    assert run_cli("validate", "--strict", wk_image).returncode == 1


def test_validate_names_webknossos_string_zarr_format(
    run_cli: Any, tmp_path: Path, write_wk_layer: Any
) -> None:
    """webknossos-libs' Zarr v2 layers spell ``.zgroup`` as ``{"zarr_format": "2"}``:
    ngff info reads them, ngff validate says exactly what is wrong."""
    zyx = np.random.default_rng(4).integers(1, 255, (12, 40, 48), dtype=np.uint8)
    write_wk_layer(tmp_path / "ds", zyx, zarr_format=2)
    layer = tmp_path / "ds" / "color"
    info = run_cli("info", layer)
    assert info.returncode == 0, info.stderr
    assert "OME-Zarr 0.4 (Zarr v2)" in info.stdout and "2-2-1" in info.stdout
    proc = run_cli("validate", layer)
    assert_clean(proc)
    assert proc.returncode == 1
    problems = [line for line in proc.stdout.splitlines() if line.startswith("✗")]
    assert problems == [
        "✗ .zgroup.zarr_format: must be the number 2, found '2'; zarr-python refuses to open "
        "this group"
    ]


def test_validate_space_axes_in_another_order_is_only_a_warning(
    run_cli: Any, tmp_path: Path, make_image: Any
) -> None:
    """Space axes named x, z, y (types all space) follow the MUST rules; zyx is a SHOULD."""
    path = tmp_path / "img.ome.zarr"
    make_image(path, version="0.4", shape=(8, 32, 32), levels=2)

    def change(ms: dict[str, Any]) -> None:
        ms["axes"] = [{"name": n, "type": "space", "unit": "micrometer"} for n in "xzy"]

    edit_multiscale(path, change)
    proc = run_cli("validate", path)
    assert proc.returncode == 0, proc.stdout
    assert "should be z, y, x; got x, z, y" in proc.stdout
    assert run_cli("validate", "--strict", path).returncode == 1


# -- ngff validate: invalid (exit 1, message naming the field) -----------------------------


def _axis_order(path: Path) -> None:
    # Names x,z,y in any order would be fine (a SHOULD); a channel after space is not.
    def change(ms: dict[str, Any]) -> None:
        ms["axes"] = [
            {"name": "x", "type": "space", "unit": "micrometer"},
            {"name": "c", "type": "channel"},
            {"name": "y", "type": "space", "unit": "micrometer"},
        ]

    edit_multiscale(path, change)


def _missing_scale(path: Path) -> None:
    def change(ms: dict[str, Any]) -> None:
        del ms["datasets"][1]["coordinateTransformations"]

    edit_multiscale(path, change)


def _scale_length(path: Path) -> None:
    def change(ms: dict[str, Any]) -> None:
        ms["datasets"][0]["coordinateTransformations"][0]["scale"] = [2.0, 0.5]

    edit_multiscale(path, change)


def _unknown_version(path: Path) -> None:
    def change(ome: dict[str, Any]) -> None:
        if "multiscales" in ome and "version" in ome["multiscales"][0]:
            ome["multiscales"][0]["version"] = "0.9"
        else:
            ome["version"] = "0.9"

    edit_ome(path, change)


def _duplicate_axes(path: Path) -> None:
    def change(ms: dict[str, Any]) -> None:
        ms["axes"][1]["name"] = "x"

    edit_multiscale(path, change)


def _missing_level(path: Path) -> None:
    shutil.rmtree(path / "2")


def _dimension_names(path: Path) -> None:
    meta_file = path / "1" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["dimension_names"] = ["x", "y", "z"]
    meta_file.write_text(json.dumps(meta))


def _coarse_to_fine(path: Path) -> None:
    def change(ms: dict[str, Any]) -> None:
        ms["datasets"] = ms["datasets"][::-1]

    edit_multiscale(path, change)


INVALID: list[tuple[str, str, Callable[[Path], None], list[str]]] = [
    # (id, version, breakage, words the message must contain)
    ("axis-order-0.4", "0.4", _axis_order, ["axes", "ordered"]),
    ("axis-order-0.5", "0.5", _axis_order, ["axes", "ordered"]),
    ("missing-scale", "0.5", _missing_scale, ["datasets[1]", "coordinateTransformations"]),
    ("missing-scale-0.4", "0.4", _missing_scale, ["datasets[1]", "coordinateTransformations"]),
    ("scale-length", "0.5", _scale_length, ["datasets[0]", "scale", "2 values", "3 axes"]),
    ("unknown-version-0.5", "0.5", _unknown_version, ["version", "0.9"]),
    ("unknown-version-0.4", "0.4", _unknown_version, ["version", "0.9"]),
    ("duplicate-axes", "0.5", _duplicate_axes, ["axis names", "unique", "x"]),
    ("missing-level", "0.5", _missing_level, ["datasets[2]", "no array", "'2'"]),
    ("missing-level-0.4", "0.4", _missing_level, ["datasets[2]", "no array", "'2'"]),
    ("dimension-names", "0.5", _dimension_names, ["datasets[1]", "dimension_names"]),
    ("coarse-to-fine", "0.5", _coarse_to_fine, ["datasets[1]", "fine to coarse"]),
]


@pytest.mark.parametrize(
    ("version", "breakage", "words"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_validate_rejects(
    run_cli: Any,
    tmp_path: Path,
    make_image: Any,
    version: str,
    breakage: Callable[[Path], None],
    words: list[str],
) -> None:
    path = tmp_path / "img.ome.zarr"
    make_image(path, version=version, shape=(8, 32, 32), chunks=16)
    breakage(path)
    proc = run_cli("validate", path)
    assert_clean(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = [line for line in proc.stdout.splitlines() if line.startswith("✗")]
    assert problems, proc.stdout
    assert any(all(w in line for w in words) for line in problems), (words, proc.stdout)
    assert "invalid:" in proc.stdout


def test_validate_json_report(run_cli: Any, tmp_path: Path, make_image: Any) -> None:
    path = tmp_path / "img.ome.zarr"
    make_image(path, version="0.5", shape=(8, 32, 32), chunks=16)
    _dimension_names(path)
    proc = run_cli("validate", "--json", path)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["valid"] is False and report["version"] == "0.5" and report["kind"] == "image"
    assert len(report["problems"]) == 1
    problem = report["problems"][0]
    assert problem["where"].startswith("multiscales[0].datasets[1]")
    assert "dimension_names" in problem["message"] and problem["severity"] == "error"


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_validate_rejects_float_label_image(
    run_cli: Any, tmp_path: Path, make_image: Any, version: str
) -> None:
    """Spec: label images hold integers. ngffkit refuses to write a float one, so the label
    arrays are rewritten as float32 behind its back."""
    import zarr

    path = tmp_path / "img.ome.zarr"
    made = make_image(path, version=version, shape=(8, 32, 32), labels=True)
    label = path / "labels" / "cells"
    group = zarr.open_group(str(label), mode="r+")
    for lv, data in zip(made["label_spec"].levels, made["label_levels"], strict=True):
        del group[lv.path]
        kwargs: dict[str, Any] = (
            {"dimension_names": ("z", "y", "x")}
            if version == "0.5"
            else {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
        )
        group.create_array(lv.path, data=data.astype("float32"), chunks=lv.chunks, **kwargs)
    proc = run_cli("validate", path)
    assert_clean(proc)
    assert proc.returncode == 1, proc.stdout
    assert "labels/cells" in proc.stdout and "integers" in proc.stdout and "float32" in proc.stdout


def test_validate_partial_dataset(run_cli: Any, tmp_path: Path, make_image: Any) -> None:
    path = tmp_path / "partial.ome.zarr"
    make_image(path, finish=False, levels=2, shape=(8, 32, 32))
    proc = run_cli("validate", path)
    assert_clean(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "partial" in proc.stdout
    assert json.loads(run_cli("validate", "--json", path).stdout)["partial"] is True


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        ("labels/cells/zarr.json", "labels/cells"),
        ("labels/zarr.json", "labels"),
        ("1/zarr.json", "datasets[1]"),
    ],
    ids=["label-image", "labels-group", "level-array"],
)
def test_validate_malformed_json_inside_the_image_is_a_problem(
    run_cli: Any, tmp_path: Path, make_image: Any, broken: str, where: str
) -> None:
    """Only an unreadable image itself is exit 2; a garbled file inside it is a problem
    (exit 1) named by where it is."""
    path = tmp_path / "img.ome.zarr"
    make_image(path, version="0.5", shape=(8, 32, 32), labels=True)
    (path / broken).write_text("{garbage")
    proc = run_cli("validate", path)
    assert_clean(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = [line for line in proc.stdout.splitlines() if line.startswith("✗")]
    assert any(
        where in line and "not valid JSON" in line and broken in line for line in problems
    ), problems


# -- ngff validate: unreadable (exit 2) ----------------------------------------------------


@pytest.mark.parametrize(
    "make_path",
    [lambda tmp: tmp / "does-not-exist.zarr", _not_ome, _malformed],
    ids=["missing", "plain-directory", "malformed-json"],
)
def test_validate_unreadable(
    run_cli: Any, tmp_path: Path, make_path: Callable[[Path], Path]
) -> None:
    path = make_path(tmp_path)
    proc = run_cli("validate", path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert_clean(proc)
    assert proc.stderr.startswith("Error: "), proc.stderr
    assert str(path) in proc.stderr


# -- --strict ------------------------------------------------------------------------------


def _no_name(path: Path) -> None:
    edit_multiscale(path, lambda ms: ms.pop("name"))


def _unit_nm(path: Path) -> None:
    def change(ms: dict[str, Any]) -> None:
        for axis in ms["axes"]:
            axis["unit"] = "nm"

    edit_multiscale(path, change)


@pytest.mark.parametrize(
    ("breakage", "words"),
    [(_no_name, ["name"]), (_unit_nm, ["unit", "'nm'"])],
    ids=["missing-name", "unit-nm"],
)
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_strict_turns_warnings_into_failures(
    run_cli: Any,
    tmp_path: Path,
    make_image: Any,
    version: str,
    breakage: Callable[[Path], None],
    words: list[str],
) -> None:
    path = tmp_path / "img.ome.zarr"
    make_image(path, version=version, shape=(8, 32, 32), levels=2)
    breakage(path)
    lenient = run_cli("validate", path)
    assert_clean(lenient)
    assert lenient.returncode == 0, lenient.stdout
    assert "warning" in lenient.stdout
    assert any(
        line.startswith("!") and all(w in line for w in words)
        for line in lenient.stdout.splitlines()
    ), lenient.stdout
    strict = run_cli("validate", "--strict", path)
    assert_clean(strict)
    assert strict.returncode == 1, strict.stdout
    assert any(
        line.startswith("✗") and all(w in line for w in words)
        for line in strict.stdout.splitlines()
    ), strict.stdout

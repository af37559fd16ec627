"""The library never speaks CLI: its errors name parameters (``shards``, ``resume=True``);
the command line words the same errors with its options (``--shards``, ``--resume``), in
one place (``cli._common.cli_message``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

import ngffkit
from _support import cli
from ngffkit.cli._common import cli_message, cli_words, option_name

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ngffkit"
FLAG = re.compile(r"(?<![\w`-])--[a-z][a-z-]*")


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    folder = tmp_path / "stack"
    folder.mkdir()
    for z in range(8):
        tifffile.imwrite(folder / f"z{z:02d}.tif", np.full((24, 20), z, np.uint8))
    return folder


def test_convert_names_its_parameters(stack: Path, tmp_path: Path) -> None:
    with pytest.raises(ngffkit.OptionError) as info:
        ngffkit.convert(stack, tmp_path / "a.zarr", version="0.6")
    assert info.value.option == "version" and str(info.value).startswith("version: ")
    assert "--" not in str(info.value)
    with pytest.raises(ngffkit.OptionError) as info:
        ngffkit.plan_convert(stack, tmp_path / "a.zarr", chunks=8, shards=12)
    assert info.value.option == "shards"
    assert str(info.value).startswith("shards: 12 on axis z is not a multiple")
    with pytest.raises(ngffkit.OptionError) as info:
        ngffkit.plan_convert(stack, tmp_path / "a.zarr", region=[(0, 99), (None, None), (0, 5)])
    assert info.value.option == "region" and "--" not in str(info.value)
    # the CLI's words for the same errors
    assert cli_message(info.value).startswith("Invalid value for --ranges: 0:99 on axis z")


def test_compress_names_its_parameters(stack: Path, tmp_path: Path) -> None:
    image = tmp_path / "img.ome.zarr"
    ngffkit.convert(stack, image, voxel_size=1.0, unit="micrometer", levels=1, chunks=8)
    with pytest.raises(ngffkit.OptionError) as info:
        ngffkit.compress(image, output=tmp_path / "c.zarr", version="0.4", shards=16)
    assert info.value.option == "shards"
    assert str(info.value) == "shards: needs version=0.5: OME-Zarr 0.4 (Zarr v2) has no sharding"
    with pytest.raises(ngffkit.OptionError) as info:
        ngffkit.compress(image, output=tmp_path / "c.zarr", rollback=True)
    assert info.value.option == "rollback" and "does not go with output " in str(info.value)
    code, _, err = cli("compress", image, "--output", tmp_path / "c.zarr", "--rollback")
    assert code == 2
    assert err == (
        "Error: Invalid value for --rollback: undoes an interrupted in-place compress; it "
        "does not go with --output (delete the output instead)\n"
    )
    code, _, err = cli("compress", image, "--format", "0.4", "--shards", "16")
    assert code == 2
    assert "Invalid value for --shards: needs --format 0.5: OME-Zarr 0.4" in err


def test_an_existing_output_is_worded_for_each_audience(stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    ngffkit.convert(stack, out, voxel_size=1.0, unit="micrometer", levels=1)
    with pytest.raises(ngffkit.ConflictError) as info:
        ngffkit.convert(stack, out, voxel_size=1.0, unit="micrometer", levels=1)
    assert "overwrite=True" in str(info.value) and "--" not in str(info.value)
    assert "--overwrite" in cli_message(info.value)


def test_the_cli_words_parameters_as_its_options() -> None:
    assert option_name("raw_shape") == "--raw-shape"
    assert option_name("version") == "--format"  # the options named otherwise
    assert option_name("region") == "--ranges"
    assert cli_words("pass [[allow_gaps=True]] or [[raw_shape=X,Y,Z]] ([[jobs]])") == (
        "pass --allow-gaps or --raw-shape X,Y,Z (--jobs)"
    )
    assert str(ngffkit.NgffkitError("pass [[allow_gaps=True]] or [[jobs]]")) == (
        "pass allow_gaps=True or jobs"
    )


def _raised_texts(tree: ast.AST) -> list[tuple[int, str]]:
    """The string pieces of every ``raise`` statement."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            found += [
                (n.lineno, n.value)
                for n in ast.walk(node.exc)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
    return found


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts),
    ids=lambda p: p.relative_to(PACKAGE).as_posix(),
)
def test_no_library_error_names_a_command_line_option(path: Path) -> None:
    """Library code raises with ``[[parameter]]`` references, never ``--option`` text."""
    flags = [
        (line, text)
        for line, text in _raised_texts(ast.parse(path.read_text()))
        # a whole command in backquotes (`ngff serve --listing`) is an example to run
        if FLAG.search(re.sub(r"`[^`]*`", "", text))
    ]
    assert flags == [], f"{path.name}: word these as [[parameter]]: {flags}"

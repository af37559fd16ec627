"""The command line behaves as Unix tools do: ``--version``, ``-h``, usage lines that name
arguments in capitals (``INPUT OUTPUT``, ``[FOLDER]``), for every command there is."""

from __future__ import annotations

import re
from typing import Any

import pytest

import ngffkit
from ngffkit.cli.app import app, register_commands


def command_names() -> list[str]:
    register_commands()
    return [str(info.name) for info in app.registered_commands]


def test_version(run_cli: Any) -> None:
    out = run_cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"ngff (ngffkit) {ngffkit.__version__}\n"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_short_and_long_help(run_cli: Any, flag: str) -> None:
    out = run_cli(flag)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: ngff [OPTIONS] COMMAND [ARGS]...\n")
    assert "-h, --help" in out.stdout and "--version" in out.stdout
    for name in command_names():
        assert re.search(rf"^  {re.escape(name)}\s", out.stdout, re.M), name


# Arguments in capitals, optional ones in brackets, repeated ones with "...": no braces.
USAGE = re.compile(
    r"Usage: ngff (?P<cmd>[a-z-]+) \[OPTIONS\]((?: \[?[A-Z][A-Z|_-]*(?:\.\.\.)?\]?)*)$"
)


@pytest.mark.parametrize("name", command_names())
def test_usage_lines(run_cli: Any, name: str) -> None:
    out = run_cli(name, "-h")
    assert out.returncode == 0, out.stderr
    usage = out.stdout.splitlines()[0]
    match = USAGE.fullmatch(usage)
    assert match and match["cmd"] == name, usage
    assert "{" not in out.stdout


def test_usage_of_a_command_with_a_missing_argument(run_cli: Any) -> None:
    out = run_cli("convert")
    assert out.returncode == 2
    assert out.stderr.splitlines()[:2] == [
        "Usage: ngff convert [OPTIONS] INPUT... OUTPUT",
        "Try 'ngff convert -h' for help.",
    ]
    assert "Missing argument" in out.stderr


def test_one_option_style() -> None:
    """Every command declares its options as ``Annotated[T, typer.Option(...)] = default``,
    never as ``= typer.Option(default, ...)``: one style to read and to copy."""
    import ast
    from pathlib import Path

    cli = Path(ngffkit.__file__).parent / "cli"
    offenders = []
    for path in sorted(cli.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                defaults = [*node.args.defaults, *node.args.kw_defaults]
                for default in defaults:
                    if (
                        isinstance(default, ast.Call)
                        and isinstance(default.func, ast.Attribute)
                        and default.func.attr in ("Option", "Argument")
                    ):
                        offenders.append(f"{path.name}:{default.lineno}")
    assert not offenders, offenders

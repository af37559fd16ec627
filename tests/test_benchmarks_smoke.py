"""benchmarks/ still runs against the library as it is now: no benchmark is run, but each
script starts, the library names they reach exist, and bench_startup's in-process driver
(which wraps library functions by name) still sees every moment it times.

The benchmarks are scripts that CI never runs, and they break silently when a name they
reach moves (bench_startup wrapped ``_convert.make_plan`` after it moved to ``source_plan``
and failed for two sessions). mypy checks their Python (pyproject's [tool.mypy] files); this
covers what it cannot see: import-time failures, and the code they pass to child
interpreters as strings.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from _support import src_env
from ngffkit.samples import write_tiff_stack

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = [*sorted(BENCH.glob("bench_*.py")), BENCH / "run.py"]
SOURCES = sorted(p for p in BENCH.rglob("*.py") if not {"data", "venvs", "results"} & set(p.parts))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_answers_help(script: Path) -> None:
    """Each script imports (its module level: siblings, the library where it imports it
    there) and parses its arguments."""
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        env=src_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: "), done.stdout[:500]


# -- the library names the benchmarks reach, in their code and in the code they pass as strings


def _member(module: ModuleType, name: str) -> object | None:
    """``module.name``: an attribute, or a submodule not imported yet; None if neither."""
    if hasattr(module, name):
        found: object = getattr(module, name)
        return found
    try:
        return importlib.import_module(f"{module.__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{module.__name__}.{name}":
            raise  # the submodule exists but fails to import: that is the failure to see
        return None


def missing_names(tree: ast.AST, *, attributes: bool) -> list[str]:
    """The ``ngffkit`` names that ``tree`` imports and that do not exist; with ``attributes``,
    also the attributes it reads or assigns on those modules (``conv.make_plan = …``).

    One flat scope: meant for the short snippets the benchmarks run in child interpreters
    (their own Python is mypy's to check)."""
    bound: dict[str, object] = {}
    missing: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "ngffkit":
                    continue
                try:
                    module = importlib.import_module(alias.name)
                except ModuleNotFoundError:
                    missing.append(alias.name)
                    continue
                if alias.asname:
                    bound[alias.asname] = module
                else:
                    bound["ngffkit"] = importlib.import_module("ngffkit")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ngffkit":
            assert node.module is not None and node.level == 0
            try:
                module = importlib.import_module(node.module)
            except ModuleNotFoundError:
                missing.append(node.module)
                continue
            for alias in node.names:
                found = _member(module, alias.name)
                if found is None:
                    missing.append(f"{node.module}.{alias.name}")
                bound[alias.asname or alias.name] = found
    if attributes:
        for node in ast.walk(tree):
            chain: list[str] = []
            while isinstance(node, ast.Attribute):
                chain.insert(0, node.attr)
                node = node.value
            if not chain or not isinstance(node, ast.Name) or node.id not in bound:
                continue
            found = bound[node.id]
            for name in chain:
                if not isinstance(found, ModuleType):
                    break  # a function's or class's attributes: not followed
                owner, found = found, _member(found, name)
                if found is None:
                    missing.append(f"{owner.__name__}.{name}")
                    break
    return sorted(set(missing))


def _imports_ngffkit(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "ngffkit" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ngffkit":
            return True
    return False


def _snippets() -> Iterator[tuple[str, ast.Module]]:
    """Every string constant in benchmarks/ that is Python importing ngffkit (what a
    benchmark runs with ``python -c``), named FILE:LINE."""
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            try:
                tree = ast.parse(textwrap.dedent(node.value))
            except SyntaxError:
                continue  # prose, a format, a fragment
            if _imports_ngffkit(tree):
                yield f"{path.relative_to(BENCH)}:{node.lineno}", tree


SNIPPETS = dict(_snippets())


def test_snippets_are_found() -> None:
    """bench_startup's driver, the one that broke, is among the checked snippets."""
    assert any(name.startswith("bench_startup.py:") for name in SNIPPETS), sorted(SNIPPETS)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_names_exist(name: str) -> None:
    assert missing_names(SNIPPETS[name], attributes=True) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(BENCH)))
def test_imported_names_exist(path: Path) -> None:
    """At run time too (mypy reads the source; a name defined only for type checkers, or an
    import that fails, shows here)."""
    assert missing_names(ast.parse(path.read_text()), attributes=False) == []


def test_missing_names_sees_a_moved_function() -> None:
    """The check fails where bench_startup's driver did: a wrapped function that moved."""
    moved = "import ngffkit.source_plan as conv, ngffkit.execution as ex\nconv.plan_it = ex.nope\n"
    assert missing_names(ast.parse(moved), attributes=True) == [
        "ngffkit.execution.nope",
        "ngffkit.source_plan.plan_it",
    ]
    gone = "from ngffkit.plan import make_plan, no_such\nimport ngffkit.no_such_module\n"
    assert missing_names(ast.parse(gone), attributes=False) == [
        "ngffkit.no_such_module",
        "ngffkit.plan.no_such",
    ]


# -- bench_startup's driver, run once on a tiny stack


@pytest.fixture
def bench_startup() -> ModuleType:
    """benchmarks/bench_startup.py, loaded by its path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_startup", BENCH / "bench_startup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_startup_driver_sees_every_phase(bench_startup: ModuleType, tmp_path: Path) -> None:
    """The driver converts in-process with ``source_plan.make_plan`` and
    ``execution.run_brick`` wrapped: each phase it reports is stamped, in order."""
    write_tiff_stack(tmp_path / "in", (4, 32, 32), "uint8")
    convert = ["convert", str(tmp_path / "in"), str(tmp_path / "out.ome.zarr"), "--quiet"]
    stamps = bench_startup.driver_stamps(convert, False, src_env())
    for label, start, end in bench_startup.PHASES:
        assert stamps[end][0] >= stamps[start][0], (label, stamps)
    assert (tmp_path / "out.ome.zarr").is_dir()

"""The shape of the package: no import circles, no private names across modules.

The graph is built from the source with ``ast``: every ``import`` at module level (including
those under ``if TYPE_CHECKING:``, which are dependencies too); imports inside functions are
deliberate deferrals (start-up time, optional dependencies) and are left out.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _support import SRC

PACKAGE = SRC / "ngffkit"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements that run when the module is imported (not function or class bodies)."""
    out: list[ast.stmt] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop(0)
        out.append(node)
        if isinstance(node, ast.If):
            todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody
            for handler in node.handlers:
                todo += handler.body
    return out


def imports_of(path: Path, modules: set[str]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for each module-level import of an ngffkit
    module in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in _module_level(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "ngffkit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != "ngffkit":
                continue
            names = [a.name for a in node.names]
            # ``from ngffkit import storage``: the submodule is what is imported
            subs = [n for n in names if f"{target}.{n}" in modules]
            found += [(f"{target}.{n}", []) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest:
                found.append((target, rest))
    return found


def graph() -> dict[str, set[str]]:
    """The import graph among ngffkit modules (module-level imports)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for me, path in files.items():
        for target, _names in imports_of(path, modules):
            if target in modules and target != me:
                edges[me].add(target)
    return edges


def private_imports(package: Path = PACKAGE) -> list[str]:
    """Private names (``_x``) one ngffkit module takes from another, at any depth (a
    private *module*, such as ``ngffkit._output``, is the package's own and allowed)."""
    files = {module_name(p, package.parent): p for p in package.rglob("*.py")}
    found: list[str] = []
    for me, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level:
                continue
            target = node.module or ""
            if target.split(".")[0] != "ngffkit":
                continue
            found += [
                f"{me}:{node.lineno} imports {target}.{a.name}"
                for a in node.names
                if a.name.startswith("_")
                and a.name != "__version__"
                and f"{target}.{a.name}" not in files
            ]
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles() -> None:
    edges = graph()
    assert sum(len(e) for e in edges.values()) > 50, "the scan no longer sees the imports"
    assert cycles(edges) == []


def test_no_private_names_across_modules() -> None:
    assert private_imports() == []


def test_the_checks_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "ngffkit"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_private.py").write_text("")
    (package / "a.py").write_text("_lock = None\n")
    (package / "b.py").write_text(
        "from ngffkit import _private\n\ndef f():\n    from ngffkit.a import _lock\n"
    )
    assert private_imports(package) == ["ngffkit.b:4 imports ngffkit.a._lock"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# The libraries that read or write storage: the pure modules (plan, kernels and what they
# build on) must load none of them, so that planning is arithmetic and testable without I/O.
IO_LIBRARIES = ("tensorstore", "zarr", "fsspec", "httpx", "tifffile", "h5py", "PIL", "numcodecs")
PURE = ("ngffkit.plan", "ngffkit.kernels", "ngffkit.spec", "ngffkit.grid", "ngffkit.bricks")


def loaded_by(module: str) -> list[str]:
    """The top-level packages a fresh interpreter has loaded after importing ``module``."""
    probe = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    return sorted({name.split(".")[0] for name in json.loads(out.stdout)})


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_no_io_library(module: str) -> None:
    loaded = loaded_by(module)
    assert [name for name in IO_LIBRARIES if name in loaded] == []


def test_the_io_probe_can_fail() -> None:
    assert "tifffile" in loaded_by("ngffkit.sources.tiff_file")


MAX_LINES = 600


def test_no_module_is_over_600_lines() -> None:
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"

"""The README and docs/ match the tool: every command has its README row, its line in
docs/index.md and its page; docs/architecture.md's module map names every module there is
and nothing that is not. Commands come from the CLI itself, so a new command fails here
until its documentation exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ngffkit.cli.app import app, register_commands

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "ngffkit"


def commands() -> list[str]:
    register_commands()
    groups = [str(info.name) for info in app.registered_groups]  # `ngff labels add`
    return sorted([str(info.name) for info in app.registered_commands] + groups)


def table_commands(path: Path) -> dict[str, str]:
    """``{command: row}`` for the table rows of ``path`` that start with ```ngff COMMAND``."""
    rows = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\| `ngff ([a-z][a-z0-9-]*)\b", line)
        if match:
            rows[match[1]] = line
    return rows


@pytest.mark.parametrize("name", commands())
def test_every_command_is_documented(name: str) -> None:
    page = DOCS / f"{name}.md"
    assert page.is_file(), f"`ngff {name}` has no page: write docs/{name}.md"
    assert page.read_text().startswith(f"# `ngff {name}"), (
        f"docs/{name}.md should start with a title '# `ngff {name} ...`'"
    )
    assert name in table_commands(ROOT / "README.md"), (
        f"`ngff {name}` has no row in README.md's command table"
    )
    row = table_commands(DOCS / "index.md").get(name)
    assert row is not None, f"`ngff {name}` has no row in docs/index.md"
    assert f"]({name}.md)" in row, f"docs/index.md's row of `ngff {name}` should link {name}.md"


@pytest.mark.parametrize("doc", ["README.md", "docs/index.md"])
def test_documented_commands_exist(doc: str) -> None:
    stale = sorted(set(table_commands(ROOT / doc)) - set(commands()))
    assert stale == [], f"{doc} lists commands that ngff does not have: {stale}"


def test_every_link_in_the_docs_index_resolves() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", (DOCS / "index.md").read_text()):
        assert (DOCS / target).is_file(), f"docs/index.md links {target}, which does not exist"


def module_map() -> set[str]:
    text = (DOCS / "architecture.md").read_text()
    section = text.split("### Module map", 1)[1]
    section = re.split(r"\n#|\nRules of the house", section, maxsplit=1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("| `"))
    return set(re.findall(r"`([\w/]+(?:\.py|/))`", rows))


def test_the_module_map_names_every_module() -> None:
    named = module_map()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.endswith("/__init__.py"):
            rel = rel.removesuffix("__init__.py")
        if rel not in named:
            missing.append(rel)
    assert missing == [], f"docs/architecture.md's module map does not name {missing}"


# A document cited from code: a page of docs/ or benchmarks/, or a top-level *.md.
CITED = re.compile(r"\b((?:docs/|benchmarks/)?[\w-]+\.md)\b")
LOCAL_ONLY = {"venvs", ".venvs", "__pycache__"}


def test_code_cites_only_documents_that_exist() -> None:
    """Comments and docstrings point at documents of this repository (not the notes it was
    planned from) and never at numbered sections (``§5``), which move."""
    bad = []
    for folder in ("src", "tests", "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if LOCAL_ONLY & set(rel.parts):  # virtual environments a benchmark built here
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                for cited in CITED.findall(line):
                    if not any((d / cited).is_file() for d in (ROOT, DOCS, path.parent)):
                        bad.append(f"{rel}:{n} cites {cited}")
                if "§" in line and "RFC" not in line and rel != Path("tests/test_docs.py"):
                    bad.append(f"{rel}:{n} cites a numbered section")
    assert bad == [], bad


def test_the_module_map_names_only_what_exists() -> None:
    gone = sorted(name for name in module_map() if not (PACKAGE / name).exists())
    assert gone == [], f"docs/architecture.md's module map names what does not exist: {gone}"


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.M | re.S)


def test_the_python_pages_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/python.md's examples, run in order in an empty folder as a reader would."""
    blocks = python_blocks(DOCS / "python.md")
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), namespace)
    assert (tmp_path / "scroll.ome.zarr" / "zarr.json").is_file()
    assert (tmp_path / "copy.ome.zarr" / ".zattrs").is_file()
    assert not (tmp_path / "bad.ome.zarr").exists()

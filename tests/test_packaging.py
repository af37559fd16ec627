"""Packaging: ngffkit installs beside the libraries its users already have.

Dependencies are ranges, never exact pins, with no cap on Python; every lower bound is the
release the Python 3.11 CI run installs (``.ci/lower-bounds.txt``, used by
``scripts/test.sh``), so the oldest versions we claim are the ones tested.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Run on the newest release only: the linters once per CI run, the browser tests on one
# interpreter (scripts/test.sh, BROWSER_PYTHON).
NEWEST_ONLY = {"ruff", "mypy", "playwright"}


def requirements() -> list[Requirement]:
    listed = [*PYPROJECT["dependencies"], *PYPROJECT["optional-dependencies"]["test"]]
    return [Requirement(text) for text in listed]


def lower_bounds_file() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci/lower-bounds.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def lower_bound(spec: SpecifierSet) -> str | None:
    found = [s.version for s in spec if s.operator == ">="]
    return found[0] if len(found) == 1 else None


def test_python_has_no_upper_bound() -> None:
    spec = SpecifierSet(PYPROJECT["requires-python"])
    assert [s.operator for s in spec] == [">="], spec
    for version in ("3.11", "3.12", "3.13", "3.14"):
        assert version in spec


def test_every_dependency_is_a_range_with_a_lower_bound() -> None:
    for req in requirements():
        operators = {s.operator for s in req.specifier}
        assert "==" not in operators and "~=" not in operators, f"{req}: a range, not a pin"
        assert lower_bound(req.specifier) is not None, f"{req}: needs a tested lower bound"


def test_the_lower_bounds_are_what_ci_installs() -> None:
    pins = lower_bounds_file()
    for req in requirements():
        if req.name in NEWEST_ONLY:
            continue
        pinned = pins.get(req.name.lower())
        assert pinned and Version(pinned) == Version(str(lower_bound(req.specifier))), (
            f"{req}: .ci/lower-bounds.txt should pin {req.name}=={lower_bound(req.specifier)}"
        )
    # dask[distributed] brings distributed, which moves in step with dask.
    assert pins["distributed"] == pins["dask"]

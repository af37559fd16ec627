"""The ``webknossos`` package runs in its own interpreter: it needs Python >= 3.12 and pins
typer, rich, psutil and click to releases our newest-releases runs must not be held to.
scripts/test.sh builds that venv (``.venvs/webknossos``) and sets NGFF_WEBKNOSSOS_PYTHON
and NGFF_REQUIRE_WEBKNOSSOS=1, so that in CI a missing venv fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

SIDE = Path(__file__).with_name("wk_side.py")
ROOT = Path(__file__).resolve().parents[2]


def _python() -> str | None:
    given = os.environ.get("NGFF_WEBKNOSSOS_PYTHON")
    if given:
        return given
    default = ROOT / ".venvs" / "webknossos" / "bin" / "python"
    return str(default) if default.exists() else None


@pytest.fixture(scope="session")
def wk_python() -> str:
    python = _python()
    if python is not None and not Path(python).is_file():
        # a path that was given but is not there is always a mistake: never a skip
        pytest.fail(f"NGFF_WEBKNOSSOS_PYTHON is {python}, which does not exist")
    if python is None:
        if os.environ.get("NGFF_REQUIRE_WEBKNOSSOS"):
            pytest.fail(
                "NGFF_REQUIRE_WEBKNOSSOS is set but no webknossos interpreter was found "
                "(.venvs/webknossos/bin/python or NGFF_WEBKNOSSOS_PYTHON); scripts/test.sh "
                "builds it"
            )
        pytest.skip("no webknossos venv (.venvs/webknossos or NGFF_WEBKNOSSOS_PYTHON)")
    return python


@pytest.fixture(scope="session")
def wk_run(wk_python: str) -> Any:
    def run(*args: str) -> None:
        env = dict(os.environ, WEBKNOSSOS_SKIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")
        env.pop("PYTHONPATH", None)
        done = subprocess.run(
            [wk_python, str(SIDE), *args], capture_output=True, text=True, env=env, timeout=240
        )
        assert done.returncode == 0, done.stderr[-3000:]

    return run

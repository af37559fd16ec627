"""Where this checkout's ``src`` is, for every test that starts Python or ``ngff`` in a
process of its own, and running ``ngff`` in this process.

In-process tests import ``ngffkit`` from ``src`` through pytest's ``pythonpath = ["src"]``
(pyproject.toml). A child process does not inherit that: it gets ``src`` first on
``PYTHONPATH`` from :func:`src_env`, here and nowhere else, so a test in a worktree runs
that worktree's code, not the editable install's.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

#: This checkout's ``src`` folder.
SRC = Path(__file__).resolve().parents[1] / "src"


def src_env(
    extra: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment for a child Python: ``base`` (default: this process's environment)
    with ``src`` first on ``PYTHONPATH``, then ``extra``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def ngff_command(*args: str | os.PathLike[str]) -> list[str]:
    """The command line that runs this checkout's ``ngff`` (with :func:`src_env`)."""
    return [sys.executable, "-m", "ngffkit", *(os.fspath(a) for a in args)]


def run_cli(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """``ngff ARGS`` in this process, as the console script runs it after start-up (the
    same error mapping, exit statuses and output): for tests of messages and exit codes,
    where a process of its own adds nothing. ngffkit's warnings print as the CLI prints
    them, as in a process of its own; other warnings stay errors."""
    from ngffkit import storage
    from ngffkit.cli._common import run_app
    from ngffkit.cli.app import app, register_commands
    from ngffkit.errors import NgffWarning

    argv = [os.fspath(a) for a in args]
    register_commands()
    out, err = io.StringIO(), io.StringIO()
    with (
        _environ(COLUMNS=os.environ.get("COLUMNS", "200"), NO_COLOR="1"),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("default", NgffWarning)
        try:
            code = run_app(app, argv)
        finally:
            storage.configure(None)  # the CLI configured the process-wide storage options
    return subprocess.CompletedProcess(["ngff", *argv], code, out.getvalue(), err.getvalue())


def cli(*args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """:func:`run_cli` as (exit status, stdout, stderr)."""
    done = run_cli(*args)
    return done.returncode, done.stdout, done.stderr


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


__all__ = ["SRC", "cli", "ngff_command", "run_cli", "src_env"]

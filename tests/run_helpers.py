"""Running ``ngff`` as a separate process in tests that kill it mid-way, and comparing trees.

Shared by the convert, downsample, compress and Dask tests: start this checkout's ``ngff``
without waiting, wait until a brick is journalled, SIGKILL it, and compare stored bytes.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from _support import ngff_command, src_env

JOURNAL = ".ngffkit-journal"
# A journalled brick (the journal also keeps a record of how the run writes).
BRICKS = f"{JOURNAL}/s*-b*"


class _Run(subprocess.Popen[str]):
    """A child whose pipes close with its handle: tests that only ``wait()`` for it (or kill
    it) must not leave the pipes to the garbage collector (a ResourceWarning, an error)."""

    def __del__(self) -> None:
        for pipe in (self.stdout, self.stderr):
            if pipe is not None:
                pipe.close()
        super().__del__()


def ngff(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``ngff ARGS`` (this checkout) without waiting; ``env`` adds variables."""
    full = src_env({"NO_COLOR": "1", **(env or {})})
    return _Run(
        ngff_command(*args),
        env=full,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def tree_digest(root: Path, skip: Sequence[str] = ()) -> dict[str, str]:
    """Every file under ``root`` (relative POSIX path → sha256), except paths under ``skip``."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(rel.startswith(s) for s in skip):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def wait_for_journal(
    root: Path,
    proc: subprocess.Popen[str] | None = None,
    thread: threading.Thread | None = None,
    timeout: float = 120,
    pattern: str = BRICKS,
) -> bool:
    """True once a brick is journalled (a file matching ``pattern`` under ``root``) while the
    run (``proc`` or ``thread``) is still going; False if it ended first or on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (proc is not None and proc.poll() is not None) or (
            thread is not None and not thread.is_alive()
        ):
            return False
        if root.is_dir() and any(root.glob(pattern)):
            return True
        time.sleep(0.005)
    return False


def kill_when_journalled(proc: subprocess.Popen[str], root: Path, pattern: str = BRICKS) -> None:
    """SIGKILL ``proc`` as soon as it has journalled a brick under ``root``."""
    if not wait_for_journal(root, proc=proc, pattern=pattern):
        proc.kill()
        pytest.fail("the run finished before it could be killed; make the input bigger")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

"""Helpers of the output-safety and CLI-robustness tests: a small stack,
a small real filesystem that fills up, and running ``ngff`` without root's permission bypass."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import tifffile

from _support import ngff_command, src_env


def write_stack(
    folder: Path,
    depth: int = 8,
    shape: tuple[int, int] = (40, 50),
    dtype: str = "uint16",
    seed: int = 0,
) -> np.ndarray:
    """``depth`` TIFF slices 00000.tif… of random data; returns the volume (z, y, x)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(0, 4000, (depth, *shape), dtype=dtype)
    for z in range(depth):
        tifffile.imwrite(folder / f"{z:05d}.tif", data[z])
    return data


def ngff_cmd(*args: str | os.PathLike[str], unprivileged: bool = False) -> list[str]:
    """The argv that runs this checkout's ``ngff ARGS``; ``unprivileged``: without root's
    bypass of permission bits (root drops CAP_DAC_OVERRIDE/READ_SEARCH with setpriv)."""
    argv = ngff_command(*args)
    if unprivileged and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permission bits cannot be tested")
        argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *argv]
    return argv


def run(
    *args: str | os.PathLike[str], unprivileged: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = src_env({"NO_COLOR": "1", "COLUMNS": "200"})
    return subprocess.run(
        ngff_cmd(*args, unprivileged=unprivileged),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``path`` (skips where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("a small filesystem needs root to mount a tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def resize_tmpfs(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def temp_files(root: Path) -> list[str]:
    """Files a writer left half-written (``.NAME.tmpPID``)."""
    return sorted(p.name for p in root.rglob("*") if ".tmp" in p.name)


def files_of(root: Path, skip: Sequence[str] = ()) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if not any(p.relative_to(root).as_posix().startswith(s) for s in skip)
    }

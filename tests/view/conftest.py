"""Images with strong, known patterns for the viewer tests, and a headless Chromium.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright, WebGL from SwiftShader,
with every host but 127.0.0.1 unresolvable (the viewer must work offline).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _support import ngff_command, src_env
from image_helpers import cells_label_spec
from ngffkit.metadata import Omero
from ngffkit.spec import pyramid_spec
from ngffkit.writer import create_image, finish_image, write_labels_group

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
DARK, BRIGHT = 100, 3000


def _write_levels(path: Path, spec: Any, data: np.ndarray) -> None:
    image = create_image(path, spec)
    current = data
    for k, level in enumerate(image.levels):
        if k:
            current = current[
                tuple(
                    slice(None, None, round(a / b)) if a != b else slice(None)
                    for a, b in zip(current.shape, level.shape, strict=True)
                )
            ]
        level.write(current)
    finish_image(path, spec)


def write_pattern(
    path: Path,
    *,
    version: str,
    shards: int | None,
    split: str = "x",
    labels: bool = False,
    shape: Sequence[int] = (16, 64, 64),
    omero: dict[str, Any] | None = None,
    axes: str = "zyx",
) -> np.ndarray:
    """A uint16 volume dark (100) in the first half along ``split`` and bright (3000) in the
    second; with ``labels``, a label image ``cells``: 1 in the top half (y), 2 in the bottom
    (colours red and green)."""
    data = np.full(shape, DARK, dtype=np.uint16)
    where = [slice(None)] * len(shape)
    where[axes.index(split)] = slice(shape[axes.index(split)] // 2, None)
    data[tuple(where)] = BRIGHT
    voxel = {"z": 1.0, "y": 0.5, "x": 0.5}
    spec = pyramid_spec(
        shape,
        "uint16",
        axes=axes,
        voxel_size={a: voxel[a] for a in axes if a in voxel},
        unit="micrometer",
        levels=2,
        chunks=16,
        shards=shards,
        version=version,
        name=path.stem,
    )
    if omero is not None:
        spec = spec.model_copy(update={"omero": Omero.model_validate(omero)})
    _write_levels(path, spec, data)
    if labels:
        seg = np.ones(shape, dtype=np.uint32)
        where = [slice(None)] * len(shape)
        where[axes.index("y")] = slice(shape[axes.index("y")] // 2, None)
        seg[tuple(where)] = 2
        label_spec = cells_label_spec(
            shape,
            "uint32",
            axes=axes,
            voxel_size={a: voxel[a] for a in axes if a in voxel},
            unit="micrometer",
            levels=2,
            chunks=16,
            shards=shards,
            version=version,
        )
        _write_levels(path / "labels" / "cells", label_spec, seg)
        write_labels_group(path, ["cells"], version)
    return data


class ViewProcess:
    """``ngff view`` running in a subprocess; ``url`` and ``data_url`` from its output."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        env = src_env({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", **(env or {})})
        self.proc = subprocess.Popen(
            ngff_command("view", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if "Ctrl-C" in line:
                break
        else:
            self.proc.kill()
        urls = {
            line.partition(" ")[0].rstrip(":"): line.rpartition(" ")[2]
            for line in self.lines
            if line.startswith(("Neuroglancer: ", "Data served at "))
        }
        if "Neuroglancer" not in urls:
            self.proc.kill()
            raise AssertionError(f"no URL printed: {self.lines}; stderr: {self.proc.communicate()}")
        self.url = urls["Neuroglancer"]
        self.data_url = urls["Data"].rstrip("/")

    def stop(self) -> tuple[int, str, str]:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it
    # is active, and later tests that call asyncio.run() must not see it.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()

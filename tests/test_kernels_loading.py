"""``compiled="when-loaded"``: the compiled kernels load in a background thread, calls made
before the load finished take the numpy path, and every call gives the same bytes.

The loader is held back by a task queued before its loads, so which path a call takes is
decided here, not by how fast numba loads on the machine running the tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import ngffkit
from ngffkit import kernels as K
from ngffkit import plan as plan_module


class Paths:
    """Which kernel path each call of ``downsample`` took."""

    def __init__(self) -> None:
        self.taken: list[str] = []


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, Paths]]:
    """A fresh loader whose thread waits on the returned event before loading anything, and a
    record of the paths taken by calls from this (the test's) thread."""
    release = threading.Event()
    loader = ThreadPoolExecutor(1, thread_name_prefix="test-kernels")
    loader.submit(release.wait)
    monkeypatch.setattr(K, "_loader", loader)
    monkeypatch.setattr(K, "_loads", {})
    paths = Paths()
    general, compiled = K.general, K._compiled
    caller = threading.get_ident()

    def record(name: str, fn: Any) -> Any:
        def wrapped(*args: Any) -> Any:
            if threading.get_ident() == caller:
                paths.taken.append(name)
            return fn(*args)

        return wrapped

    monkeypatch.setattr(K, "general", record("numpy", general))
    monkeypatch.setattr(K, "_compiled", record("compiled", compiled))
    yield release, paths
    release.set()
    loader.shutdown(wait=True)


def data_for(dtype: str, shape: tuple[int, ...] = (9, 14, 11)) -> np.ndarray:
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        return rng.normal(0, 1000, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


@pytest.mark.parametrize("method", ["mean", "min", "max"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "float32"])
def test_calls_before_the_load_take_the_numpy_path_with_the_same_bytes(
    held: tuple[threading.Event, Paths], dtype: str, method: str
) -> None:
    release, paths = held
    data = data_for(dtype)
    factors = (2, 2, 2)
    want = K.downsample(data, factors, method, compiled=False)
    paths.taken.clear()

    early = K.downsample(data, factors, method, compiled="when-loaded")
    assert paths.taken == ["numpy"]  # the loader is held: nothing is loaded yet
    assert early.tobytes() == want.tobytes() and early.shape == want.shape

    release.set()
    wait(K._loads.values())
    assert all(f.exception() is None for f in K._loads.values())
    paths.taken.clear()
    late = K.downsample(data, factors, method, compiled="when-loaded")
    assert paths.taken == ["compiled"]
    assert late.tobytes() == want.tobytes() and late.dtype == want.dtype


def test_load_compiled_starts_every_level_s_kernel_once(
    held: tuple[threading.Event, Paths],
) -> None:
    release, _ = held
    steps = [(1, 2, 2), (2, 2, 2), (2, 2, 2)]
    K.load_compiled(np.dtype(">u2"), steps, "mean")  # byte order: the kernels see native data
    K.load_compiled("uint16", steps, "mean")
    assert sorted(K._loads) == [
        ("<u2", (1, 2, 2), "mean"),
        ("<u2", (2, 2, 2), "mean"),
    ]
    assert not any(f.done() for f in K._loads.values())
    release.set()
    wait(K._loads.values())
    # The warm-up loaded what the call will use: the call takes the compiled path at once.
    data = data_for("uint16")
    assert K._loaded(data.dtype, (1, 2, 2), "mean")
    assert K._loaded(data.dtype, (2, 2, 2), "mean")


@pytest.mark.parametrize("method", ["median", "mode"])
def test_median_and_mode_wait_for_the_compiled_kernels(
    held: tuple[threading.Event, Paths], method: str
) -> None:
    # Their numpy path is many times slower than loading numba: they do not race it.
    _, paths = held
    data = data_for("uint8")
    got = K.downsample(data, (2, 2, 2), method, compiled="when-loaded")
    assert paths.taken == ["compiled"]
    assert got.tobytes() == K.downsample(data, (2, 2, 2), method, compiled=False).tobytes()


def test_pyramid_and_gaussian_accept_when_loaded(held: tuple[threading.Event, Paths]) -> None:
    release, _ = held
    data = data_for("uint16", (8, 20, 20))
    for method in ("mean", "gaussian"):
        want = K.pyramid(data, [(2, 2, 2), (1, 2, 2)], method, compiled=False)
        got = K.pyramid(data, [(2, 2, 2), (1, 2, 2)], method, compiled="when-loaded")
        assert [g.tobytes() for g in got] == [w.tobytes() for w in want]
    release.set()
    wait(K._loads.values())
    got = K.pyramid(data, [(2, 2, 2), (1, 2, 2)], "gaussian", compiled="when-loaded")
    assert [g.tobytes() for g in got] == [w.tobytes() for w in want]


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("method", ["mean", "max"])
def test_a_conversion_that_loads_the_kernels_writes_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    # Below COMPILED_KERNELS_FROM a conversion never loads numba; above it the bricks start on
    # the numpy path while numba loads, then switch. Either way: the same files.
    stack = tmp_path / "stack"
    stack.mkdir()
    for z, plane in enumerate(data_for("uint16", (20, 70, 90))):
        tifffile.imwrite(stack / f"z{z:03d}.tif", plane)
    options: dict[str, Any] = dict(chunks=16, shards=32, levels=3, method=method, jobs=2)
    ngffkit.convert(stack, tmp_path / "numpy" / "out.ome.zarr", **options)
    monkeypatch.setattr(plan_module, "COMPILED_KERNELS_FROM", 0)
    assert ngffkit.plan_convert(stack, tmp_path / "x.ome.zarr", **options).compiled_kernels
    ngffkit.convert(stack, tmp_path / "compiled" / "out.ome.zarr", **options)
    numpy_files = files_of(tmp_path / "numpy" / "out.ome.zarr")
    assert len(numpy_files) > 10
    assert files_of(tmp_path / "compiled" / "out.ome.zarr") == numpy_files


def test_a_forked_child_starts_its_own_loader(held: tuple[threading.Event, Paths]) -> None:
    # After fork the parent's loader thread does not exist in the child: os.register_at_fork
    # runs _forget_loads there, so the child's loads do not wait on a thread that never runs.
    release, paths = held
    data = data_for("uint8")
    K.downsample(data, (2, 2, 2), "mean", compiled="when-loaded")
    assert len(K._loads) == 1 and paths.taken == ["numpy"]
    held_loader = K._loader
    K._forget_loads()  # what the child runs
    assert K._loader is None and K._loads == {}
    K.load_compiled("uint8", [(2, 2, 2)], "mean")
    assert K._loader is not None and K._loader is not held_loader
    wait(K._loads.values())  # this loader is not held: it loads
    paths.taken.clear()
    K.downsample(data, (2, 2, 2), "mean", compiled="when-loaded")
    assert paths.taken == ["compiled"]
    K._loader.shutdown(wait=True)
    release.set()

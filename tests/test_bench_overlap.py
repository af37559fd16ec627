"""benchmarks/bench_overlap.py: its span bookkeeping on a real small conversion, and the
overlap arithmetic on spans whose answer is known. Timings are measured there, never here."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import tifffile
import zarr

import ngffkit
import ngffkit.tasks as tasks
from ngffkit.samples import write_tiff_stack

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_overlap.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_overlap", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_overlap"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["bench_overlap"]
    return module


def test_overlap_of_known_spans(bench: ModuleType) -> None:
    # read 0-2 (thread 1) and 1-3 (thread 2); kernel 2-4; write 3-8; nothing 8-9; read 9-10.
    spans = [
        (1, "read", 0.0, 2.0),
        (2, "read", 1.0, 3.0),
        (1, "kernel", 2.0, 4.0),
        (1, "write", 3.0, 8.0),
        (2, "read", 9.0, 10.0),
        (1, "brick", 0.0, 10.0),  # not a stage: ignored
    ]
    got = bench.overlap(spans)
    assert got["window"] == 10.0
    assert got["busy"] == {"read": 5.0, "kernel": 2.0, "write": 5.0}
    assert got["active"] == {"read": 4.0, "kernel": 2.0, "write": 5.0}
    assert got["sets"] == {
        ("read",): 3.0,
        ("read", "kernel"): 1.0,
        ("kernel", "write"): 1.0,
        ("write",): 4.0,
        (): 1.0,
    }
    assert got["multi"] == pytest.approx(0.2)
    assert got["read_write"] == 0.0
    assert got["alone"] == pytest.approx({"read": 0.3, "kernel": 0.0, "write": 0.4})
    assert got["idle"] == pytest.approx(0.1)
    assert got["no_write"] == pytest.approx(0.5)
    assert got["fill"] == pytest.approx(0.3)
    assert got["hidden"] == pytest.approx({"read": 0.0, "kernel": 0.5})


def test_spans_of_a_real_conversion(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("read_base", "downsample", "level_store", "_run_brick")
    for name in names:  # restored after the test, whatever install() sets
        monkeypatch.setattr(tasks, name, getattr(tasks, name))
    recorder = bench._Recorder()
    assert Path(bench.install(recorder)) == Path(tasks.__file__)
    paths = write_tiff_stack(tmp_path / "in", (64, 96, 96), "uint8", seed=1)
    out = tmp_path / "out.ome.zarr"
    ngffkit.convert(tmp_path / "in", out, chunks=16, shards=32, levels=3, jobs=2)

    spans = recorder.spans
    calls = sorted((s[0], s[2]) for s in spans if s[1] == "write-call")
    deadline = time.monotonic() + 5
    while recorder.pending() and time.monotonic() < deadline:
        time.sleep(0.01)  # a commit's callback may run just after the brick saw its result
    bricks = [s for s in spans if s[1] == "brick"]
    assert len(bricks) >= 2
    for stage in ("read", "kernel", "write", "write-call"):
        assert any(s[1] == stage for s in spans), stage
    for tid, stage, t0, t1 in spans:
        assert t0 <= t1
        if stage in ("read", "kernel", "write-call"):  # inside one of its thread's bricks
            assert any(b[0] == tid and b[2] <= t0 and t1 <= b[3] for b in bricks), stage
    # Every write completed, and is timed from its call on its brick's thread.
    assert sorted((s[0], s[2]) for s in spans if s[1] == "write") == calls
    assert len(recorder.cpu) == 2 * len(bricks)
    got = bench.overlap(spans)
    assert got["window"] > 0
    assert sum(got["sets"].values()) == pytest.approx(got["window"])
    threads = bench.brick_threads(spans)
    assert threads["wait"] >= -1e-6

    # The wrapped run wrote what the library writes.
    written = np.asarray(zarr.open_group(str(out), mode="r")["0"][:])
    np.testing.assert_array_equal(written, np.stack([tifffile.imread(p) for p in paths]))

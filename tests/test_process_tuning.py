"""Process-wide tuning the command line does (cli.app): glibc malloc, OpenBLAS threads and
pydantic's plugin search.

malloc: c-blosc compresses each chunk with a fresh zstd context whose 3 MiB workspace is allocated
and cleared every time; above the mmap threshold that workspace is mapped and unmapped per
chunk and every 4 KiB of it faults in again. Counted here with real tensorstore writes in a
fresh interpreter (mallopt is process-wide), against the 1 MiB threshold the CLI set before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _support import src_env

PROBE = """
import ctypes, resource, sys, tempfile
import numpy as np, tensorstore as ts
from ngffkit.cli.app import M_MMAP_THRESHOLD, tune_malloc
if sys.argv[1] == "ours":
    tune_malloc()
else:
    ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 1 << 20)
n = 16
ramp = np.arange(n * 64**3, dtype=np.uint32).reshape(n * 64, 64, 64)
data = (ramp * 2654435761 >> 24).astype(np.uint8)
with tempfile.TemporaryDirectory() as d:
    compressor = {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1}
    spec = {
        "driver": "zarr",
        "kvstore": {"driver": "file", "path": d},
        "metadata": {"shape": list(data.shape), "chunks": [64, 64, 64], "dtype": "|u1",
                     "compressor": compressor},
        "create": True,
        "context": {"cache_pool": {"total_bytes_limit": 0}},
    }
    array = ts.open(spec).result()
    array[:64].write(data[:64]).result()  # first chunk: the heaps grow once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    array.write(data).result()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n)
"""


def faults_per_chunk(setting: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, setting],
        capture_output=True,
        text=True,
        env=src_env(),
        timeout=120,
        check=True,
    )
    return float(out.stdout.splitlines()[-1])


def _huge_pages_always() -> bool:
    try:
        return "[always]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.skipif(_huge_pages_always(), reason="huge pages fault a fresh workspace in 2 MiB")
def test_blosc_zstd_chunks_reuse_the_workspace() -> None:
    ours, fixed_1mib = faults_per_chunk("ours"), faults_per_chunk("1mib")
    # A 3 MiB workspace mapped afresh is ~750 faults per chunk; reused, only the chunk's own
    # buffers fault (~200 measured).
    assert fixed_1mib > 600, fixed_1mib
    assert ours < fixed_1mib / 2, (ours, fixed_1mib)


# A child that first runs `ngff --version` (argv[1] "cli": the process as the command
# prepares it) or nothing ("plain"), then the probe that follows.
AS_THE_CLI = """
import sys
if sys.argv[1] == "cli":
    from ngffkit.cli.app import main
    sys.argv = ["ngff", "--version"]
    try:
        main()
    except SystemExit:
        pass
"""

THREADS = (
    AS_THE_CLI
    + """
import os
import numpy
print(len(os.listdir("/proc/self/task")))
"""
)


def threads_after_numpy(setting: str) -> int:
    # OpenBLAS also reads OMP_NUM_THREADS and GOTO_NUM_THREADS (Dask sets OMP_NUM_THREADS=1
    # in its own process when imported by an earlier test)
    blas = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS"}
    return int(child_says(THREADS, setting, without=blas))


def child_says(code: str, setting: str, *, without: set[str]) -> str:
    """The last line ``code`` prints in a fresh interpreter run with ``setting`` as its
    argument, in the tests' environment less the variables ``without``."""
    env = {k: v for k, v in src_env().items() if k not in without}
    out = subprocess.run(
        [sys.executable, "-c", code, setting],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return out.stdout.splitlines()[-1]


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2, reason="/proc; 2+ cores"
)
def test_the_cli_starts_no_blas_threads() -> None:
    # numpy's OpenBLAS would start a spinning thread per extra core; the CLI multiplies no
    # matrices, so it runs with none.
    assert threads_after_numpy("plain") > 1
    assert threads_after_numpy("cli") == 1


PLUGINS = (
    AS_THE_CLI
    + """
import json
from ngffkit.metadata import models  # builds ngffkit's pydantic models
from pydantic.plugin import _loader
print(json.dumps(_loader._plugins is not None))
"""
)


@pytest.mark.parametrize(("setting", "searched"), [("plain", True), ("cli", False)])
def test_the_cli_skips_pydantic_plugin_search(setting: str, searched: bool) -> None:
    # pydantic reads every installed distribution's entry points for plugins when it builds
    # its first model (5 ms of a conversion's start-up); the command builds none but ours.
    said = child_says(PLUGINS, setting, without={"PYDANTIC_DISABLE_PLUGINS"})
    assert said == ("true" if searched else "false")

"""Start-up: a command imports only what it runs, and what that changed prints the same.

Start-up time is part of every ``ngff`` run (about 0.4 s of a 2.4 s conversion before this
was measured), so these tests pin *which* modules a run imports; how long that takes is
measured in benchmarks, never asserted here.
"""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from rich.console import Console

from _support import src_env
from ngffkit.cli._common import LazyConsole, is_plain
from ngffkit.sources._tiffio import TIFF_ERRORS

# What a quiet conversion of plain TIFF slices never needs: the other commands' libraries,
# the other input kinds' readers and their libraries, and rich (no bar, no table).
NOT_FOR_CONVERT = (
    "ngffkit._recompress",
    "ngffkit._downsample",
    "ngffkit.info",
    "ngffkit.swap",
    "ngffkit._validate",
    "ngffkit.sources.image_folder",
    "ngffkit.sources.raw",
    "ngffkit.sources.tensorstore_array",
    "ngffkit.sources.tiff_file",
    "ngffkit.sources.volume_grids",
    "PIL",
    "tifffile",
    "rich",
    "distributed",
    "scipy",
    # Below plan.COMPILED_KERNELS_FROM the numpy kernels do the work: loading numba costs more.
    "numba",
    "llvmlite",
    "ngffkit._kernels_numba",
    # The plan's measure of this process reads /proc (importing psutil cost 5 ms).
    "psutil",
)

PROBE = """
import json, sys
sys.argv = ["ngff", *json.loads(sys.argv[1])]
from ngffkit.cli.app import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_main(*args: str | os.PathLike[str]) -> tuple[int, set[str], str]:
    """Run ``ngff ARGS`` through ``main`` in a fresh interpreter; its exit status, the
    modules it had imported when it finished, and its stderr."""
    env = src_env()
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([os.fspath(a) for a in args])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    facts = json.loads(out.stdout.splitlines()[-1])
    return facts["code"], set(facts["modules"]), out.stderr


@functools.cache
def typer_imports() -> frozenset[str]:
    """What ``import typer`` imports by itself (old Typer releases import rich)."""
    env = src_env()
    out = subprocess.run(
        [sys.executable, "-c", "import sys, typer; print(*sys.modules)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return frozenset(out.stdout.split())


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules of packages ``names`` among ``modules`` that Typer did not import itself."""
    return sorted(
        m for m in modules - typer_imports() if any(m == n or m.startswith(n + ".") for n in names)
    )


@pytest.fixture(scope="module")
def plain_stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stack")
    for z, plane in enumerate(np.arange(6 * 40 * 50, dtype=np.uint16).reshape(6, 40, 50)):
        tifffile.imwrite(folder / f"z{z:03d}.tif", plane)
    return folder


def test_a_quiet_conversion_imports_only_what_it_runs(tmp_path: Path, plain_stack: Path) -> None:
    code, modules, err = run_main(
        "convert",
        plain_stack,
        tmp_path / "out.ome.zarr",
        "--quiet",
        "--levels",
        "2",
        "--voxel-size",
        "1",
        "--unit",
        "micrometer",
    )
    assert code == 0, err
    assert err == "", err  # the done: summary goes to stdout, even with --quiet
    assert loaded(modules, NOT_FOR_CONVERT) == []
    assert "ngffkit.sources.tiff_folder" in modules  # the probe itself ran


def test_a_dry_run_imports_only_what_it_runs(tmp_path: Path, plain_stack: Path) -> None:
    code, modules, err = run_main("convert", plain_stack, tmp_path / "out.ome.zarr", "--dry-run")
    assert code == 0, err
    assert loaded(modules, NOT_FOR_CONVERT) == []


def test_the_progress_bar_imports_rich_when_it_is_drawn(tmp_path: Path, plain_stack: Path) -> None:
    code, modules, err = run_main(
        "convert", plain_stack, tmp_path / "out.ome.zarr", "--levels", "2"
    )
    assert code == 0, err
    assert "rich.progress" in modules
    assert loaded(modules, tuple(n for n in NOT_FOR_CONVERT if n != "rich")) == []


def test_importing_ngffkit_imports_nothing_behind_its_names() -> None:
    probe = "import sys, ngffkit; print(sorted(m for m in sys.modules if m.startswith(('ngffkit', 'numpy'))))"
    env = src_env()
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "['ngffkit', 'ngffkit.errors']"


def test_public_functions_share_no_name_with_a_module() -> None:
    # A submodule named like a public function rebinds the package attribute when it is
    # imported (the function's module is private instead, as httpx does it).
    import pkgutil

    import ngffkit

    modules = {m.name for m in pkgutil.iter_modules(ngffkit.__path__)}
    assert modules & set(ngffkit.__all__) == set()
    for name in ("compress", "convert", "downsample", "validate"):
        value = getattr(ngffkit, name)
        assert callable(value) and value.__name__ == name, value
    assert ngffkit.open.__name__ == "open_image"


def test_tifffile_errors_are_caught_without_importing_it() -> None:
    # TIFF_ERRORS no longer names tifffile's error: it must stay one of the caught kinds.
    assert issubclass(tifffile.TiffFileError, TIFF_ERRORS)


LINES = [
    "done: /data/stack.ome.zarr (5 levels) in 1.8 s, 299 MB/s, output 349.8 MiB (compression "
    "1.67×), peak memory 176 MiB",
    "",
    "Error: /tmp/a:100:b [bold]not markup[/bold] ✗ 中文 ünïcödé",
    "a plan\n  0: shape 32×256×256  chunks 32×64×64\n\nlast",
    "x" * 400,
    "trailing blanks " * 20 + "   ",
    "tab\there",
    "carriage\rreturn",
    "bell\x07 form\x0c feed",
    "escape \x1b[1m stays",
]


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("stderr", [False, True])
def test_plain_lines_print_as_rich_prints_them(
    capsys: pytest.CaptureFixture[str], stderr: bool, terminal: bool
) -> None:
    for line in LINES:
        written = io.StringIO()
        reference = Console(
            file=written,
            highlight=False,
            soft_wrap=True,
            emoji=False,
            force_terminal=terminal,
            width=80 if stderr else 160,
        )
        reference.print(line, markup=False)
        LazyConsole(stderr=stderr).print(line, markup=False)
        got = capsys.readouterr()
        assert (got.err if stderr else got.out) == written.getvalue(), repr(line)
        assert (got.out if stderr else got.err) == ""


def test_only_plain_lines_skip_rich() -> None:
    assert [is_plain(line) for line in LINES] == [True] * 5 + [False] * 4 + [True]
    console = LazyConsole(stderr=True)
    console.print("plain", markup=False)
    assert console._console is None
    console.print("[bold]markup[/bold]")  # markup needs rich, and so does everything after
    assert console._console is not None


def test_emoji_codes_are_printed_as_written(run_ngff: Any, tmp_path: Path) -> None:
    folder = tmp_path / "a:100:b"
    folder.mkdir()
    out = run_ngff("convert", folder, tmp_path / "out")
    assert "a:100:b: the folder is empty" in out.stderr


# What `ngff --help` may not import: it lists the commands and their options, nothing more.
# (Measured: these took `ngff --help` from ~0.1 s to 0.76 s; tensorstore alone is ~0.5 s.)
HEAVY = (
    "numpy",
    "tensorstore",
    "ml_dtypes",
    "pydantic",
    "rich",
    "zarr",
    "dask",
    "distributed",
    "numba",
    "scipy",
    "tifffile",
    "PIL",
    "imagecodecs",
    "starlette",
    "uvicorn",
    "neuroglancer",
    "ome_zarr_models",
    "jsonschema",
    "asyncio",
)
# Modules `ngff --help` imports beyond what `import typer` does (24 when this was written:
# our CLI modules and a few small stdlib ones). A new module-level import in a command
# module shows here first.
HELP_BUDGET = 40


def import_times(code: str, *args: str) -> dict[str, int]:
    """``python -X importtime -c CODE ARGS``: cumulative microseconds per module imported."""
    env = src_env()
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    times = {}
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and not line.endswith("| package"):
            _self, cumulative, name = line[len("import time:") :].split("|")
            if cumulative.strip().isdigit():  # not the header line
                times[name.strip()] = int(cumulative)
    return times


def test_help_stays_within_its_import_budget() -> None:
    typer_alone = import_times("import typer")
    times = import_times(PROBE, json.dumps(["--help"]))
    ours = {name: t for name, t in times.items() if name not in typer_alone}
    heaviest = sorted(ours.items(), key=lambda item: -item[1])[:10]
    # (Old Typer releases import rich themselves; that is theirs, not ours.)
    assert loaded(set(ours), HEAVY) == [], heaviest
    assert loaded(set(ours), ("ngffkit",)) == sorted(
        name
        for name in ours
        if name in ("ngffkit", "ngffkit.errors") or name.startswith("ngffkit.cli")
    ), heaviest
    assert len(ours) <= HELP_BUDGET, heaviest


def test_info_on_a_local_image_reads_no_chunks_so_imports_no_tensorstore(
    tmp_path: Path, make_image: Any
) -> None:
    make_image(tmp_path / "img.ome.zarr", labels=True)
    code, modules, err = run_main("info", tmp_path / "img.ome.zarr")
    assert code == 0, err
    assert loaded(modules, ("tensorstore", "ml_dtypes", "ngffkit.tasks", "distributed")) == []
    code, modules, err = run_main("info", tmp_path / "img.ome.zarr", "--json")
    assert code == 0, err
    assert "tensorstore" not in modules

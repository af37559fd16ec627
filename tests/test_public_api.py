"""The public namespace is what it says, and importing it does nothing observable."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ngffkit
from _support import src_env

EXPECTED = {
    "ClusterError",
    "Collection",
    "ConflictError",
    "ConversionPlan",
    "Image",
    "ImageSpec",
    "InputError",
    "Level",
    "LevelSpec",
    "MetadataError",
    "NgffWarning",
    "NgffkitError",
    "NotFoundError",
    "OptionError",
    "PartialDatasetError",
    "StorageError",
    "SurfaceLayers",
    "ValidationReport",
    "Voxel",
    "__version__",
    "add_labels",
    "add_to_collection",
    "compress",
    "convert",
    "create_collection",
    "create_image",
    "describe",
    "downsample",
    "finish_image",
    "flatten",
    "open",
    "open_collection",
    "open_surface",
    "plan_convert",
    "pyramid_spec",
    "remove_from_collection",
    "surface_layers",
    "validate",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(ngffkit.__all__) == EXPECTED
    # The functions win over their modules' names (``from ngffkit._convert import ...`` still
    # reaches the modules).
    assert callable(ngffkit.convert) and callable(ngffkit.downsample) and callable(ngffkit.compress)
    for name in ngffkit.__all__:
        assert hasattr(ngffkit, name), name
    public = {n for n in dir(ngffkit) if not n.startswith("_")} - {"annotations"}
    # Submodules are reachable as attributes once imported; everything else must be in __all__.
    modules = {n for n in public if type(getattr(ngffkit, n)).__name__ == "module"}
    assert public - modules <= set(ngffkit.__all__)


def test_error_tree_has_one_root() -> None:
    for name in (
        "ClusterError",
        "ConflictError",
        "InputError",
        "MetadataError",
        "NotFoundError",
        "OptionError",
        "PartialDatasetError",
        "StorageError",
    ):
        assert issubclass(getattr(ngffkit, name), ngffkit.NgffkitError)
    assert issubclass(ngffkit.NotFoundError, ngffkit.StorageError)
    assert issubclass(ngffkit.PartialDatasetError, ngffkit.MetadataError)


# Runs in a fresh interpreter: snapshots what the process has (OS threads, the C-level
# environment, open sockets and files, the working folder), imports ngffkit and then every
# module of the package, runs SABOTAGE (empty, or a side effect a test plants to show the
# probe sees it) and reports what differs.
SIDE_EFFECT_PROBE = r"""
import ctypes, importlib, json, os, pkgutil, sys

def c_environ():  # what C code and child processes see, not just os.environ
    env = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    out, i = [], 0
    while env[i] is not None:
        out.append(env[i].decode("utf-8", "replace"))
        i += 1
    return sorted(out)

def handles():  # open sockets, pipes and files (not the listing's own fd)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return sorted(h for h in found if not h.startswith("/proc/"))

def snapshot():
    return {"threads": len(os.listdir("/proc/self/task")), "environ": c_environ(),
            "py_environ": dict(os.environ), "handles": handles(), "cwd": os.getcwd(),
            "files": sorted(os.listdir("."))}

before = snapshot()
import ngffkit
for module in pkgutil.walk_packages(ngffkit.__path__, "ngffkit."):
    importlib.import_module(module.name)
exec(sys.argv[1])
after = snapshot()
print(json.dumps({k: [before[k], after[k]] for k in before if before[k] != after[k]}))
"""


def import_side_effects(tmp_path: Path, sabotage: str = "") -> dict[str, object]:
    """What importing ngffkit (and every module in it) changed in a fresh process."""
    env = src_env()
    # numpy's OpenBLAS starts its thread pool when numpy is imported: a third party's
    # choice, not ngffkit's, so it is held to one thread here.
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", SIDE_EFFECT_PROBE, sabotage],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    """Importing ngffkit, and any of its modules, starts no thread (native ones included),
    changes no environment variable, opens no socket or file and writes nothing."""
    assert import_side_effects(tmp_path) == {}


@pytest.mark.parametrize(
    ("sabotage", "seen"),
    [
        (
            "import threading, time; threading.Thread(target=time.sleep, args=(9,), daemon=True)"
            ".start()",
            "threads",
        ),
        ("os.putenv('NGFFKIT_PROBE', '1')", "environ"),
        ("import socket; held = socket.socket()", "handles"),
        ("held = open('left-behind.txt', 'w')", "files"),
    ],
)
def test_the_side_effect_probe_sees_them(tmp_path: Path, sabotage: str, seen: str) -> None:
    assert seen in import_side_effects(tmp_path, sabotage)


def _undocumented(obj: object) -> list[str]:
    """The parameters of ``obj`` (a function, or a class's constructor) that its docstring
    does not name."""
    try:
        signature = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return []
    doc = inspect.getdoc(obj) or ""
    return [
        name
        for name, p in signature.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", doc)
    ]


@pytest.mark.parametrize("name", sorted(set(ngffkit.__all__) - {"__version__"}))
def test_every_public_name_is_documented(name: str) -> None:
    """Every public name has a docstring, and a public function's (or class's) docstring
    names every parameter it takes."""
    obj = getattr(ngffkit, name)
    assert (inspect.getdoc(obj) or "").strip(), f"ngffkit.{name} has no docstring"
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return  # errors take a message
    if callable(obj):
        assert _undocumented(obj) == [], f"ngffkit.{name}: parameters not in its docstring"

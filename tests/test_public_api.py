"""The public namespace is what it says, and importing it does nothing observable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ngffkit

EXPECTED = {
    "ConflictError",
    "Image",
    "ImageSpec",
    "InputError",
    "Level",
    "LevelSpec",
    "MetadataError",
    "NgffWarning",
    "NgffkitError",
    "NotFoundError",
    "PartialDatasetError",
    "StorageError",
    "SurfaceLayers",
    "ValidationReport",
    "Voxel",
    "__version__",
    "compress",
    "convert",
    "create_image",
    "describe",
    "downsample",
    "finish_image",
    "flatten",
    "open",
    "open_surface",
    "pyramid_spec",
    "surface_layers",
    "validate",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(ngffkit.__all__) == EXPECTED
    # The functions win over their modules' names (``from ngffkit.convert import ...`` still
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
        "ConflictError",
        "InputError",
        "MetadataError",
        "NotFoundError",
        "PartialDatasetError",
        "StorageError",
    ):
        assert issubclass(getattr(ngffkit, name), ngffkit.NgffkitError)
    assert issubclass(ngffkit.NotFoundError, ngffkit.StorageError)
    assert issubclass(ngffkit.PartialDatasetError, ngffkit.MetadataError)


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    probe = (
        "import json, os, sys, threading\n"
        "before = dict(os.environ); cwd = os.getcwd()\n"
        "import ngffkit\n"
        "print(json.dumps({'threads': threading.active_count(), 'env_same': dict(os.environ) == before,"
        " 'cwd_same': os.getcwd() == cwd, 'files': sorted(os.listdir('.'))}))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = (
        str(Path(ngffkit.__file__).parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    facts = json.loads(out.stdout)
    assert facts == {"threads": 1, "env_same": True, "cwd_same": True, "files": []}

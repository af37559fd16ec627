"""Every error the library raises on purpose is an ``NgffkitError`` of the class that says
whose fault it is, called through the public path: the viewer's state, the server, and
Dask (a cluster that cannot be reached is a ``ClusterError``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import ngffkit
from ngffkit.errors import ClusterError, TaskError
from ngffkit.serve import FileBackend, MountBackend, create_app
from ngffkit.view import ViewImage, build_state
from ngffkit.view.state import describe_image


def test_the_dask_errors_have_their_own_class() -> None:
    assert issubclass(ngffkit.ClusterError, ngffkit.NgffkitError)
    assert issubclass(TaskError, ClusterError)  # a task that failed on the cluster


def test_a_scheduler_that_cannot_be_reached_is_a_cluster_error(tmp_path: Path) -> None:
    """A real address where no scheduler listens (port 9, discard: refused at once)."""
    folder = tmp_path / "stack"
    folder.mkdir()
    for z in range(4):
        tifffile.imwrite(folder / f"z{z}.tif", np.zeros((16, 16), np.uint8))
    started = time.monotonic()
    with pytest.raises(ngffkit.ClusterError) as info:
        ngffkit.plan_convert(
            folder, tmp_path / "out.zarr", executor="dask", scheduler="tcp://127.0.0.1:9"
        )
    assert str(info.value).startswith("could not reach a Dask scheduler at 'tcp://127.0.0.1:9'")
    assert "leave out scheduler to start a local cluster" in str(info.value)
    assert time.monotonic() - started < 30  # said at once, not after Dask's connect timeout
    assert not (tmp_path / "out.zarr").exists()


def _view_image(tmp_path: Path) -> ViewImage:
    folder = tmp_path / "stack"
    folder.mkdir()
    for z in range(4):
        tifffile.imwrite(folder / f"z{z}.tif", np.zeros((16, 16), np.uint8))
    image = ngffkit.convert(folder, tmp_path / "v.ome.zarr", voxel_size=1.0, unit="micrometer")
    return describe_image(image, "zarr3://http://127.0.0.1:1/v.ome.zarr")


def test_view_state_errors(tmp_path: Path) -> None:
    with pytest.raises(ngffkit.InputError, match="at least one image"):
        build_state([])
    with pytest.raises(ngffkit.OptionError) as info:
        build_state([_view_image(tmp_path)], layout="2x2")
    assert info.value.option == "layout"
    assert str(info.value) == "layout: '2x2' is not one of xy, 4panel, 3d"


def test_serve_errors(tmp_path: Path) -> None:
    with pytest.raises(ngffkit.OptionError) as info:
        create_app(FileBackend(tmp_path), token="")
    assert info.value.option == "token" and "non-empty" in str(info.value)
    with pytest.raises(ngffkit.InputError, match="'a/b' is not a servable path segment"):
        MountBackend({"a/b": FileBackend(tmp_path)})

"""flatten with the surface and the volume over HTTP (a static server with Range support on
127.0.0.1) and S3 (moto): the output files are byte-identical to a local run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ngffkit
from flatten_helpers import plane_surface, write_ppm, write_tifxyz, write_volume
from ngffkit.errors import InputError

from .conftest import Moto, ServerFactory


@pytest.fixture(scope="module")
def scroll(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scroll")
    write_volume(root / "vol.ome.zarr", (40, 48, 56), levels=2, version="0.4")
    rec = plane_surface(30, 36)
    rec[3:5, 4:9] = 0
    write_ppm(root / "seg.ppm", rec)
    r, c = np.meshgrid(np.arange(5), np.arange(6), indexing="ij")
    grid = np.stack([5 + 8.0 * c, 6 + 7.0 * r, 10 + 1.5 * r + 0.5 * c], axis=-1)
    grid[1, 1] = -1
    write_tifxyz(root / "seg_tifxyz", grid, 0.25)
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}  # the mark included


CASES: list[tuple[str, dict[str, Any]]] = [
    ("seg.ppm", dict(layers=9, step=1.5, composite="median", composite_layers=5)),
    ("seg_tifxyz", dict(layers=7, flip_normals=True, level=1, tiff_compression="zlib")),
]


@pytest.mark.parametrize(("surface", "options"), CASES)
def test_over_http_byte_identical(
    scroll: Path,
    server_factory: ServerFactory,
    tmp_path: Path,
    surface: str,
    options: dict[str, Any],
) -> None:
    server = server_factory(scroll)
    ngffkit.flatten(scroll / surface, scroll / "vol.ome.zarr", tmp_path / "local", **options)
    ngffkit.flatten(server.url(surface), server.url("vol.ome.zarr"), tmp_path / "http", **options)
    local = _files(tmp_path / "local")
    assert local == _files(tmp_path / "http") and len(local) >= 7
    if surface.endswith(".ppm"):  # read by ranges of rows, never whole
        ppm = [r for r in server.log if r.path.endswith(".ppm")]
        assert ppm and all(r.range for r in ppm)


def test_cli_over_http(
    scroll: Path, server_factory: ServerFactory, tmp_path: Path, run_ngff: Any
) -> None:
    server = server_factory(scroll)
    ngffkit.flatten(scroll / "seg.ppm", scroll / "vol.ome.zarr", tmp_path / "local", layers=5)
    done = run_ngff(
        "flatten",
        server.url("seg.ppm"),
        server.url("vol.ome.zarr"),
        tmp_path / "http",
        "--layers",
        "5",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    assert _files(tmp_path / "local") == _files(tmp_path / "http")
    done = run_ngff(
        "flatten", server.url("missing.ppm"), server.url("vol.ome.zarr"), tmp_path / "x", "-q"
    )
    assert done.returncode == 1 and "missing.ppm" in done.stderr and "Traceback" not in done.stderr
    served = tmp_path / "served"
    served.mkdir()
    (served / "short.ppm").write_bytes((scroll / "seg.ppm").read_bytes()[:-48])
    (served / "long.ppm").write_bytes((scroll / "seg.ppm").read_bytes() + b"\0" * 8)
    other = server_factory(served)
    for name, says in (("short", "fewer"), ("long", "more")):
        with pytest.raises(InputError, match=f"{name}.ppm: the .ppm is truncated.*holds {says}"):
            ngffkit.open_surface(other.url(f"{name}.ppm"))


@pytest.mark.parametrize(("surface", "options"), CASES)
def test_over_s3_byte_identical(
    scroll: Path, s3: Moto, tmp_path: Path, surface: str, options: dict[str, Any]
) -> None:
    bucket = "scrolls"
    s3.create_bucket(bucket)
    client = s3.client()
    for path in scroll.rglob("*"):
        if path.is_file():
            client.put_object(
                Bucket=bucket,
                Key=f"s1/{path.relative_to(scroll).as_posix()}",
                Body=path.read_bytes(),
            )
    ngffkit.flatten(scroll / surface, scroll / "vol.ome.zarr", tmp_path / "local", **options)
    ngffkit.flatten(
        f"s3://{bucket}/s1/{surface}", f"s3://{bucket}/s1/vol.ome.zarr", tmp_path / "s3", **options
    )
    assert _files(tmp_path / "local") == _files(tmp_path / "s3")
    # A Zarr output into the bucket holds the same layers.
    ngffkit.flatten(
        f"s3://{bucket}/s1/{surface}",
        f"s3://{bucket}/s1/vol.ome.zarr",
        f"s3://{bucket}/out/{surface}.ome.zarr",
        format="zarr",
        **{k: v for k, v in options.items() if not k.startswith(("composite", "tiff"))},
    )
    image = ngffkit.open(f"s3://{bucket}/out/{surface}.ome.zarr")
    import tifffile

    layers = np.stack(
        [tifffile.imread(tmp_path / "local" / f"{i:02d}.tif") for i in range(options["layers"])]
    )
    np.testing.assert_array_equal(image.levels[0][...], layers)
    assert not [k for k in s3.keys(bucket, "out/") if ".ngffkit-" in k]

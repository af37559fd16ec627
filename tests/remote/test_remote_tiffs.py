"""``ngff convert`` reading TIFF slice folders and volume_grids cells where they live: over
HTTP (``python -m http.server``, ``ngff serve --listing``, a Range-serving test server that
can fail) and from moto's S3. Output must be byte-identical to converting the local copy."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from ngffkit.errors import InputError, NgffkitError, NotFoundError
from ngffkit.sources import open_source
from ngffkit.sources.remote_files import parse_listing

from .conftest import Moto, ServerFactory

from run_helpers import tree_digest  # isort: skip
from _support import src_env  # isort: skip


@pytest.fixture(scope="module")
def scroll(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``vol/``: 20 plain uint16 slices 60×70 plus junk; ``masked/``: the same, zlib and LZW
    compressed; ``grid/``: a 16³-cell volume_grids folder of a 30×25×37 uint8 volume."""
    root = tmp_path_factory.mktemp("scroll")
    rng = np.random.default_rng(11)
    vol = rng.integers(0, 65535, (20, 60, 70), dtype=np.uint16)
    for name in ("vol", "masked"):
        (root / name).mkdir()
    for z, plane in enumerate(vol):
        tifffile.imwrite(root / "vol" / f"{z:05d}.tif", plane)
        tifffile.imwrite(
            root / "masked" / f"{z:05d}.tif",
            plane,
            compression="zlib" if z % 2 else "lzw",
            rowsperstrip=8,
        )
    (root / "vol" / "meta.json").write_text('{"width": 70}')
    grid = rng.integers(0, 255, (30, 25, 37), dtype=np.uint8)
    (root / "grid").mkdir()
    c = 16
    for zi in range(2):
        for yi in range(2):
            for xi in range(3):
                cell = grid[zi * c : (zi + 1) * c, yi * c : (yi + 1) * c, xi * c : (xi + 1) * c]
                tifffile.imwrite(
                    root / "grid" / f"cell_yxz_{yi + 1:03d}_{xi + 1:03d}_{zi + 1:03d}.tif",
                    cell,
                    photometric="minisblack",
                )
    np.save(root / "vol.npy", vol)
    np.save(root / "grid.npy", grid)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url_port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            socket.create_connection(("127.0.0.1", url_port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


@pytest.fixture(scope="module")
def python_http(scroll: Path) -> Iterator[str]:
    """``python -m http.server`` over the scroll folder (no Range support, HTML listings)."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(scroll),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _convert(run_ngff: Any, source: str | Path, out: Path, *extra: str) -> dict[str, str]:
    out.parent.mkdir(parents=True, exist_ok=True)
    done = run_ngff("convert", source, out, "--chunks", "16", "-q", *extra)
    assert done.returncode == 0, done.stderr
    return tree_digest(out)


@pytest.fixture(scope="module")
def local_digests(scroll: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:

    root = tmp_path_factory.mktemp("local")
    out = {}
    for name in ("vol", "masked", "grid"):
        target = root / name / "img.ome.zarr"
        target.parent.mkdir()
        env = src_env()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ngffkit",
                "convert",
                str(scroll / name),
                str(target),
                "--chunks",
                "16",
                "-q",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        out[name] = tree_digest(target)
    return out


@pytest.mark.parametrize("name", ["vol", "masked", "grid"])
def test_convert_over_python_http_server_is_byte_identical(
    name: str, python_http: str, local_digests: dict[str, Any], run_ngff: Any, tmp_path: Path
) -> None:
    got = _convert(run_ngff, f"{python_http}/{name}/", tmp_path / "x" / "img.ome.zarr")
    assert got == local_digests[name]


@pytest.mark.parametrize("name", ["vol", "masked", "grid"])
def test_convert_with_ranged_reads_is_byte_identical(
    name: str,
    scroll: Path,
    server_factory: ServerFactory,
    local_digests: dict[str, Any],
    run_ngff: Any,
    tmp_path: Path,
) -> None:
    server = server_factory(scroll)
    got = _convert(run_ngff, server.url(name), tmp_path / "x" / "img.ome.zarr")
    assert got == local_digests[name]
    files = [r for r in server.log if r.path.endswith(".tif")]
    assert files and all(r.range for r in files)  # only byte ranges, never a whole file
    if name == "vol":
        # plain slices: after the header, the rows each brick needs, each row once
        rows = sum(r.sent for r in files if not r.range.startswith("bytes=0-"))
        pixels = sum(p.stat().st_size - 256 for p in (scroll / "vol").glob("*.tif"))
        assert rows <= pixels


def test_convert_over_ngff_serve_listing(
    scroll: Path, local_digests: dict[str, Any], run_ngff: Any, tmp_path: Path
) -> None:
    from ngffkit.serve import FileBackend, create_app, start_server

    handle = start_server(create_app(FileBackend(scroll), listing=True), "127.0.0.1", 0)
    try:
        for name in ("vol", "grid"):
            got = _convert(run_ngff, f"{handle.url}/{name}/", tmp_path / name / "img.ome.zarr")
            assert got == local_digests[name]
    finally:
        handle.stop()


def test_convert_from_s3_is_byte_identical(
    scroll: Path, s3: Moto, local_digests: dict[str, Any], run_ngff: Any, tmp_path: Path
) -> None:
    s3.create_bucket("scrolls")
    client = s3.client()
    for name in ("vol", "grid"):
        for path in sorted((scroll / name).iterdir()):
            client.put_object(
                Bucket="scrolls", Key=f"PHerc/{name}/{path.name}", Body=path.read_bytes()
            )
    client.put_object(Bucket="scrolls", Key="PHerc/vol/sub/other.tif", Body=b"deeper")
    for name in ("vol", "grid"):
        got = _convert(
            run_ngff,
            f"s3://scrolls/PHerc/{name}",
            tmp_path / name / "img.ome.zarr",
            "--s3-endpoint",
            s3.endpoint,
        )
        assert got == local_digests[name]


@pytest.mark.parametrize("status", [429, 503])
def test_a_flaky_server_is_retried(
    status: int,
    scroll: Path,
    server_factory: ServerFactory,
    local_digests: dict[str, Any],
    run_ngff: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NGFFKIT_RETRIES", "4")
    # The listing and two slices fail twice each (every slice would be 13 s of backoffs).
    server = server_factory(
        scroll, fail_status=status, fail_times=2, fail_match=r"^/vol/(0000[12]\.tif)?$"
    )
    got = _convert(run_ngff, server.url("vol/"), tmp_path / "x" / "img.ome.zarr")
    assert got == local_digests["vol"]
    failed = [r for r in server.log if r.status == status]
    assert any(r.path == "/vol/" for r in failed)  # the listing was retried
    assert {r.path for r in failed} == {"/vol/", "/vol/00001.tif", "/vol/00002.tif"}
    for path in ("/vol/", "/vol/00001.tif", "/vol/00002.tif"):  # served on the third request
        assert [r.status for r in server.log if r.path == path][2] in (200, 206)


def test_a_server_that_keeps_failing_is_named(
    scroll: Path, server_factory: ServerFactory, run_ngff: Any, tmp_path: Path
) -> None:
    server = server_factory(scroll, fail_status=503, fail_times=-1, fail_match="00007")
    done = run_ngff("convert", server.url("vol/"), tmp_path / "img.ome.zarr", "-q")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "/vol/00007.tif" in done.stderr and "503" in done.stderr


def test_errors_name_the_url(scroll: Path, server_factory: ServerFactory, tmp_path: Path) -> None:
    root = tmp_path / "served"
    (root / "gap").mkdir(parents=True)
    (root / "junk").mkdir()
    (root / "broken").mkdir()
    plane = np.zeros((8, 9), np.uint16)
    for z in (0, 1, 3):
        tifffile.imwrite(root / "gap" / f"{z:03d}.tif", plane)
    (root / "junk" / "readme.txt").write_text("no slices")
    tifffile.imwrite(root / "broken" / "000.tif", plane)
    (root / "broken" / "001.tif").write_bytes(b"this is not a tiff at all" * 10)
    server = server_factory(root)
    with pytest.raises(InputError, match=rf"{server.url('gap')}.*missing 2"):
        open_source(server.url("gap/"))
    with pytest.raises(InputError, match=rf"{server.url('junk')}/: the listing holds no TIFF"):
        open_source(server.url("junk/"))
    src = open_source(server.url("broken/"))
    with pytest.raises(InputError, match=rf"{server.url('broken/001.tif')} \(z=1\): cannot read"):
        src.read((slice(0, 2), slice(0, 8), slice(0, 9)))
    with pytest.raises(NotFoundError, match="was not found"):
        open_source(server.url("nothing-here/"))
    # a slice removed after the listing
    gone = open_source(server.url("gap/"), allow_gaps=True)
    (root / "gap" / "003.tif").unlink()
    with pytest.raises(NgffkitError, match=rf"{server.url('gap')}/003.tif"):
        gone.read((slice(3, 4), slice(0, 8), slice(0, 9)))


def test_parse_listing_of_autoindex_pages() -> None:
    apache = """<html><body><h1>Index of /full-scrolls/Scroll1/volumes/</h1><table>
    <tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>
    <tr><td><a href="/full-scrolls/Scroll1/">Parent Directory</a></td></tr>
    <tr><td><a href="00000.tif">00000.tif</a></td></tr>
    <tr><td><a href="slice%20one.tif">slice one.tif</a></td></tr>
    <tr><td><a href="sub/">sub/</a></td></tr>
    <tr><td><a href="./00001.tif">00001.tif</a></td></tr>
    <tr><td><a href="/full-scrolls/Scroll1/volumes/00002.tif">00002.tif</a></td></tr>
    <tr><td><a href="http://127.0.0.1:9/full-scrolls/Scroll1/volumes/00003.tif">x</a></td></tr>
    <tr><td><a href="http://elsewhere/00004.tif">x</a></td></tr>
    <tr><td><a href="../">../</a><a href="#top">top</a><a href="00000.tif">dup</a></td></tr>
    </table></body></html>"""
    names = parse_listing(apache, "http://127.0.0.1:9/full-scrolls/Scroll1/volumes")
    assert names == ["00000.tif", "slice one.tif", "00001.tif", "00002.tif", "00003.tif"]
    nginx = (
        '<html><head><title>Index of /v/</title></head><body><pre><a href="../">../</a>\n'
        '<a href="cell_yxz_001_001_001.tif">cell_yxz_001_001_001.tif</a>  01-Jan-2024 12 M\n'
    )
    assert parse_listing(nginx, "https://h/v/") == ["cell_yxz_001_001_001.tif"]


def test_the_python_api_reads_remote_slices(python_http: str, scroll: Path) -> None:
    vol = np.load(scroll / "vol.npy")
    with open_source(f"{python_http}/masked") as src:
        assert src.shape == vol.shape and src.dtype == vol.dtype
        np.testing.assert_array_equal(
            src.read((slice(3, 9), slice(5, 50), slice(7, 61))), vol[3:9, 5:50, 7:61]
        )
        again = open_source(src.spec())
        np.testing.assert_array_equal(again.read((slice(0, 20), slice(0, 60), slice(0, 70))), vol)


def test_names_that_need_percent_encoding(server_factory: ServerFactory, tmp_path: Path) -> None:
    folder = tmp_path / "odd name"
    folder.mkdir()
    for z in range(3):
        tifffile.imwrite(folder / f"slice #{z}%.tif", np.full((4, 5), z, np.uint8))
    server = server_factory(tmp_path)
    for url in (server.url("odd%20name/"), server.url("odd name")):
        with open_source(url) as src:
            assert src.read((slice(0, 3), slice(0, 4), slice(0, 5)))[:, 0, 0].tolist() == [0, 1, 2]
            assert src.spec().path == server.url("odd%20name")

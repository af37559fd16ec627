"""``ngff view`` without a browser: what it prints, what it serves, how it fails and stops."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from ngffkit.serve import FileBackend, create_app, start_server
from ngffkit.serve.runner import bind_socket
from ngffkit.view import start_view

from .conftest import ViewProcess, write_pattern


def test_folder_of_datasets(tmp_path: Path) -> None:
    write_pattern(tmp_path / "a.ome.zarr", version="0.5", shards=32, labels=True)
    write_pattern(tmp_path / "nested" / "b.ome.zarr", version="0.4", shards=None)
    (tmp_path / "notes.txt").write_text("not a dataset")
    view = ViewProcess(str(tmp_path), "--layout", "4panel")
    try:
        layers = next(line for line in view.lines if line.startswith("Layers: "))
        assert layers == "Layers: a.ome.zarr, a.ome.zarr cells, b.ome.zarr"
        mount = tmp_path.name
        r = httpx.get(f"{view.data_url}/{mount}/a.ome.zarr/zarr.json")
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert httpx.get(f"{view.data_url}/{mount}/nested/b.ome.zarr/.zattrs").status_code == 200
        assert httpx.get(f"{view.data_url}/{mount}/../etc/passwd").status_code == 404
        page = httpx.get(view.url)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        code, out, err = view.stop()
    assert code == 0, err
    assert "Stopped." in out
    assert "Traceback" not in err


def test_errors(run_ngff, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = run_ngff("view", tmp_path / "nope.zarr")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run_ngff("view", tmp_path / "empty")
    assert empty.returncode == 1
    assert "no OME-Zarr image found" in empty.stderr
    bad = run_ngff("view", tmp_path / "empty", "--layout", "2x2")
    assert bad.returncode == 2
    assert "--layout" in bad.stderr
    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        write_pattern(tmp_path / "x.zarr", version="0.5", shards=None)
        busy = run_ngff("view", tmp_path / "x.zarr", "--port", str(port))
    finally:
        sock.close()
    assert busy.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in busy.stderr
    for result in (missing, empty, bad, busy):
        assert "Traceback" not in result.stderr


def test_view_a_remote_url_through_the_proxy(tmp_path: Path) -> None:
    write_pattern(tmp_path / "remote.zarr", version="0.5", shards=32, labels=True)
    with (
        start_server(create_app(FileBackend(tmp_path))) as remote,
        start_view([remote.url + "/remote.zarr"], layout="xy") as session,
    ):
        sources = [layer["source"] for layer in session.state["layers"]]
        local = session.data_server.url
        assert sources == [
            f"zarr3://{local}/remote.zarr",
            f"zarr3://{local}/remote.zarr/labels/cells",
        ]
        # The browser reads the local proxy, which reads the remote.
        r = httpx.get(f"{local}/remote.zarr/labels/cells/zarr.json")
        assert r.json()["attributes"]["ome"]["image-label"]["colors"][0]["label-value"] == 1
        assert session.url.startswith("http://127.0.0.1:")


def test_open_starts_the_browser_on_the_url(tmp_path: Path) -> None:
    # webbrowser honours $BROWSER: a command that records the URL it is given stands in.
    opened = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser.sh"
    fake.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake.chmod(0o755)
    write_pattern(tmp_path / "x.zarr", version="0.5", shards=None)
    view = ViewProcess(str(tmp_path / "x.zarr"), "--open", env={"BROWSER": str(fake)})
    try:
        for _ in range(100):  # bounded: the browser command runs in the background
            if opened.exists() and opened.read_text().strip():
                break
            time.sleep(0.1)
        assert opened.read_text().strip() == view.url
    finally:
        code, _out, err = view.stop()
    assert code == 0, err

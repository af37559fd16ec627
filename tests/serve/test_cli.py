"""``ngff serve`` as a user runs it: a subprocess, a printed URL, a clean stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from _support import src_env
from ngffkit.serve.runner import bind_socket

from .conftest import PAYLOAD

RUN_CLI = Path(__file__).with_name("run_cli.py")


def ngff(*args: str) -> subprocess.Popen[str]:
    env = src_env({"PYTHONUNBUFFERED": "1"})
    env.pop("NGFF_SERVE_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, str(RUN_CLI), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 30) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    proc.kill()
    raise AssertionError(f"no {marker!r} in output: {lines}; stderr: {proc.communicate()[1]}")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_subprocess(tree: Path, stop_signal: signal.Signals) -> None:
    proc = ngff("serve", str(tree), "--port", "0", "--verbose")
    try:
        lines = read_until(proc, "Ctrl-C")
        match = re.search(r"at (http://127\.0\.0\.1:(\d+)/)", lines[0])
        assert match, lines
        url = match.group(1)
        assert int(match.group(2)) > 0
        sources = "\n".join(lines)
        port = match.group(2)
        assert f"zarr3://http://127.0.0.1:{port}/img.zarr" in sources
        assert f"zarr2://http://127.0.0.1:{port}/old.zarr" in sources
        r = httpx.get(url + "data/blob.bin", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206
        assert r.content == PAYLOAD[10:20]
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Stopped." in out
    assert "GET /data/blob.bin 206 10 B" in err
    assert "Traceback" not in err


def test_serve_missing_path(tmp_path: Path) -> None:
    proc = ngff("serve", str(tmp_path / "nope"), "--port", "0")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err.startswith("Error: PATH")
    assert "does not exist" in err


def test_serve_port_in_use(tree: Path) -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    try:
        proc = ngff("serve", str(tree), "--port", str(port))
        _out, err = proc.communicate(timeout=30)
    finally:
        sock.close()
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in err
    assert "--port" in err


def test_serve_token_and_public_bind_warning(tree: Path) -> None:
    proc = ngff("serve", str(tree), "--port", "0", "--bind", "0.0.0.0", "--token", "tok")
    try:
        lines = read_until(proc, "Ctrl-C")
        match = re.search(r"at (http://\S+/)\?token=tok", lines[0])
        assert match, lines
        url = match.group(1)
        assert httpx.get(url + "data/sub/x.bin").status_code == 401
        assert httpx.get(url + "data/sub/x.bin", params={"token": "tok"}).status_code == 200
        assert any("img.zarr?token=tok" in line for line in lines)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Warning: binding 0.0.0.0" in err

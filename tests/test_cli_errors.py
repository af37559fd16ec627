"""Every bad input gets a clear error, in CLI words, naming the culprit, with no traceback,
and changes nothing outside OUTPUT (issue 12: defects 9 and 10, frictions, and the matrix).

The CLI runs in this process (``run_app``) where a process would add nothing; signals,
permissions (root drops its permission bypass with setpriv) and servers use real processes.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _support import cli
from ngffkit.image import open_image
from run_helpers import ngff, tree_digest, wait_for_journal
from safety_helpers import run, temp_files, tmpfs, write_stack

SLOW = ["--chunks", "8", "--shards", "8", "--compression", "gzip:9", "--jobs", "1", "--levels", "2"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, make_image: Any) -> Path:
    """A folder of good and bad inputs, shared by the matrix (which must leave it as it is)."""
    root = tmp_path_factory.mktemp("matrix")
    write_stack(root / "stack")
    make_image(root / "img.zarr", shape=(16, 32, 32), levels=2, chunks=8)
    (root / "docs").mkdir()
    (root / "docs" / "thesis.docx").write_text("years of work")
    (root / "garbage.tif").write_bytes(b"II*\x00" + b"\xff" * 60)
    (root / "notes.txt").write_text("not an image")
    (root / "link.zarr").symlink_to(root / "img.zarr", target_is_directory=True)
    make_image(root / "f64.zarr", shape=(8, 16, 16), levels=1, chunks=8, dtype="float64")
    # WEBKNOSSOS datasets: a WKW layer (no reader), and properties without a scale
    box = {"topLeft": [0, 0, 0], "width": 8, "height": 8, "depth": 8}
    layer = {"name": "em", "category": "color", "boundingBox": box, "dataFormat": "wkw"}
    layer |= {"elementClass": "uint8", "mags": [{"mag": [1, 1, 1], "path": "./em/1"}]}
    (root / "wkw").mkdir()
    (root / "wkw" / "datasource-properties.json").write_text(
        json.dumps({"scale": {"factor": [1, 1, 1]}, "dataLayers": [layer]})
    )
    (root / "wk-noscale").mkdir()
    (root / "wk-noscale" / "datasource-properties.json").write_text(
        json.dumps({"dataLayers": [layer]})
    )
    return root


# (arguments, the culprit the message must name); {w} is the workspace, {out} a new OUTPUT.
MATRIX: list[tuple[list[str], str]] = [
    (["convert", "{w}/missing", "{out}"], "missing"),
    (["convert", "{w}/garbage.tif", "{out}"], "garbage.tif"),
    (["convert", "{w}/notes.txt", "{out}"], "notes.txt"),
    (["convert", "{w}/docs", "{out}"], "docs"),
    (["convert", "{w}/stack", "{w}/docs", "--overwrite"], "thesis.docx"),
    (["convert", "{w}/stack", "{w}/img.zarr"], "img.zarr"),
    (["convert", "{w}/stack", "{w}/notes.txt", "--overwrite"], "is a file"),
    (["convert", "{w}/stack", "{w}/link.zarr", "--overwrite"], "is a symbolic link"),
    (["convert", "{w}/stack", "{w}/stack/out.zarr"], "overlaps"),
    (["convert", "{w}/stack", "{out}", "--chunks", "0"], "--chunks"),
    (["convert", "{w}/stack", "{out}", "--shards", "7"], "--shards"),
    (["convert", "{w}/stack", "{out}", "--dtype", "int7"], "--dtype"),
    (["convert", "{w}/stack", "{out}", "--window", "1:0", "--dtype", "uint8"], "--window"),
    (["convert", "{w}/stack", "{out}", "--jobs", "0"], "--jobs"),
    (["convert", "{w}/stack", "{out}", "--jobs", "-1"], "--jobs"),
    (["convert", "{w}/stack", "{out}", "--max-memory", "10T"], "--max-memory"),
    (["convert", "{w}/stack", "{out}", "--max-memory", "lots"], "--max-memory"),
    (["convert", "{w}/stack", "{out}", "--voxel-size", "a,b"], "--voxel-size"),
    (["convert", "{w}/stack", "{out}", "--format", "0.6"], "--format"),
    (["convert", "{w}/stack", "{out}", "--name", ""], "--name"),
    (["convert", "{w}/stack", "{out}", "--method", "bogus"], "bogus"),
    (["convert", "{w}/stack", "{out}", "--compression", "lzma"], "lzma"),
    (["convert", "{w}/stack", "{out}", "--ranges", "5:1,:,:"], "--ranges"),
    (["convert", "{w}/stack", "{out}", "--input-format", "hdf5"], "must be a file"),
    (["convert", "{w}/stack", "{out}", "--input-format", "tiff7"], "tiff7"),
    (["convert", "{w}/stack", "{out}", "--resume", "--overwrite"], "--resume"),
    (["convert", "{w}/stack", "ftp://host/x.zarr"], "ftp"),
    (["convert", "{w}/stack", "{w}/img.zarr", "{out}"], "16×32×32"),
    (["convert", "{w}/stack", "{w}/stack", "{out}", "--channel-names", "A"], "--channel-names"),
    (["convert", "{w}/stack", "{out}", "--channel-names", "A,,B"], "--channel-names"),
    (["convert", "{w}/stack", "{out}", "--pattern", "s_{{q}}.tif"], "unknown tag"),
    (["convert", "{w}/stack", "{out}", "--pattern", "s_{{z}}.tif"], "no file matches"),
    (["convert", "{w}/stack", "{out}", "--time-step", "2"], "--time-step"),
    (["convert", "{w}/stack", "{out}", "--time-step", "-2"], "--time-step"),
    (["convert", "{w}/stack", "{out}", "--layer", "em"], "--layer"),
    (["convert", "{w}/wkw", "{out}"], "header.wkw"),
    (["convert", "{w}/wkw", "{out}", "--layer", "nope"], "nope"),
    (["convert", "{w}/wkw", "{out}", "--voxel-size", "1,1,1"], "--voxel-size"),
    (["convert", "{w}/wk-noscale", "{out}"], "'scale'"),
    (["downsample", "{w}/missing"], "missing"),
    (["downsample", "{w}/docs"], "docs"),
    (["downsample", "{w}/img.zarr", "--from-level", "9"], "--from-level"),
    (["downsample", "{w}/img.zarr", "--method", "bogus"], "bogus"),
    (["downsample", "{w}/img.zarr", "--levels", "zero"], "--levels"),
    (["downsample", "{w}/img.zarr", "--jobs", "-1"], "--jobs"),
    (["downsample", "{w}/img.zarr", "--resume"], "no interrupted downsample"),
    (["compress", "{w}/missing"], "missing"),
    (["compress", "{w}/notes.txt"], "notes.txt"),
    (["compress", "{w}/img.zarr", "--compression", "lzma"], "--compression"),
    (["compress", "{w}/img.zarr", "--format", "0.3"], "--format"),
    (["compress", "{w}/img.zarr", "--chunks", "0"], "--chunks"),
    (["compress", "{w}/img.zarr", "--output", "{w}/docs", "--overwrite"], "thesis.docx"),
    (["compress", "{w}/img.zarr", "--output", "{w}/img.zarr/copy"], "overlaps"),
    (["compress", "{w}/img.zarr", "--resume"], "--resume"),
    (["compress", "{w}/img.zarr", "--jobs", "0"], "--jobs"),
    (["info", "{w}/missing"], "missing"),
    (["info", "{w}/docs"], "docs"),
    (["info", "{w}/garbage.tif"], "garbage.tif"),
    (["validate", "{w}/missing"], "missing"),
    (["validate", "{w}/stack"], "stack"),
    (["validate", "{w}/notes.txt"], "notes.txt"),
    (["serve", "{w}/missing"], "missing"),
    (["serve", "{w}/img.zarr", "--port", "70000"], "--port"),
    (["serve", "{w}/img.zarr", "--token", ""], "--token"),
    (["view", "{w}/missing"], "missing"),
    (["view", "{w}/docs"], "docs"),
    (["view", "{w}/img.zarr", "--layout", "bogus"], "bogus"),
    (["demo", "{w}/garbage.tif"], "garbage.tif"),
    (["demo", "{out}", "--shape", "0,0,0"], "--shape"),
    (["demo", "{out}", "--dtype", "float7"], "--dtype"),
    (["info", "{w}/img.zarr", "--retries", "-3"], "--retries"),
    (["info", "{w}/img.zarr", "--header", "no colon"], "--header"),
    (["decompress-tiffs", "{w}/missing", "{out}"], "missing"),
    (["decompress-tiffs", "{w}/docs", "{out}"], "no TIFF files"),
    (["decompress-tiffs", "{w}/stack", "{w}/stack/out"], "overlaps"),
    (["decompress-tiffs", "{w}/stack", "{w}/docs", "--overwrite"], "thesis.docx"),
    (["decompress-tiffs", "{w}/stack", "{out}", "--jobs", "0"], "--jobs"),
    (["flatten", "{w}/missing.ppm", "{w}/img.zarr", "{out}"], "missing.ppm"),
    (["flatten", "{w}/notes.txt", "{w}/img.zarr", "{out}"], "notes.txt"),
    (["flatten", "{w}/docs", "{w}/img.zarr", "{out}"], "docs"),
    (["flatten", "{w}/docs", "{w}/img.zarr", "{w}/docs", "--overwrite"], "docs"),
    (["flatten", "{w}/notes.txt", "{w}/img.zarr", "{out}", "--layers", "0"], "--layers"),
    (["flatten", "{w}/notes.txt", "{w}/img.zarr", "{out}", "--jobs", "0"], "--jobs"),
    (["collection", "create", "{out}", "{w}/missing"], "missing"),
    (["collection", "create", "{out}", "{w}/notes.txt"], "notes.txt"),
    (["collection", "create", "{out}", "{w}/docs"], "docs"),
    (["collection", "create", "{w}/img.zarr", "{w}/img.zarr", "--overwrite"], "img.zarr"),
    (["collection", "create", "{w}/docs", "{w}/img.zarr", "--overwrite"], "thesis.docx"),
    (["collection", "create", "{w}/notes.txt", "{w}/img.zarr", "--json"], "notes.txt"),
    (["collection", "create", "{out}", "{w}/img.zarr", "--zarr-format", "4"], "--zarr-format"),
    (["collection", "add", "{w}/nothing.zarr", "{w}/img.zarr"], "nothing.zarr"),
    (["collection", "add", "{w}/img.zarr", "{w}/img.zarr"], "img.zarr"),
    (["collection", "add", "{out}", "{w}/img.zarr", "--color", "red"], "--color"),
    (["collection", "add", "{out}", "{w}/img.zarr", "--window", "1:0"], "--window"),
    (["collection", "remove", "{w}/nothing.zarr", "x"], "nothing.zarr"),
    (["collection", "remove", "{w}/img.zarr", "x"], "img.zarr"),
    (["labels", "add", "{w}/img.zarr", "{w}/missing", "--name", "x"], "missing"),
    (["labels", "add", "{w}/nothing.zarr", "{w}/stack", "--name", "x"], "nothing.zarr"),
    (["labels", "add", "{w}/notes.txt", "{w}/stack", "--name", "x"], "notes.txt"),
    (["labels", "add", "{w}/img.zarr", "{w}/garbage.tif", "--name", "x"], "garbage.tif"),
    (["labels", "add", "{w}/img.zarr", "{w}/stack", "--name", "x"], "16×32×32"),
    (["labels", "add", "{w}/img.zarr", "{w}/stack", "--name", "a/b"], "--name"),
    (["labels", "add", "{w}/img.zarr", "{w}/stack", "--name", "x", "--method", "mean"], "--method"),
    (["labels", "add", "{w}/img.zarr", "{w}/stack", "--name", "x", "--jobs", "0"], "--jobs"),
    (
        ["labels", "add", "{w}/img.zarr", "{w}/stack", "--name", "x", "--colors", "{w}/notes.txt"],
        "notes.txt",
    ),
    (
        ["labels", "add", "{w}/img.zarr", "{w}/stack", "--name", "x", "--dtype", "float32"],
        "--dtype",
    ),
    (["webknossos-properties", "{w}/missing"], "missing"),
    (["webknossos-properties", "{w}/docs"], "docs"),
    (["webknossos-properties", "{w}/f64.zarr"], "float64"),
    (["convert", "{w}/stack", "{out}", "--zarr-only", "--webknossos"], "--webknossos"),
    (["no-such-command"], "no-such-command"),
]


def test_the_matrix_covers_every_command() -> None:
    from ngffkit.cli.app import app, register_commands

    register_commands()
    commands = {info.name for info in app.registered_commands}
    commands |= {info.name for info in app.registered_groups}  # `ngff labels add`
    assert commands <= {args[0] for args, _ in MATRIX}


@pytest.mark.parametrize(
    ("args", "culprit"), MATRIX, ids=[" ".join(a[:1] + a[2:]) or a[0] for a, _ in MATRIX]
)
def test_every_command_refuses_bad_input_cleanly(
    args: list[str], culprit: str, workspace: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.zarr"
    before = tree_digest(workspace)
    code, stdout, stderr = cli(*(a.format(w=workspace, out=out) for a in args))
    text = stdout + stderr
    assert code in (1, 2), text
    assert "Traceback" not in text, text
    assert culprit in stderr, stderr
    assert tree_digest(workspace) == before
    assert not out.exists() or not any(out.iterdir())
    assert temp_files(workspace) == []


# -- defect 9: errors that say what happened ------------------------------------------------


def test_local_permission_errors_speak_of_permissions(tmp_path: Path, make_image: Any) -> None:
    image = tmp_path / "img.zarr"
    make_image(image, shape=(16, 32, 32), levels=1, chunks=16)
    chunk = next(p for p in (image / "0").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.chmod(0)
    proc = run("convert", image, tmp_path / "out.zarr", "-q", unprivileged=True)
    assert proc.returncode == 1
    assert f"cannot read {chunk}: permission denied" in proc.stderr, proc.stderr
    assert "HTTP" not in proc.stderr and "corrupt" not in proc.stderr
    (image / "zarr.json").chmod(0)
    proc = run("info", image, unprivileged=True)
    assert proc.returncode == 1 and "permission denied" in proc.stderr, proc.stderr
    assert "HTTP" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_slice_without_read_permission_is_not_corrupt(tmp_path: Path) -> None:
    write_stack(tmp_path / "stack")
    (tmp_path / "stack" / "00003.tif").chmod(0)
    proc = run("convert", tmp_path / "stack", tmp_path / "out.zarr", unprivileged=True)
    assert proc.returncode == 1
    assert "00003.tif (z=3): permission denied" in proc.stderr, proc.stderr
    assert "corrupt" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["folder", "broken symbolic link"])
def test_a_folder_or_broken_link_named_like_a_slice_is_not_a_gap(kind: str, tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    write_stack(stack)
    (stack / "00003.tif").unlink()
    if kind == "folder":
        (stack / "00003.tif").mkdir()
    else:
        (stack / "00003.tif").symlink_to(tmp_path / "gone.tif")
    code, _out, err = cli("convert", stack, tmp_path / "out.zarr")
    assert code == 1
    assert f"00003.tif is named like slice 3 but is a {kind}" in err, err
    assert "missing 3" not in err


@pytest.mark.parametrize(
    "command", [["downsample", "--levels", "3"], ["compress", "--compression", "gzip:1"]]
)
def test_a_full_disk_is_not_unwritable(command: list[str], tmp_path: Path, make_image: Any) -> None:
    with tmpfs(tmp_path / "small", "2m") as small:
        image = small / "img.zarr"
        make_image(image, shape=(32, 64, 64), levels=2, chunks=16)
        filler = small / "filler"
        with open(filler, "wb", buffering=0) as f:  # the rest of the disk fills up
            try:
                while True:
                    f.write(b"\1" * 4096)
            except OSError:
                pass
        before = tree_digest(image)
        code, _out, err = cli(command[0], image, *command[1:], "-q")
        assert code == 1 and "no space left on the device" in err, err
        assert "not writable" not in err and "Traceback" not in err
        filler.unlink()
        assert temp_files(small) == []
        assert cli("validate", image)[0] == 0
        if command[0] == "compress":
            assert tree_digest(image, skip=[".ngffkit-compress"]) == before


# -- defect 10: no traceback, ever; interrupts say how to continue ---------------------------


@pytest.mark.parametrize("case", ["unreadable input folder", "output under a closed folder"])
def test_permission_mistakes_show_no_traceback(case: str, tmp_path: Path) -> None:
    write_stack(tmp_path / "stack")
    closed = tmp_path / "closed"
    closed.mkdir()
    if case == "unreadable input folder":
        (tmp_path / "stack").chmod(0)
        args: list[Any] = ["convert", tmp_path / "stack", tmp_path / "out.zarr"]
    else:
        closed.chmod(0)
        args = ["convert", tmp_path / "stack", closed / "out.zarr"]
    try:
        proc = run(*args, unprivileged=True)
    finally:
        (tmp_path / "stack").chmod(0o755)
        closed.chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert "permission denied" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert str(args[1] if case.startswith("unreadable") else closed) in proc.stderr


def test_ctrl_c_during_start_up_is_just_an_interrupt(tmp_path: Path) -> None:
    write_stack(tmp_path / "stack")
    interrupted = 0
    for i, delay in enumerate((0.15, 0.25, 0.35, 0.5, 0.7)):
        proc = ngff("convert", str(tmp_path / "stack"), str(tmp_path / f"o{i}.zarr"), "-q")
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and "ImportError" not in err, (delay, err)
        # 0: finished first; 130: interrupted; -SIGINT: the signal landed while the
        # interpreter was shutting down (its handlers already restored), which a shell
        # reports as 130 too
        assert proc.returncode in (0, 130, -signal.SIGINT), (delay, proc.returncode, err)
        interrupted += proc.returncode == 130
    assert interrupted, "every run finished before the signal; interrupt earlier"


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_conversion_says_how_to_resume(
    sig: int, status: int, tmp_path: Path
) -> None:
    stack, out = tmp_path / "stack", tmp_path / "out.zarr"
    data = write_stack(stack, depth=64, shape=(128, 128))
    proc = ngff("convert", str(stack), str(out), *SLOW, "--overwrite", "-q")
    assert wait_for_journal(out, proc=proc)
    proc.send_signal(sig)
    _o, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert f"{out} is partial" in err, err
    assert not (out / ".ngffkit-lock.json").exists()  # released on the way out
    command = re.search(r"^  (ngff convert .*)$", err, re.M)
    assert command is not None, err
    argv = command.group(1).split()
    assert "--resume" in argv and "--overwrite" not in argv
    resumed = ngff(*argv[1:])
    _o, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    np.testing.assert_array_equal(open_image(out).levels[0].read(), data)


# -- frictions --------------------------------------------------------------------------------


def test_quiet_keeps_the_summary_on_stdout(tmp_path: Path) -> None:
    write_stack(tmp_path / "stack")
    out = tmp_path / "out.zarr"
    code, stdout, err = cli("convert", tmp_path / "stack", out, "-q", "--levels", "2")
    assert code == 0 and stdout.startswith("done: "), (stdout, err)
    code, stdout, err = cli("downsample", out, "--levels", "3", "-q")
    assert code == 0 and stdout.startswith("done: "), (stdout, err)
    code, stdout, err = cli("compress", out, "--compression", "gzip:1", "-q")
    assert code == 0 and stdout.startswith("done: "), (stdout, err)
    # Nothing to do: said once, and no "done:" line.
    code, stdout, err = cli("compress", out, "--compression", "gzip:1")
    assert code == 0 and "nothing to do" in err and "done:" not in stdout + err


def test_no_tifffile_log_lines_before_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + (10**9).to_bytes(4, "little") + b"\0" * 8)
    code, _out, err = cli("convert", bad, tmp_path / "out.zarr")
    assert code == 1
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "<tifffile" not in err and "invalid offset" not in err


def test_serve_on_all_interfaces_prints_reachable_urls(tmp_path: Path, make_image: Any) -> None:
    make_image(tmp_path / "img.zarr", shape=(8, 16, 16), levels=1, chunks=8)
    proc = ngff("serve", str(tmp_path / "img.zarr"), "--bind", "0.0.0.0", "--port", "0")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        sources = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    match = re.search(r"at http://([^:/]+):(\d+)/", first)
    assert match is not None, first
    assert match.group(1) not in ("0.0.0.0", "127.0.0.1", "localhost"), first
    assert not any("0.0.0.0" in line for line in sources), sources
    # The address printed is one of this machine's (only those can be bound; no traffic).
    with socket.socket() as probe:
        probe.bind((match.group(1), 0))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_loopback_connection_fails_without_retrying() -> None:
    port = _closed_port()
    code, _out, err = cli("info", f"http://127.0.0.1:{port}/data.zarr")
    assert code == 1 and f"connection was refused (nothing listens on 127.0.0.1:{port})" in err, err
    assert "after retrying" not in err


def test_a_scheduler_that_never_answers_fails_at_once(tmp_path: Path) -> None:
    write_stack(tmp_path / "stack")
    port = _closed_port()
    code, _out, err = cli(
        "convert",
        tmp_path / "stack",
        tmp_path / "out.zarr",
        "--scheduler",
        f"tcp://127.0.0.1:{port}",
    )
    assert code == 1 and f"nothing listens on 127.0.0.1:{port}" in err, err
    assert not (tmp_path / "out.zarr").exists()

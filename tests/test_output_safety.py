"""What a writing command may do to OUTPUT: the --overwrite rule, the writer's lock, a full disk.

Issue 12, defects 1 (``--overwrite`` deleted whatever OUTPUT named), 4 (two writers on one
OUTPUT) and 8 (a full disk at the first write left a state neither a rerun nor --resume
could leave, and a temp file).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _support import cli, src_env
from ngffkit.image import open_image
from ngffkit.markers import LOCK
from run_helpers import kill_when_journalled, ngff, tree_digest, wait_for_journal
from safety_helpers import resize_tmpfs, temp_files, tmpfs, write_stack

# A conversion slow enough to be caught mid-way: many small gzip-9 shards, one worker.
SLOW = [
    "--chunks",
    "8",
    "--shards",
    "8",
    "--compression",
    "gzip:9",
    "--jobs",
    "1",
    "--levels",
    "2",
    "-q",
]


def _documents(folder: Path) -> dict[str, str]:
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.docx").write_text("years of work")
    (folder / "notes.txt").write_text("notes")
    (folder / "sub" / "data.csv").write_text("1,2,3")
    return tree_digest(folder)


# -- defect 1: --overwrite replaces only what is ours to replace --------------------------


@pytest.mark.parametrize("command", ["convert", "compress --output"])
def test_overwrite_refuses_a_folder_that_is_not_zarr(
    command: str, tmp_path: Path, make_image: Any
) -> None:
    stack, image, docs = tmp_path / "stack", tmp_path / "img.zarr", tmp_path / "docs"
    before = _documents(docs)
    if command == "convert":
        write_stack(stack)
        args = ["convert", stack, docs, "--overwrite"]
    else:
        make_image(image)
        args = ["compress", image, "--output", docs, "--overwrite"]
    code, out, err = cli(*args)
    assert code == 1, err
    assert "holds 3 files or folders that are not Zarr" in err
    assert "thesis.docx" in err and "notes.txt" in err and "sub/" in err
    assert "Traceback" not in out + err
    assert tree_digest(docs) == before
    # Without --overwrite too: nothing is written into a folder of documents (no lock file).
    args.remove("--overwrite")
    assert cli(*args)[0] == 1
    assert tree_digest(docs) == before and not (docs / LOCK).exists()


def test_overwrite_replaces_zarr_and_our_own_partial_output(
    tmp_path: Path, make_image: Any
) -> None:
    stack = tmp_path / "stack"
    data = write_stack(stack)
    zarr = tmp_path / "other.zarr"
    make_image(zarr)  # a finished OME-Zarr (another run's)
    code, _out, err = cli("convert", stack, zarr, "--overwrite", "-q")
    assert code == 0, err
    np.testing.assert_array_equal(open_image(zarr).levels[0].read(), data)
    # Our own unfinished output (a killed run: partial marker, journal, no group metadata).
    partial = tmp_path / "partial.zarr"
    make_image(partial, finish=False)
    assert (partial / ".ngffkit-partial.json").exists() and not (partial / "zarr.json").exists()
    code, _out, err = cli("convert", stack, partial, "--overwrite", "-q")
    assert code == 0, err


def test_overwrite_never_follows_a_link_out_of_output(tmp_path: Path, make_image: Any) -> None:
    stack, out, outside = tmp_path / "stack", tmp_path / "out.zarr", tmp_path / "outside"
    write_stack(stack)
    make_image(out)
    before = _documents(outside)
    (out / "link").symlink_to(outside, target_is_directory=True)
    (out / "0" / "file-link").symlink_to(outside / "thesis.docx")
    code, _o, err = cli("convert", stack, out, "--overwrite", "-q")
    assert code == 0, err
    assert tree_digest(outside) == before
    assert not (out / "link").exists()


@pytest.mark.parametrize("where", ["current folder", "parent of the input", "inside the input"])
def test_output_that_holds_or_is_the_input_or_cwd_is_refused(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    write_stack(work / "stack")
    (work / "keep.txt").write_text("keep")
    before = tree_digest(tmp_path)
    if where == "current folder":
        (work / "empty" / "inner").mkdir(parents=True)
        monkeypatch.chdir(work / "empty" / "inner")
        code, out, err = cli("convert", work / "stack", ".")
        assert code == 1 and "is the current folder" in err, err
        code, out, err = cli("convert", work / "stack", "..", "--overwrite")
        assert code == 1 and "holds the current folder" in err, err
        args, culprit = ["convert", work / "stack", ".", "--overwrite"], "is the current folder"
    elif where == "parent of the input":
        args, culprit = ["convert", work / "stack", work, "--overwrite"], "overlaps"
    else:
        args, culprit = ["convert", work / "stack", work / "stack" / "o.zarr"], "overlaps"
    code, out, err = cli(*args)
    assert code == 1 and culprit in err, err
    assert "Traceback" not in out + err
    assert tree_digest(tmp_path) == before


def test_downsample_rebuild_refuses_a_folder_that_is_not_zarr(
    tmp_path: Path, make_image: Any
) -> None:
    image = tmp_path / "img.zarr"
    make_image(image, shape=(32, 64, 64), levels=2, chunks=8)
    docs = image / "2"  # where the new level 2 would go
    before = _documents(docs)
    code, out, err = cli("downsample", image, "--levels", "3", "--rebuild", "-q")
    assert code == 1, err
    assert "not Zarr" in err and "thesis.docx" in err and "Traceback" not in out + err
    assert tree_digest(docs) == before
    assert len(open_image(image).levels) == 2


# -- defect 4: one writer per output -------------------------------------------------------


def _lock_of(pid: int) -> dict[str, Any]:
    from ngffkit._output import _start_time
    from ngffkit.tasks import boot_id

    return {
        "tool": "ngff convert",
        "pid": pid,
        "host": socket.gethostname(),
        "token": "x",
        "started": "2026-01-01T00:00:00",
        "started_ticks": _start_time(pid),
        "boot": boot_id(),
    }


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    stack, out = tmp_path / "stack", tmp_path / "out.zarr"
    data = write_stack(stack, depth=64, shape=(128, 128))
    first = ngff("convert", str(stack), str(out), *SLOW)
    try:
        assert wait_for_journal(out, proc=first), "the first run ended before it wrote a brick"
        first.send_signal(signal.SIGSTOP)  # alive, but holding still while we try
        owner = f"another ngff (pid {first.pid} on {socket.gethostname()}) is writing"
        for extra in (["--overwrite"], ["--resume"], []):
            second = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "ngffkit",
                    "convert",
                    str(stack),
                    str(out),
                    *SLOW,
                    "--compression",
                    "zstd:1",
                    *extra,
                ],
                capture_output=True,
                text=True,
                check=False,
                env=src_env(),
            )
            assert second.returncode == 1, (extra, second.stderr)
            assert owner in second.stderr and "Traceback" not in second.stderr, second.stderr
        first.send_signal(signal.SIGCONT)
        _out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
    finally:
        first.kill()
    assert not (out / LOCK).exists()
    np.testing.assert_array_equal(open_image(out).levels[0].read(), data)
    assert cli("validate", out)[0] == 0


# The CLI runs in process here: the notice is an NgffWarning the CLI prints, expected.
@pytest.mark.filterwarnings("default:took over the lock:ngffkit.errors.NgffWarning")
def test_a_stale_lock_is_taken_over_with_a_notice(tmp_path: Path) -> None:
    stack, out = tmp_path / "stack", tmp_path / "out.zarr"
    data = write_stack(stack, depth=64, shape=(128, 128))
    first = ngff("convert", str(stack), str(out), *SLOW)
    kill_when_journalled(first, out)
    lock = json.loads((out / LOCK).read_text())
    assert lock["pid"] == first.pid
    code, _out, err = cli("convert", stack, out, *SLOW, "--resume")
    assert code == 0, err
    assert f"took over the lock of an ngff run that no longer runs (pid {first.pid}" in err
    assert not (out / LOCK).exists()
    np.testing.assert_array_equal(open_image(out).levels[0].read(), data)


@pytest.mark.parametrize(
    "command",
    [
        ["downsample", "--levels", "3", "--rebuild"],
        ["compress", "--compression", "gzip:1"],
        ["compress", "--output", "{out}"],
    ],
)
def test_in_place_commands_respect_a_live_lock(
    command: list[str], tmp_path: Path, make_image: Any
) -> None:
    image, out = tmp_path / "img.zarr", tmp_path / "copy.zarr"
    make_image(image, shape=(32, 64, 64), levels=2, chunks=8)
    holder = subprocess.Popen(["sleep", "60"])  # another live process on this host
    try:
        locked = out if "--output" in command else image
        locked.mkdir(exist_ok=True)
        (locked / LOCK).write_text(json.dumps(_lock_of(holder.pid)))
        before = tree_digest(tmp_path)
        args = [a.replace("{out}", str(out)) for a in command]
        code, _o, err = cli(args[0], image, *args[1:], "-q")
        assert code == 1, err
        assert f"another ngff (pid {holder.pid} on {socket.gethostname()}) is writing" in err
        assert tree_digest(tmp_path) == before
    finally:
        holder.kill()
        holder.wait()


def test_readers_ignore_a_left_over_lock(tmp_path: Path, make_image: Any) -> None:
    image = tmp_path / "img.zarr"
    make_image(image)
    code, clean, _e = cli("validate", image)
    assert code == 0
    (image / LOCK).write_text(json.dumps(_lock_of(2**22 + 12345)))
    code, with_lock, err = cli("validate", image)
    assert code == 0 and with_lock == clean, err
    assert cli("info", image)[0] == 0


# -- defect 8: a full disk at the first write ----------------------------------------------


@pytest.mark.parametrize("size", ["4k", "8k", "16k"])
def test_full_disk_at_the_first_write_leads_somewhere(size: str, tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    data = write_stack(stack, depth=16, shape=(64, 64))
    with tmpfs(tmp_path / "small", size) as small:
        out = small / "out.zarr"
        args = ["convert", stack, out, "--chunks", "16", "--levels", "2", "-q"]
        code, _o, err = cli(*args)
        assert code == 1 and "no space left on the device" in err, err
        assert "not writable" not in err and "Traceback" not in err
        assert temp_files(small) == []
        assert not (out / LOCK).exists()
        # A plain rerun either starts again (nothing was written) or sends to --resume...
        code, _o, err = cli(*args)
        assert code == 1 and ("no space left" in err or "--resume" in err), err
        # ...and --resume never sends back to a plain run.
        code, _o, err = cli(*args, "--resume")
        assert code == 1 and "no space left" in err, err
        assert "run without --resume" not in err
        assert temp_files(small) == []
        resize_tmpfs(small, "8m")  # the user frees space
        code, _o, err = cli(*args, "--resume")
        assert code == 0, err
        np.testing.assert_array_equal(open_image(out).levels[0].read(), data)
        assert temp_files(small) == [] and not (out / LOCK).exists()

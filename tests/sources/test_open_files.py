"""The descriptors a TIFF folder keeps open between its reads (sources._fileread.OpenFiles)."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

import ngffkit.sources._fileread as fileread
from ngffkit.sources import open_source
from ngffkit.sources._fileread import OpenFiles

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def bound(monkeypatch: pytest.MonkeyPatch, most: int) -> None:
    """Keep at most ``most`` idle descriptors in this process (over every source)."""
    monkeypatch.setattr(fileread, "most_idle", lambda: most)


def fd_targets() -> list[str]:
    """What each of this process's descriptors points at."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
    return found


def open_fds() -> set[str]:
    return set(fd_targets())


def files(tmp_path: Path, n: int) -> list[Path]:
    paths = [tmp_path / f"f{i}" for i in range(n)]
    for i, p in enumerate(paths):
        p.write_bytes(bytes([i]) * (10 + i))
    return paths


def test_a_file_is_opened_once_and_its_size_read_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = files(tmp_path, 1)
    bound(monkeypatch, 4)
    cache = OpenFiles()
    with cache.open(a) as (fd, size):
        assert size == 10 and os.pread(fd, 3, 0) == b"\0\0\0"
    with cache.open(a) as (again, _):
        assert again == fd
    assert str(a) in open_fds()
    cache.close()
    assert str(a) not in open_fds()


def test_idle_ones_beyond_the_bound_close_least_recently_used_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = files(tmp_path, 3)
    bound(monkeypatch, 2)
    cache = OpenFiles()
    for p in (a, b, a, c):  # a was used after b: b is the least recently used
        with cache.open(p):
            pass
    assert {str(a), str(c)} <= open_fds() and str(b) not in open_fds()
    cache.close()


def test_one_in_use_is_never_closed_under_its_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = files(tmp_path, 3)
    bound(monkeypatch, 1)
    cache = OpenFiles()
    with cache.open(a) as (fd, _):
        for p in (b, c):  # over the bound while a is in use: the idle ones go
            with cache.open(p):
                pass
        cache.close()  # a is still in use: closed when its user is done
        assert os.pread(fd, 2, 0) == b"\0\0"
        assert str(a) in open_fds()
    assert not {str(a), str(b), str(c)} & open_fds()


def test_threads_share_a_descriptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = files(tmp_path, 8)
    bound(monkeypatch, 4)
    cache = OpenFiles()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(200):
                p = paths[(i * 3 + k) % len(paths)]
                with cache.open(p) as (fd, size):
                    assert os.pread(fd, size, 0) == p.read_bytes()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({str(p) for p in paths} & open_fds()) <= 4
    cache.close()
    assert not {str(p) for p in paths} & open_fds()


def test_a_cache_nobody_closes_closes_when_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = files(tmp_path, 1)
    bound(monkeypatch, 4)
    cache = OpenFiles()
    with cache.open(a):
        pass
    del cache
    gc.collect()
    assert str(a) not in open_fds()


def test_a_tiff_folder_opens_each_slice_once_over_many_reads(tmp_path: Path) -> None:
    folder = tmp_path / "stack"
    folder.mkdir()
    data = np.arange(6 * 40 * 50, dtype=np.uint16).reshape(6, 40, 50)
    for z in range(6):
        tifffile.imwrite(folder / f"z{z:02d}.tif", data[z])
    slices = {str(folder / f"z{z:02d}.tif") for z in range(6)}
    source = open_source(folder)
    got = [source.read((slice(0, 6), slice(y, y + 10), slice(0, 50))) for y in range(0, 40, 10)]
    got += [source.read((slice(0, 6), slice(0, 40), slice(0, 20)))]  # a narrow window: mapped
    np.testing.assert_array_equal(np.concatenate(got[:4], axis=1), data)
    np.testing.assert_array_equal(got[4], data[:, :, :20])
    assert sorted(t for t in fd_targets() if t in slices) == sorted(slices)  # each open once
    source.close()
    assert not slices & open_fds()


def test_the_bound_holds_over_every_source_of_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pattern folder opens one source per (t, c): their open slices share one bound.
    bound(monkeypatch, 3)
    paths = files(tmp_path, 6)
    sources = [OpenFiles() for _ in range(3)]
    for cache, pair in zip(sources, (paths[0:2], paths[2:4], paths[4:6]), strict=True):
        for p in pair:
            with cache.open(p):
                pass
    still = {str(p) for p in paths} & open_fds()
    assert still == {str(p) for p in paths[3:]}  # the three used last
    for cache in sources:
        cache.close()
    assert not {str(p) for p in paths} & open_fds()

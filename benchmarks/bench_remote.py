"""Remote reads over loopback HTTP: ngffkit against zarr-python 3 (fsspec) and tensorstore.

A sharded OME-Zarr 0.5 image (uint16, 512³ by default, 64³ chunks in 256³ shards, zstd) is
written to a temporary folder and served by ``ngff serve`` in its own process. Each reader,
starting cold (fresh process state for its handles, empty caches), does:

- 100 reads of a 64³ box at random, unaligned offsets (the same offsets for every reader),
  each checked against the data written: latency p50 / p90 / p99 and MB/s;
- one read of the whole 512³ level: seconds and MB/s (median of ``--repeat`` cold reads).

The server is warmed first with one untimed whole read.

Readers:
  ngffkit       ngffkit.open(url).levels[0].read(...)   (256 MiB chunk cache, the default)
  tensorstore   ts.open({"driver": "zarr3", "kvstore": "http://..."}) with a default context
  zarr-python   zarr.open_array("http://...") through fsspec's HTTPFileSystem (aiohttp)

Usage:  python benchmarks/bench_remote.py [--size 512] [--reads 100] [--readers ...]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

Reader = Callable[[tuple[int, ...], tuple[int, ...]], np.ndarray]


def make_image(root: Path, size: int) -> np.ndarray:
    from ngffkit.spec import pyramid_spec
    from ngffkit.writer import create_image, finish_image

    z, y, x = np.ogrid[:size, :size, :size]
    # Smooth structure plus noise: compresses like real data, not like zeros.
    data: np.ndarray = (z * 7 + y * 3 + x) % 4096
    data = (data + np.random.default_rng(0).integers(0, 64, (size,) * 3)).astype(np.uint16)
    spec = pyramid_spec(
        (size,) * 3,
        "uint16",
        axes="zyx",
        voxel_size=1.0,
        unit="micrometer",
        levels=1,
        chunks=64,
        shards=256,
        version="0.5",
        name="bench",
    )
    image = create_image(root / "bench.ome.zarr", spec)
    image.levels[0].write(data)
    finish_image(root / "bench.ome.zarr", spec)
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ngffkit", "serve", str(root), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/bench.ome.zarr/zarr.json", timeout=2).close()
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("ngff serve did not start") from None
            time.sleep(0.2)


def ngffkit_reader(url: str) -> Reader:
    import ngffkit
    from ngffkit import storage

    storage.configure(None)  # new contexts: an empty chunk cache for each cold start
    level = ngffkit.open(f"{url}/bench.ome.zarr").levels[0]
    return lambda off, size: level.read(off, size)


def tensorstore_reader(url: str) -> Reader:
    import tensorstore as ts

    store = ts.open(
        {"driver": "zarr3", "kvstore": f"{url}/bench.ome.zarr/0/"}, read=True, context=ts.Context()
    ).result()

    def read(off: tuple[int, ...], size: tuple[int, ...]) -> np.ndarray:
        box = tuple(slice(o, o + s) for o, s in zip(off, size, strict=True))
        return np.asarray(store[box].read().result())

    return read


def zarr_reader(url: str) -> Reader:
    import zarr

    array = zarr.open_array(f"{url}/bench.ome.zarr/0", mode="r")

    def read(off: tuple[int, ...], size: tuple[int, ...]) -> np.ndarray:
        box = tuple(slice(o, o + s) for o, s in zip(off, size, strict=True))
        return np.asarray(array[box])

    return read


READERS: dict[str, Callable[[str], Reader]] = {
    "ngffkit": ngffkit_reader,
    "tensorstore": tensorstore_reader,
    "zarr-python": zarr_reader,
}


def run(name: str, url: str, data: np.ndarray, reads: int, repeat: int) -> dict[str, Any]:
    size = data.shape[0]
    rng = np.random.default_rng(1)
    offsets = [tuple(int(v) for v in rng.integers(0, size - 64, 3)) for _ in range(reads)]
    read = READERS[name](url)
    latencies = []
    for off in offsets:
        started = time.perf_counter()
        box = read(off, (64, 64, 64))
        latencies.append(time.perf_counter() - started)
        expected = data[tuple(slice(o, o + 64) for o in off)]
        if not np.array_equal(box, expected):
            raise AssertionError(f"{name}: wrong data at {off}")
    bigs = []
    for _ in range(repeat):
        read = READERS[name](url)  # cold again for each big read
        started = time.perf_counter()
        whole = read((0, 0, 0), data.shape)
        bigs.append(time.perf_counter() - started)
        if not np.array_equal(whole, data):
            raise AssertionError(f"{name}: wrong data in the whole read")
        del whole
    big = statistics.median(bigs)
    small_bytes = reads * 64**3 * data.itemsize
    ms = sorted(1000 * t for t in latencies)
    return {
        "reader": name,
        "p50": statistics.median(ms),
        "p90": ms[int(0.9 * (len(ms) - 1))],
        "p99": ms[int(0.99 * (len(ms) - 1))],
        "small_mbs": small_bytes / 1e6 / sum(latencies),
        "big_s": big,
        "big_mbs": data.nbytes / 1e6 / big,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--repeat", type=int, default=3, help="whole reads per reader (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        root = Path(tmp)
        data = make_image(root, args.size)
        proc, url = start_server(root)
        try:
            # Warm the server (its page cache and code paths) so the first reader pays no extra.
            tensorstore_reader(url)((0, 0, 0), data.shape)
            names = args.readers.split(",")
            rows = [run(name, url, data, args.reads, args.repeat) for name in names]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(
        f"{args.reads} random 64³ reads and one {args.size}³ read (median of {args.repeat}), "
        f"uint16, 64³ chunks in 256³ shards, ngff serve on 127.0.0.1; load average "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    print("| reader | 64³ p50 ms | p90 ms | p99 ms | 64³ MB/s | whole s | whole MB/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['reader']} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | "
            f"{r['small_mbs']:.0f} | {r['big_s']:.2f} | {r['big_mbs']:.0f} |"
        )


if __name__ == "__main__":
    main()

"""Compressed scroll slices against their ``ngff decompress-tiffs`` copies, and convert over HTTP.

Writes a masked-scroll-like stack (uint16 slices: a noisy disc with zeros around it, as in
``volumes_masked``), compressed with zlib and with LZW, then measures in one run:

1. **read speed** of whole slices, warm page cache (so decoding, not the disk, is
   measured), best of ``--repeat``: tifffile.imread of each slice, and ngffkit's slice reader
   (``open_source(folder).read(...)``), for zlib, LZW and the decompressed copy;
2. **decompress throughput**: ``decompress_tiffs`` with 1 and 2 jobs (MB/s of decoded
   pixels written, pixel check included) against scroll2zarr's method (Pillow open + save
   with ``compression=None``, one file at a time; no check), on the zlib stack;
3. **convert over HTTP**: ``ngff convert`` of the plain stack from a local folder and
   from ``python -m http.server`` / ``ngff serve --listing`` on 127.0.0.1 (seconds, ratio).

Usage:  python benchmarks/bench_decompress_tiffs.py [--slices 16] [--size 2048] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def make_stack(root: Path, slices: int, size: int) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    yy, xx = np.ogrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.45 * size) ** 2
    folders = {k: root / k for k in ("zlib", "lzw")}
    for f in folders.values():
        f.mkdir()
    for z in range(slices):
        plane = 20000 + 8000 * np.sin((xx + z) / 40.0) + rng.normal(0, 2000, (size, size))
        plane = np.where(disc, plane, 0).clip(0, 65535).astype(np.uint16)
        tifffile.imwrite(
            folders["zlib"] / f"{z:05d}.tif", plane, compression="zlib", rowsperstrip=64
        )
        tifffile.imwrite(folders["lzw"] / f"{z:05d}.tif", plane, compression="lzw", rowsperstrip=64)
    return folders


def read_all(files: list[Path]) -> list[np.ndarray]:
    return [tifffile.imread(f) for f in files]


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def read_speeds(folders: dict[str, Path], repeat: int) -> None:
    from ngffkit.sources import open_source

    print("\n## Whole-slice reads, warm page cache (best of", repeat, ")\n")
    print(
        "| stack | bytes on disk | tifffile.imread MB/s | ngffkit source MB/s | "
        "slowdown vs plain (tifffile / ngffkit) |"
    )
    print("|---|---|---|---|---|")
    plain_speed: dict[str, float] = {}
    rows = []
    for name in ("plain", "zlib", "lzw"):
        folder = folders[name]
        files = sorted(folder.glob("*.tif"))
        for f in files:
            f.read_bytes()  # warm the page cache
        nbytes = sum(tifffile.TiffFile(f).pages.first.nbytes for f in files)
        t_tf = best(functools.partial(read_all, files), repeat)
        src = open_source(folder)
        box = tuple(slice(0, n) for n in src.shape)
        t_ng = best(functools.partial(src.read, box), repeat)
        speeds = (nbytes / t_tf / 1e6, nbytes / t_ng / 1e6)
        if name == "plain":
            plain_speed = {"tf": speeds[0], "ng": speeds[1]}
        disk = sum(f.stat().st_size for f in files)
        rows.append((name, disk, speeds))
    for name, disk, (tf, ng) in rows:
        print(
            f"| {name} | {disk / 1e6:.1f} MB | {tf:.0f} | {ng:.0f} | "
            f"{plain_speed['tf'] / tf:.1f}× / {plain_speed['ng'] / ng:.1f}× |"
        )


def pillow_decompress(src: Path, dst: Path) -> None:
    """scroll2zarr's decompress_tiffs.py method: Pillow open, save uncompressed."""
    from PIL import Image

    dst.mkdir()
    for f in sorted(src.glob("*.tif")):
        with Image.open(f) as im:
            im.save(dst / f.name, compression=None)


def decompress_speeds(folders: dict[str, Path], root: Path, repeat: int) -> None:
    from ngffkit.tiffs import decompress_tiffs

    files = sorted(folders["zlib"].glob("*.tif"))
    pixels = sum(tifffile.TiffFile(f).pages.first.nbytes for f in files)
    print("\n## Decompressing the zlib stack (best of", repeat, ")\n")
    print("| method | s | MB/s (decoded) | vs Pillow |")
    print("|---|---|---|---|")
    results = []

    def pillow() -> None:
        out = root / "pillow"
        shutil.rmtree(out, ignore_errors=True)
        pillow_decompress(folders["zlib"], out)

    results.append(
        ("scroll2zarr method (Pillow, 1 file at a time, no check)", best(pillow, repeat))
    )
    for jobs in (1, 2):

        def ours(jobs: int = jobs) -> None:
            decompress_tiffs(folders["zlib"], root / f"ours{jobs}", jobs=jobs, overwrite=True)

        results.append(
            (f"ngff decompress-tiffs --jobs {jobs} (pixel check included)", best(ours, repeat))
        )
    base = results[0][1]
    for name, seconds in results:
        print(f"| {name} | {seconds:.2f} | {pixels / seconds / 1e6:.0f} | {base / seconds:.2f}× |")
    for jobs in (1, 2):
        for f in files:
            a = tifffile.imread(f)
            assert np.array_equal(a, tifffile.imread(root / f"ours{jobs}" / f.name))


def convert_over_http(plain: Path, root: Path) -> None:
    from ngffkit.serve import FileBackend, create_app, start_server

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    port_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(plain.parent),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert port_proc.stdout is not None
    line = port_proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
    port = int(line.split(" port ")[1].split()[0])
    ranged = start_server(create_app(FileBackend(plain.parent), listing=True), "127.0.0.1", 0)
    sources = {
        "local folder": str(plain),
        "python -m http.server (no Range: whole files)": f"http://127.0.0.1:{port}/plain/",
        "ngff serve --listing (Range: header + rows per brick)": f"{ranged.url}/plain/",
    }
    print("\n## ngff convert of the plain stack (one run each)\n")
    print("| input | s | vs local | output identical |")
    print("|---|---|---|---|")
    digests: dict[str, dict[str, bytes]] = {}
    base = None
    try:
        for name, url in sources.items():
            out = root / f"conv-{len(digests)}" / "img.ome.zarr"
            out.parent.mkdir()
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "ngffkit", "convert", url, str(out), "-q"],
                env=env,
                check=True,
                capture_output=True,
            )
            seconds = time.perf_counter() - t
            base = base or seconds
            digests[name] = {
                p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
            }
            same = digests[name] == digests["local folder"]
            print(f"| {name} | {seconds:.2f} | {seconds / base:.2f}× | {same} |")
    finally:
        port_proc.terminate()
        ranged.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=16)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-decompress-") as tmp:
        root = Path(tmp)
        folders = make_stack(root, args.slices, args.size)
        from ngffkit.tiffs import decompress_tiffs

        decompress_tiffs(folders["zlib"], root / "plain")
        folders["plain"] = root / "plain"
        mb = args.slices * args.size**2 * 2 / 1e6
        print(f"# {args.slices} uint16 slices of {args.size}², {mb:.0f} MB decoded")
        read_speeds(folders, args.repeat)
        decompress_speeds(folders, root, args.repeat)
        convert_over_http(folders["plain"], root)


if __name__ == "__main__":
    main()

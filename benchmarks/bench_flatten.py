"""``ngff flatten`` on a realistic segment, local and over HTTP, against a numpy reference.

    python benchmarks/bench_flatten.py                         # 4000 x 3000 px, 65 layers
    python benchmarks/bench_flatten.py --width 2000 --height 1500 --pixel 1.0

Data (written untimed into a temporary folder, or ``--data DIR`` to keep and reuse it):

* a scroll-like volume: OME-Zarr 0.4, uint16, 128³ chunks, blosc-zstd, (1536, 576, 576)
  voxels (about 1 GiB): papyrus sheets wound as an Archimedean spiral around the z axis,
  with noise;
* a ``.ppm`` segment on one of the sheets: rows run along z, columns along the spiral,
  ``--pixel`` voxels apart (0.5 for the 4000 x 3000 default, as ``vc_render_tifxyz --scale 2``
  renders; 1.0 is one pixel per voxel), normals pointing out of the scroll.

Runs (each a fresh process; wall time; peak RSS of the process tree sampled by
``measure.run_measured``):

* ``ngffkit local``: ``ngff flatten SEG.ppm VOL OUT`` (65 layers, TIFFs, --jobs 2);
* ``ngffkit http``: the same with SEG and VOL served over HTTP on 127.0.0.1 by a threaded
  static server with Range support (in this script; it counts the bytes sent);
* ``numpy reference``: the straightforward way (as scroll2zarr's ``ppm_to_layers``): the
  whole ``.ppm`` and every layer in memory, 100 x 100 px blocks sorted by depth, each block's
  voxel box read through ``ngffkit.open`` and sampled by ``sample_reference`` (the plain
  numpy trilinear sampler), then one TIFF per layer. Its layers are checked equal to ours.

scroll2zarr itself is not on PyPI, so it is not run here (the issue's anchor: 7.65
MP-layers/s for 2,000 x 1,500 px on these machines). Reported: MP-layers/s (layers x
megapixels / wall second), MP-layers per CPU second (user + sys: steadier than wall time
on a shared machine), volume MB read (decoded bytes of the boxes read; over HTTP also
the bytes the server sent), peak memory, and the load average the run saw.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

SHAPE = (1536, 576, 576)
CENTRE = (288.0, 288.0)
PITCH = 40.0  # voxels between turns of the spiral
R0 = 40.0

REFERENCE = r"""
import sys, time, json, numpy as np, tifffile
sys.path.insert(0, sys.argv[4])
import ngffkit
from ngffkit.surfaces.sampling import LevelMap, layer_offsets, sample_bounds, sample_reference
ppm, vol, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
raw = open(ppm, "rb").read()
head = raw.index(b"<>\n") + 3
meta = dict(l.split(": ") for l in raw[:head - 4].decode().split("\n") if ": " in l)
h, w = int(meta["height"]), int(meta["width"])
rec = np.frombuffer(raw, "<f8", offset=head).reshape(h, w, 6)
pts = rec[..., :3].copy(); nrm = rec[..., 3:].copy()
ln = np.linalg.norm(nrm, axis=-1); valid = ln > 0
nrm[valid] /= ln[valid][:, None]
level = ngffkit.open(vol).levels[0]
offsets = layer_offsets(65, 1.0)
layers = np.zeros((65, h, w), level.dtype)
blocks = []
for r in range(0, h, 100):
    for c in range(0, w, 100):
        v = valid[r:r+100, c:c+100]
        if v.any():
            blocks.append((float(pts[r:r+100, c:c+100, 2][v].mean()), r, c))
read = 0
for _, r, c in sorted(blocks):
    p, n, v = pts[r:r+100, c:c+100], nrm[r:r+100, c:c+100], valid[r:r+100, c:c+100]
    box = sample_bounds(p, n, v, offsets, LevelMap(), level.shape)
    if box is None:
        continue
    block = level.read_region(tuple(slice(a, b) for a, b in box))
    read += block.nbytes
    layers[:, r:r+100, c:c+100] = sample_reference(block, (box[0][0], box[1][0], box[2][0]),
        level.shape, p, n, v, offsets, LevelMap())
for i, layer in enumerate(layers):
    tifffile.imwrite(f"{out}/{i:02d}.tif", layer)
print(json.dumps({"read": read, "seconds": time.perf_counter() - t0}))
"""


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges, read by seeking (a 576 MB .ppm is not read
    whole for each row), counting the bytes sent."""

    protocol_version = "HTTP/1.1"
    sent = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path.split("?", 1)[0]))
        if not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = path.stat().st_size
        start, stop, status = 0, size, 200
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and "," not in wanted:
            a, _, b = wanted[6:].partition("-")
            start = int(a) if a else max(0, size - int(b))
            stop = min(int(b) + 1, size) if a and b else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        with path.open("rb") as f:
            f.seek(start)
            body = f.read(stop - start)
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with _RangeHandler.lock:
            _RangeHandler.sent += len(body)


def serve(root: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_RangeHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_volume(path: Path) -> None:
    from ngffkit.spec import pyramid_spec
    from ngffkit.writer import create_image, finish_image

    spec = pyramid_spec(
        SHAPE,
        "uint16",
        voxel_size=7.91,
        unit="micrometer",
        levels=1,
        chunks=128,
        compression="blosc-zstd:3",
        version="0.4",
    )
    image = create_image(path, spec)
    rng = np.random.default_rng(0)
    y, x = np.meshgrid(
        np.arange(SHAPE[1]) - CENTRE[0], np.arange(SHAPE[2]) - CENTRE[1], indexing="ij"
    )
    radius = np.hypot(x, y)
    theta = np.arctan2(y, x) % (2 * np.pi)
    # Distance to the nearest turn of r = R0 + PITCH * (theta / 2pi + k).
    phase = (radius - R0 - PITCH * theta / (2 * np.pi)) % PITCH
    dist = np.minimum(phase, PITCH - phase)
    sheet = (np.exp(-((dist / 3.0) ** 2)) * 30000 + 8000) * (radius < 270)
    for z0 in range(0, SHAPE[0], 128):
        slab = np.empty((min(128, SHAPE[0] - z0), *SHAPE[1:]), np.uint16)
        for k in range(slab.shape[0]):
            wobble = 1500 * np.sin((z0 + k) / 37.0)
            slab[k] = np.clip(sheet + wobble + rng.normal(0, 2000, sheet.shape), 0, 65535)
        image.levels[0].write(slab, offset=(z0, 0, 0))
    finish_image(path, spec)


def write_segment(path: Path, width: int, height: int, pixel: float) -> None:
    """A .ppm on the spiral's third turn: rows along z, columns along the spiral."""
    turn = 2.0
    fine = np.linspace(0, 2 * np.pi * 3, 200_000)
    radius = R0 + PITCH * (turn + fine / (2 * np.pi))
    radius = np.minimum(radius, 262)
    xs, ys = CENTRE[1] + radius * np.cos(fine), CENTRE[0] + radius * np.sin(fine)
    arc = np.concatenate([[0], np.cumsum(np.hypot(np.diff(xs), np.diff(ys)))])
    s = np.arange(width) * pixel
    if s[-1] > arc[-1]:
        raise SystemExit(f"a {width} px segment at {pixel} voxel/px is longer than the spiral")
    th = np.interp(s, arc, fine)
    r = np.interp(s, arc, radius)
    px, py = CENTRE[1] + r * np.cos(th), CENTRE[0] + r * np.sin(th)
    nx, ny = np.cos(th), np.sin(th)  # outward, roughly normal to the sheet
    with path.open("wb") as f:
        f.write(
            f"width: {width}\nheight: {height}\ndim: 6\nordered: true\ntype: double\n"
            f"version: 1\n<>\n".encode()
        )
        for r0 in range(0, height, 256):
            rows = np.arange(r0, min(r0 + 256, height))
            rec = np.zeros((len(rows), width, 6))
            rec[..., 0], rec[..., 1] = px, py
            rec[..., 2] = 16 + rows[:, None] * pixel
            rec[..., 3], rec[..., 4] = nx, ny
            f.write(rec.astype("<f8").tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--pixel", type=float, default=0.5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--runs", default="local,http,numpy")
    args = ap.parse_args()
    from measure import run_measured

    tmp = Path(tempfile.mkdtemp(prefix="bench-flatten-"))
    data = args.data or tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    vol, seg = data / "scroll.ome.zarr", data / f"seg-{args.width}x{args.height}-{args.pixel}.ppm"
    if not vol.exists():
        t = time.perf_counter()
        write_volume(vol)
        print(f"volume written in {time.perf_counter() - t:.0f} s")
    if not seg.exists():
        write_segment(seg, args.width, args.height, args.pixel)
    vol_bytes = sum(p.stat().st_size for p in vol.rglob("*") if p.is_file())
    mp_layers = 65 * args.width * args.height / 1e6
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    rows: list[dict[str, Any]] = []
    server = serve(data)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for run in args.runs.split(","):
            out = tmp / f"out-{run}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            load = os.getloadavg()[0]
            if run == "numpy":
                argv = [
                    sys.executable,
                    "-c",
                    REFERENCE,
                    str(seg),
                    str(vol),
                    str(out),
                    str(ROOT / "src"),
                ]
            else:
                s, v = (
                    (str(seg), str(vol))
                    if run == "local"
                    else (f"{base}/{seg.name}", f"{base}/{vol.name}")
                )
                argv = [
                    sys.executable,
                    "-m",
                    "ngffkit",
                    "flatten",
                    s,
                    v,
                    str(out),
                    "--jobs",
                    str(args.jobs),
                    "--overwrite",
                    "-q",
                ]
                _RangeHandler.sent = 0
            res = run_measured(argv, log_path=tmp / f"{run}.log", env=env, timeout_s=3600)
            log = (tmp / f"{run}.log").read_text()
            if res.returncode != 0:
                print(log)
                raise SystemExit(f"{run} failed")
            read = (
                json.loads(log.strip().splitlines()[-1])["read"]
                if run == "numpy"
                else float(log.split("volume read ")[1].split(" MiB")[0]) * 2**20
            )
            sent = _RangeHandler.sent if run == "http" else None
            rows.append(
                {
                    "run": run,
                    "wall_s": res.wall_s,
                    "mp_layers_s": mp_layers / res.wall_s,
                    "cpu_s": res.user_s + res.sys_s,
                    "mp_layers_cpu_s": mp_layers / max(res.user_s + res.sys_s, 1e-9),
                    "read_mb": read / 1e6,
                    "http_mb": None if sent is None else sent / 1e6,
                    "peak_mib": res.peak_tree_rss_mib,
                    "load": load,
                    "load_after": os.getloadavg()[0],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        if "local" in args.runs and "numpy" in args.runs:
            import tifffile

            for i in (0, 32, 64):
                a = tifffile.imread(tmp / "out-local" / f"{i:02d}.tif")
                b = tifffile.imread(tmp / "out-numpy" / f"{i:02d}.tif")
                assert (a == b).all(), f"layer {i} differs from the numpy reference"
            print("layers 00, 32, 64 equal to the numpy reference's")
        if "local" in args.runs and "http" in args.runs:
            for i in (0, 32, 64):
                local = (tmp / "out-local" / f"{i:02d}.tif").read_bytes()
                assert local == (tmp / "out-http" / f"{i:02d}.tif").read_bytes()
            print("local and http layers byte-identical")
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\nsegment {args.width} x {args.height} px x 65 layers = {mp_layers:.0f} MP-layers; "
        f"volume {SHAPE} uint16, {vol_bytes / 2**30:.2f} GiB on disk; {os.cpu_count()} cores"
    )
    print(
        "| run | wall s | MP-layers/s | CPU s | MP-layers per CPU s | volume MB read "
        "| HTTP MB sent | peak MiB | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    numpy_row = next((r for r in rows if r["run"] == "numpy"), None)
    for r in rows:
        ratio = (
            f" ({r['mp_layers_s'] / numpy_row['mp_layers_s']:.1f}x numpy)"
            if numpy_row and r is not numpy_row
            else ""
        )
        http = f"{r['http_mb']:.0f}" if r["http_mb"] is not None else "-"
        print(
            f"| {r['run']} | {r['wall_s']:.1f} | {r['mp_layers_s']:.1f}{ratio} | "
            f"{r['cpu_s']:.1f} | {r['mp_layers_cpu_s']:.1f} | "
            f"{r['read_mb']:.0f} | {http} | {r['peak_mib']:.0f} | "
            f"{r['load']:.1f}-{r['load_after']:.1f} |"
        )


if __name__ == "__main__":
    main()

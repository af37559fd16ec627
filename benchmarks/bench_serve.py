"""Load benchmark for ``ngff serve`` against the servers people use for zarr today.

Each server runs in its own process; the load generator runs in this process: CLIENTS
concurrent keep-alive connections (a minimal asyncio HTTP/1.1 client, so that the client is
not the bottleneck) doing Range reads of random 16 KiB inner chunks of a few large files,
the access pattern of Neuroglancer on a sharded array. Every response is checked byte for
byte. Reported: requests/s, p50/p99 latency, errors, bytes moved, server RSS before, peak
during and after the run.

Servers:
  ours        ngffkit.serve (uvicorn + Starlette), h11 or httptools
  http.server Python's ThreadingHTTPServer + CORS header: the scroll tools' recipe. It has
              NO Range support: every request gets the whole file (200). It is measured as
              it is, with fewer requests, and its bytes-moved column shows the waste.
  rangehttp   RangeHTTPServer (PyPI rangehttpserver, what ``ome_zarr view`` uses) + CORS,
              on ThreadingHTTPServer.

Usage:  python benchmarks/bench_serve.py [--requests 20000] [--clients 64] [--servers ...]
A second scenario (--scenario chunks) reads whole small files (an unsharded zarr's chunk
files), where http.server is not penalised for lacking Range.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
CHUNK = 16 * 1024


# ------------------------------------------------------------------ servers (child processes)


def run_server(kind: str, root: str, port: int, http: str) -> None:
    os.chdir(root)
    if kind == "ours":
        sys.path.insert(0, str(SRC))
        from starlette.types import ASGIApp

        from ngffkit.serve import FileBackend, create_app
        from ngffkit.serve.runner import start_server

        # Variants reproduce the tuning steps: "threaded" sends every read to the thread
        # pool (no RWF_NOWAIT fast path), "raw" mounts the ASGI handler without Starlette.
        variant = os.environ.get("BENCH_VARIANT", "")
        backend = FileBackend(root, inline_reads="threaded" not in variant)
        app = create_app(backend)
        handler: ASGIApp = app.router.default if "raw" in variant else app
        handle = start_server(handler, "127.0.0.1", port, http=http)
        print("READY", flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        handle.stop()
        return
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    base: type[SimpleHTTPRequestHandler]
    if kind == "rangehttp":
        from RangeHTTPServer import RangeRequestHandler

        base = RangeRequestHandler
    else:
        base = SimpleHTTPRequestHandler

    class CORSHandler(base):  # type: ignore[valid-type,misc]
        def end_headers(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            super().end_headers()

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", port), CORSHandler)
    print("READY", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(kind: str, root: Path, http: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, str(root), str(port), "--http", http],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "READY":
        raise SystemExit(f"{kind} did not start")
    return proc, port


# ------------------------------------------------------------------ client (this process)


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    bytes_in: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def _read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, dict[bytes, bytes], bytes, bool]:
    """(status, headers, body, whether the server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    version, status_text = lines[0].split()[:2]
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    body = await reader.readexactly(length)
    connection = headers.get(b"connection", b"").lower()
    keep = connection != b"close" and (version == b"HTTP/1.1" or connection == b"keep-alive")
    return int(status_text), headers, body, keep


async def client(
    port: int, jobs: list[tuple[str, int, int]], files: dict[str, bytes], result: Result
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    for name, start, stop in jobs:
        req = (
            f"GET /{name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + (f"Range: bytes={start}-{stop - 1}\r\n" if stop else "")
            + "\r\n"
        ).encode()
        began = time.perf_counter()
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
            writer.write(req)
            status, _headers, body, keep = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        result.latencies.append(time.perf_counter() - began)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.bytes_in += len(body)
        want = files[name][start : stop or None]
        # A 200 to a Range request is the whole file (http.server): take the slice from it.
        got = body[start : stop or None] if status == 200 else body
        if status not in (200, 206) or got != want:
            result.errors += 1
        if not keep:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def make_jobs(
    files: dict[str, bytes], n: int, scenario: str, seed: int
) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    names = sorted(files)
    jobs = []
    for _ in range(n):
        name = rng.choice(names)
        if scenario == "chunks":
            jobs.append((name, 0, 0))
        else:
            start = rng.randrange(len(files[name]) // CHUNK) * CHUNK
            jobs.append((name, start, start + CHUNK))
    return jobs


def measure(
    kind: str, root: Path, files: dict[str, bytes], n: int, clients: int, scenario: str, http: str
) -> dict[str, object]:
    proc, port = start(kind, root, http)
    ps = psutil.Process(proc.pid)
    rss_before = ps.memory_info().rss
    peak = [rss_before]
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.05):
            try:
                peak[0] = max(peak[0], ps.memory_info().rss)
            except psutil.Error:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    jobs = make_jobs(files, n, scenario, seed=42)
    result = Result()

    async def go() -> None:
        await asyncio.gather(
            *(client(port, jobs[i::clients], files, result) for i in range(clients))
        )

    began = time.perf_counter()
    asyncio.run(go())
    elapsed = time.perf_counter() - began
    stop_sampling.set()
    sampler.join()
    rss_after = ps.memory_info().rss
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    lat = sorted(result.latencies)
    return {
        "server": kind
        + (
            f" ({http} {os.environ.get('BENCH_VARIANT', '')})".replace(" )", ")")
            if kind == "ours"
            else ""
        ),
        "requests": n,
        "req/s": n / elapsed,
        "p50 ms": statistics.median(lat) * 1000 if lat else float("nan"),
        "p99 ms": lat[int(len(lat) * 0.99) - 1] * 1000 if lat else float("nan"),
        "errors": result.errors,
        "MiB moved": result.bytes_in / 2**20,
        "statuses": dict(sorted(result.statuses.items())),
        "RSS MiB before/peak/after": f"{rss_before / 2**20:.0f}/{peak[0] / 2**20:.0f}/{rss_after / 2**20:.0f}",
    }


def make_data(root: Path, scenario: str, n_files: int, file_mib: int) -> dict[str, bytes]:
    rng = random.Random(7)
    files: dict[str, bytes] = {}
    if scenario == "chunks":
        (root / "c").mkdir()
        for i in range(2000):
            name = f"c/{i}"
            data = rng.randbytes(CHUNK)
            (root / name).write_bytes(data)
            files[name] = data
    else:
        for i in range(n_files):
            name = f"shard{i}.bin"
            data = rng.randbytes(file_mib << 20)
            (root / name).write_bytes(data)
            files[name] = data
    return files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--serve", nargs=3, metavar=("KIND", "ROOT", "PORT"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--http", default="auto", help="uvicorn protocol for ours: auto, h11, httptools"
    )
    parser.add_argument("--scenario", choices=["ranges", "chunks"], default="ranges")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument(
        "--requests-no-range", type=int, default=640, help="for http.server in the ranges scenario"
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--file-mib", type=int, default=64)
    parser.add_argument("--servers", default="ours,http.server,rangehttp")
    args = parser.parse_args()
    if args.serve:
        kind, root, port = args.serve
        run_server(kind, root, int(port), args.http)
        return
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        files = make_data(root, args.scenario, args.files, args.file_mib)
        rows = []
        for kind in args.servers.split(","):
            n = args.requests
            if kind == "http.server" and args.scenario == "ranges":
                n = args.requests_no_range
            rows.append(measure(kind, root, files, n, args.clients, args.scenario, args.http))
            print(rows[-1], flush=True)
    base = next((r for r in rows if r["server"] == "http.server"), None)
    print()
    print(
        f"scenario={args.scenario} clients={args.clients} python={sys.version.split()[0]} cores={os.cpu_count()}"
    )
    print(
        "| server | requests | req/s | × http.server | p50 ms | p99 ms | errors | MiB moved | RSS MiB before/peak/after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['req/s'] / base['req/s']:.1f}×" if base else "-"  # type: ignore[operator]
        print(
            f"| {r['server']} | {r['requests']} | {r['req/s']:.0f} | {ratio} | {r['p50 ms']:.1f} | "
            f"{r['p99 ms']:.1f} | {r['errors']} | {r['MiB moved']:.0f} | {r['RSS MiB before/peak/after']} |"
        )


if __name__ == "__main__":
    main()

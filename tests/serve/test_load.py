"""A bounded load run: many concurrent Range reads, all correct. No timing assertions.

Run against the file server and against the proxy (KvStoreBackend over a memory store, cold:
every read is a byte-range read upstream). A fixed number of requests; it stops by itself.
"""

from __future__ import annotations

import asyncio
import random

import httpx

from ngffkit.serve import KvStoreBackend, ServerHandle, start_server

from .conftest import PAYLOAD

REQUESTS = 2000
CLIENTS = 32


def run_load(url: str) -> list[str]:
    rng = random.Random(1234)
    plan = []
    for _ in range(REQUESTS):
        start = rng.randrange(len(PAYLOAD))
        stop = min(len(PAYLOAD), start + rng.randrange(1, 16384))
        plan.append((start, stop))
    errors: list[str] = []

    async def client(jobs: list[tuple[int, int]]) -> int:
        done = 0
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            for start, stop in jobs:
                r = await c.get("/data/blob.bin", headers={"Range": f"bytes={start}-{stop - 1}"})
                if r.status_code != 206 or r.content != PAYLOAD[start:stop]:
                    errors.append(f"{start}-{stop}: {r.status_code}")
                done += 1
        return done

    async def main() -> int:
        counts = await asyncio.gather(*(client(plan[i::CLIENTS]) for i in range(CLIENTS)))
        return sum(counts)

    assert asyncio.run(main()) == REQUESTS
    return errors


def _proxy() -> ServerHandle:
    backend = KvStoreBackend({"driver": "memory"})
    backend.kvstore.write("data/blob.bin", PAYLOAD).result()
    return start_server(backend)


def test_concurrent_range_reads(server: ServerHandle) -> None:
    assert run_load(server.url) == []


def test_concurrent_range_reads_through_the_proxy() -> None:
    with _proxy() as proxy:
        assert run_load(proxy.url) == []

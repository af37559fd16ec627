"""A bounded load run: many concurrent Range reads, all correct. No timing assertions."""

from __future__ import annotations

import asyncio
import random

import httpx

from ngffkit.serve import ServerHandle

from .conftest import PAYLOAD

REQUESTS = 2000
CLIENTS = 32


def test_concurrent_range_reads(server: ServerHandle) -> None:
    rng = random.Random(1234)
    plan = []
    for _ in range(REQUESTS):
        start = rng.randrange(len(PAYLOAD))
        stop = min(len(PAYLOAD), start + rng.randrange(1, 16384))
        plan.append((start, stop))
    errors: list[str] = []

    async def client(jobs: list[tuple[int, int]]) -> int:
        done = 0
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
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
    assert errors == []

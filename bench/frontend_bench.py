"""The whole system under load through its public door: `raftq up` (3 metadata nodes, a backend
cluster of 3, one frontend) on this machine, fsync on, driven over the REST API.

The load shape of issue 6, the same for every run: 100-byte messages; 32 producers, each
sending one message and waiting for its acknowledgement before the next; 8 consumers, each
receiving up to 10 and deleting them in one batch. Then a paced run at 200 sends/s for latency.
Targets (2 cores, the whole cluster on the machine): >= 5,000 sends/s, >= 10,000 receive+delete
messages/s, paced send p50 <= 3 ms. The load generator shares the two cores.

Run: python -m bench.frontend_bench [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.machine_info import describe
from raftq.client.sdk import AsyncClient
from tests.integration.up_process import client_env, free_base_port, start_up, wait_ready

BODY = "x" * 100


async def _producers(client: AsyncClient, queue: str, count: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def produce() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await client.send(queue, BODY)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(produce() for _ in range(count)))
    return latencies


async def _consumers(client: AsyncClient, queue: str, count: int, seconds: float) -> int:
    done = 0
    deadline = time.monotonic() + seconds

    async def consume() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            messages = await client.receive(queue, max_messages=10, wait_s=1)
            if messages:
                await client.delete_batch(queue, [m.receipt_handle for m in messages])
                done += len(messages)

    await asyncio.gather(*(consume() for _ in range(count)))
    return done


async def _paced(client: AsyncClient, queue: str, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    tasks = []

    async def one() -> None:
        started = time.perf_counter()
        await client.send(queue, BODY)
        latencies.append(time.perf_counter() - started)

    start = time.monotonic()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(seconds: float) -> None:
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        up = start_up(Path(tmp) / "data", free_base_port(14))
        try:
            wait_ready(up)
            env = client_env(Path(tmp) / "data")
            async with AsyncClient(
                env["RAFTQ_ENDPOINT"], env["RAFTQ_ACCESS_KEY_ID"], env["RAFTQ_SECRET_ACCESS_KEY"]
            ) as client:
                await client.create_queue("bench")
                sends = await _producers(client, "bench", 32, seconds)
                print(
                    f"sends, 32 producers: {len(sends) / seconds:,.0f}/s (target 5,000), "
                    f"p50 {_ms(sends, 0.5):.1f} ms, p99 {_ms(sends, 0.99):.1f} ms"
                )
                received = await _consumers(client, "bench", 8, seconds)
                print(
                    f"receive+delete, 8 consumers: {received / seconds:,.0f} msgs/s (target 10,000)"
                )
                await client.purge("bench")
                paced = await _paced(client, "bench", 200, seconds)
                print(
                    f"paced 200 sends/s: p50 {_ms(paced, 0.5):.2f} ms (target 3), "
                    f"p99 {_ms(paced, 0.99):.2f} ms, mean {statistics.fmean(paced) * 1000:.2f} ms"
                )
        finally:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(run(parser.parse_args().seconds))


if __name__ == "__main__":
    main()

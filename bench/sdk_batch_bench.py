"""Sending through the SDK in batches: `raftq up` (3 metadata nodes, a backend cluster of 3, one
frontend, fsync on) on free loopback ports in a temporary directory, one `AsyncClient`.

Three runs of the same length, each on its own queue, 100-byte messages:
1. `send_batch`: N producers (default 8), each sending a batch of 10 and waiting for its answer
   before the next. Target (later): >= 10,000 messages/s on 2 cores.
2. `send()` joined: N x 10 concurrent callers of `send()`, each waiting for its message before
   the next; the SDK joins them into batch requests (linger 2 ms while a request is in flight).
3. the same callers with `send_linger_ms=0`: every send its own request, for comparison.
The load generator shares the machine with the cluster.

Run: python -m bench.sdk_batch_bench [--seconds 10] [--producers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.machine_info import describe
from raftq.client.sdk import AsyncClient
from tests.integration.up_process import client_env, free_base_port, start_up, wait_ready

BODY = "x" * 100
BATCH = 10


async def _drive(
    workers: int, seconds: float, step: Callable[[], Awaitable[int]]
) -> tuple[int, list[float]]:
    """Run `step` in `workers` loops for `seconds`; the messages sent and each step's latency."""
    latencies: list[float] = []
    sent = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            started = time.perf_counter()
            count = await step()  # not `sent += await ...`: that reads `sent` before the await
            sent += count
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(loop() for _ in range(workers)))
    return sent, latencies


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def _report(label: str, sent: int, seconds: float, latencies: list[float], per: str) -> None:
    print(
        f"{label}: {sent / seconds:,.0f} msg/s ({sent:,} in {seconds:.0f} s), "
        f"p50 {_ms(latencies, 0.5):.1f} ms, p99 {_ms(latencies, 0.99):.1f} ms per {per}"
    )


async def run(seconds: float, producers: int) -> None:
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        up = start_up(Path(tmp) / "data", free_base_port(14))
        try:
            wait_ready(up)
            env = client_env(Path(tmp) / "data")
            credentials = (
                env["RAFTQ_ENDPOINT"],
                env["RAFTQ_ACCESS_KEY_ID"],
                env["RAFTQ_SECRET_ACCESS_KEY"],
            )
            async with AsyncClient(*credentials) as client:
                for queue in ("batches", "joined", "alone"):
                    await client.create_queue(queue)

                async def one_batch() -> int:
                    results = await client.send_batch("batches", [BODY] * BATCH)
                    return sum(r.ok for r in results)

                sent, latencies = await _drive(producers, seconds, one_batch)
                label = f"send_batch, {producers} producers x {BATCH}"
                _report(label, sent, seconds, latencies, "batch")

                async def joined_send() -> int:
                    await client.send("joined", BODY)
                    return 1

                callers = producers * BATCH
                sent, latencies = await _drive(callers, seconds, joined_send)
                _report(f"send() joined, {callers} callers", sent, seconds, latencies, "send")
            async with AsyncClient(*credentials, send_linger_ms=0) as alone:

                async def lone_send() -> int:
                    await alone.send("alone", BODY)
                    return 1

                sent, latencies = await _drive(callers, seconds, lone_send)
                _report(f"send() alone, {callers} callers", sent, seconds, latencies, "send")
        finally:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=8)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.seconds, arguments.producers))


if __name__ == "__main__":
    main()

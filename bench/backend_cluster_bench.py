"""Send throughput and latency of a three-node backend cluster on this machine, fsync on.

Starts three `raftq backend` processes on loopback (the harness of tests/integration), then for
each body size and concurrency runs closed-loop clients (each sends one message and waits for
the acknowledgement before the next) spread over client processes, and prints sends/s and
p50/p99 latency. Targets (issue 4, 2 cores): >= 5,000 sends/s at 256 concurrent, p50 <= 5 ms at 1.

Run: python -m bench.backend_cluster_bench [--seconds 5] [--client-processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.machine_info import describe
from raftq.common.backend_client import BackendClient
from raftq.common.commands import CreateQueue, SendEntry, SendMessages
from raftq.common.errors import RaftqError
from tests.integration.cluster import SECRET, Cluster


async def _client_load(
    members: list[str], concurrency: int, body: bytes, seconds: float
) -> tuple[int, int, list[float]]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency + 8)
    ) as session:
        client = BackendClient(members, SECRET, session)
        latencies: list[float] = []
        errors = 0
        deadline = time.monotonic() + seconds

        async def one_client() -> None:
            nonlocal errors
            entry = (SendEntry(entry_id="e", body=body),)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    await client.execute(SendMessages(now_ms=0, queue="bench", entries=entry))
                except RaftqError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return len(latencies), errors, latencies


Outcome = tuple[int, int, list[float]]


def _client_process(
    members: list[str],
    concurrency: int,
    body_bytes: int,
    seconds: float,
    out: multiprocessing.Queue[Outcome],
) -> None:
    out.put(asyncio.run(_client_load(members, concurrency, b"x" * body_bytes, seconds)))


def run_cell(
    members: list[str], concurrency: int, body_bytes: int, seconds: float, processes: int
) -> str:
    processes = min(processes, concurrency)
    shares = [
        concurrency // processes + (1 if i < concurrency % processes else 0)
        for i in range(processes)
    ]
    results: multiprocessing.Queue[Outcome] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(
            target=_client_process, args=(members, share, body_bytes, seconds, results)
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    collected = [results.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    sent = sum(c[0] for c in collected)
    errors = sum(c[1] for c in collected)
    latencies = sorted(latency for c in collected for latency in c[2])
    if not latencies:
        return f"{body_bytes:>6} B  c={concurrency:<4} no acknowledged sends ({errors} errors)"
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return (
        f"{body_bytes:>6} B  c={concurrency:<4} {sent / seconds:>8.0f} sends/s  "
        f"p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  errors {errors}"
    )


async def _terms(cluster: Cluster) -> list[object]:
    async with aiohttp.ClientSession() as session:
        cluster.session = session
        statuses = [await cluster.status(i) for i in range(len(cluster.nodes))]
    return [status["term"] if status else None for status in statuses]


async def _start_cluster(root: Path) -> tuple[Cluster, aiohttp.ClientSession]:
    session = aiohttp.ClientSession()
    cluster = Cluster(root, session)
    cluster.start_all()
    await cluster.leader(timeout_s=30)
    await cluster.client.execute(CreateQueue(now_ms=0, queue="bench"))
    return cluster, session


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 16, 256])
    parser.add_argument("--body-bytes", type=int, nargs="*", default=[100, 10_240])
    args = parser.parse_args()
    print(describe())
    print("three raftq backend processes on loopback, fsync on, group commit; closed-loop clients")
    with tempfile.TemporaryDirectory(prefix="raftq-bench-") as scratch:
        cluster, session = asyncio.run(_start_cluster(Path(scratch)))
        try:
            members = [node.api_address for node in cluster.nodes]
            for body_bytes in args.body_bytes:
                for concurrency in args.concurrency:
                    print(
                        run_cell(
                            members, concurrency, body_bytes, args.seconds, args.client_processes
                        ),
                        flush=True,
                    )
            terms = asyncio.run(_terms(cluster))
            print(f"Raft terms after the run: {terms} (all 1: no election under this load)")
        finally:
            cluster.close()
            asyncio.run(session.close())


if __name__ == "__main__":
    main()

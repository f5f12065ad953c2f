"""Resident memory of a three-node backend cluster before and after N messages of 1 MiB.

Starts three `raftq backend` processes on loopback (the harness of tests/integration), sends
`--messages` messages of `--body-bytes` with `--concurrency` closed-loop senders, waits until
every member applied everything, and prints each member's resident memory (VmRSS, and its peak
VmHWM, from /proc/PID/status) before and after, with the size of its Raft log file and the
payload bytes its journal keeps in memory (raft/journal.py; "n/a" on code without them).

Issue 17 item 5: every payload used to stay in memory until a compaction (50,000 entries).

Run: nice -n 15 python -m bench.raft_log_memory_bench [--messages 300] [--body-bytes 1048576]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.machine_info import describe
from raftq.common.commands import CreateQueue, SendEntry, SendMessages
from tests.integration.cluster import Cluster


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of process `pid`, in KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def _mib(kib: int) -> str:
    return f"{kib / 1024:7.1f} MiB"


def _journal_figures(status: dict[str, Any] | None) -> str:
    if status is None:
        return "status n/a"
    log_bytes = status.get("log_bytes")
    cached = status.get("log_cached_payload_bytes")
    log_part = "n/a" if log_bytes is None else f"{log_bytes / (1 << 20):.1f} MiB"
    cached_part = "n/a" if cached is None else f"{cached / (1 << 20):.1f} MiB"
    entries = status.get("log_length")
    return f"log {entries} entries, {log_part} on disk, payloads in memory {cached_part}"


async def _report(cluster: Cluster, when: str) -> None:
    for i, node in enumerate(cluster.nodes):
        assert node.process is not None
        rss, peak = memory_kib(node.process.pid)
        status = await cluster.status(i)
        print(
            f"  {when:<6} {node.node_id}: RSS {_mib(rss)}  peak {_mib(peak)}  "
            f"{_journal_figures(status)}",
            flush=True,
        )


async def _send(cluster: Cluster, messages: int, body: bytes, concurrency: int) -> float:
    remaining = iter(range(messages))
    started = time.monotonic()

    async def sender() -> None:
        for _ in remaining:
            entry = SendEntry(entry_id="e", body=body)
            await cluster.client.execute(SendMessages(now_ms=0, queue="bench", entries=(entry,)))

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return time.monotonic() - started


async def run(root: Path, messages: int, body_bytes: int, concurrency: int) -> None:
    async with aiohttp.ClientSession() as session:
        cluster = Cluster(root, session)
        cluster.start_all()
        try:
            await cluster.leader(timeout_s=30)
            await cluster.client.execute(CreateQueue(now_ms=0, queue="bench"))
            await cluster.converged(timeout_s=30)
            await _report(cluster, "before")
            seconds = await _send(cluster, messages, b"x" * body_bytes, concurrency)
            await cluster.converged(timeout_s=120)
            print(
                f"  sent {messages} x {body_bytes} B in {seconds:.1f} s "
                f"({messages * body_bytes / (1 << 20) / seconds:.1f} MiB/s)",
                flush=True,
            )
            await _report(cluster, "after")
        finally:
            cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--body-bytes", type=int, default=1 << 20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(describe())
    print(
        "three raftq backend processes on loopback, fsync on; "
        f"{args.messages} messages of {args.body_bytes} B, {args.concurrency} senders"
    )
    with tempfile.TemporaryDirectory(prefix="raftq-bench-") as scratch:
        asyncio.run(run(Path(scratch), args.messages, args.body_bytes, args.concurrency))


if __name__ == "__main__":
    main()

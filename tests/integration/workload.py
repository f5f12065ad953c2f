"""Sends and drains against a backend cluster, recording what was acknowledged."""

from __future__ import annotations

import asyncio

from raftq.common.backend_client import BackendClient
from raftq.common.commands import (
    CreateQueue,
    DeleteEntry,
    DeleteMessages,
    GetQueueStats,
    ReceiveMessages,
    SendEntry,
    SendMessages,
)
from raftq.common.errors import RaftqError
from raftq.common.results import QueueStats, ReceiveResult, SendResult


async def create_queue(client: BackendClient, queue: str) -> None:
    await client.execute(CreateQueue(now_ms=0, queue=queue))


async def send_one(
    client: BackendClient, queue: str, body: bytes, dedup_id: str | None = None
) -> SendResult:
    entry = SendEntry(entry_id="e", body=body, dedup_id=dedup_id)
    result = await client.execute(SendMessages(now_ms=0, queue=queue, entries=(entry,)))
    assert isinstance(result, SendResult), result
    return result


async def send_many(
    client: BackendClient, queue: str, count: int, prefix: str, concurrency: int = 8
) -> set[bytes]:
    """Send `count` unique bodies; return those whose send was acknowledged. Failed or unknown
    sends are left out (they may or may not arrive: at-least-once allows both)."""
    acknowledged: set[bytes] = set()
    bodies = [f"{prefix}-{i}".encode() for i in range(count)]

    async def worker(mine: list[bytes]) -> None:
        for body in mine:
            try:
                result = await send_one(client, queue, body)
            except RaftqError:
                continue
            if result.sent:
                acknowledged.add(body)

    await asyncio.gather(*(worker(bodies[k::concurrency]) for k in range(concurrency)))
    return acknowledged


async def stats(client: BackendClient, queue: str) -> QueueStats:
    result = await client.execute(GetQueueStats(now_ms=0, queue=queue))
    assert isinstance(result, QueueStats), result
    return result


async def drain(client: BackendClient, queue: str) -> list[bytes]:
    """Receive and delete until the queue is empty; every body received, in order."""
    received: list[bytes] = []
    while True:
        result = await client.execute(
            ReceiveMessages(now_ms=0, queue=queue, max_messages=100, visibility_timeout_ms=60_000)
        )
        assert isinstance(result, ReceiveResult), result
        if not result.messages:
            remaining = await stats(client, queue)
            assert remaining.in_flight == 0 and remaining.delayed == 0, remaining
            return received
        received.extend(message.body for message in result.messages)
        entries = tuple(
            DeleteEntry(entry_id=f"d{i}", receipt_handle=message.receipt_handle)
            for i, message in enumerate(result.messages)
        )
        await client.execute(DeleteMessages(now_ms=0, queue=queue, entries=entries))

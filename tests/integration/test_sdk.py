"""The Python SDK (async and blocking) and the `raftq send|receive|delete|stats` commands
against a real `raftq up`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from raftq.client.sdk import AsyncClient, Client, RaftqApiError
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


async def test_the_async_client_sends_receives_and_deletes(deployment: Deployment) -> None:
    async with AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        await client.create_queue("sdk-async", visibility_timeout_s=30)
        sent = await client.send(
            "sdk-async", "text", attributes={"k": {"type": "String", "value": "v"}}
        )
        again = await client.send("sdk-async", b"\x00\xffbinary")
        assert sent["message_id"] != again["message_id"]
        messages = await client.receive("sdk-async", max_messages=10)
        assert sorted(m.body_bytes for m in messages) == [b"\x00\xffbinary", b"text"]
        assert {m.body for m in messages} == {"text", None}  # None: not UTF-8
        await client.delete_batch("sdk-async", [m.receipt_handle for m in messages])
        queue = await client.get_queue("sdk-async")
        assert queue["counts"] == {
            "visible": 0,
            "in_flight": 0,
            "delayed": 0,
            "dead_letter_pending": 0,
        }
        assert "sdk-async" in [q["name"] for q in await client.list_queues("sdk-")]


async def test_a_retried_send_reuses_its_idempotency_key(deployment: Deployment) -> None:
    async with AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        await client.create_queue("sdk-idem")
        first = await client.send("sdk-idem", "once", idempotency_key="job-1")
        second = await client.send("sdk-idem", "once", idempotency_key="job-1")
        assert second["message_id"] == first["message_id"] and second["duplicate"]


async def test_long_poll_iteration_yields_messages_as_they_come(deployment: Deployment) -> None:
    async with AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        await client.create_queue("sdk-poll")
        received: list[str] = []

        async def consume() -> None:
            async for message in client.messages("sdk-poll", wait_s=5):
                received.append(message.body or "")
                await client.delete("sdk-poll", message.receipt_handle)
                if len(received) == 3:
                    return

        consumer = asyncio.create_task(consume())
        for body in ("a", "b", "c"):
            await asyncio.sleep(0.2)
            await client.send("sdk-poll", body)
        await asyncio.wait_for(consumer, timeout=15)
        assert sorted(received) == ["a", "b", "c"]


def test_the_blocking_client_and_its_errors(deployment: Deployment) -> None:
    with Client(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        client.create_queue("sdk-sync")
        client.send("sdk-sync", "hi")
        [message] = client.receive("sdk-sync")
        client.delete("sdk-sync", message.receipt_handle)
        with pytest.raises(RaftqApiError) as missing:
            client.get_queue("sdk-nope")
        assert (missing.value.status, missing.value.code) == (404, "QueueDoesNotExist")
    with Client(deployment.endpoint, deployment.key_id, "wrong secret") as bad:
        with pytest.raises(RaftqApiError) as refused:
            bad.get_queue("sdk-sync")
        assert (refused.value.status, refused.value.code) == (401, "SignatureDoesNotMatch")
    with pytest.raises(ValueError):
        Client("not a url", "k", "s").close()


def raftq(deployment: Deployment, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **deployment.env}
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_data_commands(deployment: Deployment) -> None:
    with Client(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        client.create_queue("cli")
    sent = raftq(deployment, "send", "cli", "from the shell", "--idempotency-key", "k-1")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["duplicate"] is False
    received = raftq(deployment, "receive", "cli", "--delete")
    assert received.returncode == 0, received.stderr
    assert [json.loads(line)["body"] for line in received.stdout.splitlines()] == ["from the shell"]
    stats = raftq(deployment, "stats", "cli")
    assert json.loads(stats.stdout)["counts"]["visible"] == 0
    missing = raftq(deployment, "stats", "nope")
    assert missing.returncode == 1 and "QueueDoesNotExist" in missing.stderr
    assert missing.stderr.count("\n") == 1
    no_env = subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "stats", "cli"],
        env={k: v for k, v in os.environ.items() if not k.startswith("RAFTQ_")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert no_env.returncode == 1 and "RAFTQ_ENDPOINT" in no_env.stderr

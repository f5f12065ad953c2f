"""The Python SDK (async and blocking) and the `raftq send|receive|delete|stats` commands
against a real `raftq up`."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from raftq.client.queue_attributes import DeadLetter
from raftq.client.sdk import AsyncClient, Client, InvalidRequest, RaftqApiError, SendEntry
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


def test_the_blocking_client_has_every_call_of_the_async_one(deployment: Deployment) -> None:
    blocking = {n for n in dir(Client) if not n.startswith("_")} - {"from_env", "close"}
    asynchronous = {n for n in dir(AsyncClient) if not n.startswith("_")} - {"from_env", "close"}
    assert asynchronous <= blocking, asynchronous - blocking
    with Client(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        client.create_queue("sdk-parity-dlq")
        dead_letter: DeadLetter = {"queue": "sdk-parity-dlq", "max_receive_count": 3}
        client.create_queue("sdk-parity", visibility_timeout_s=30, dead_letter=dead_letter)
        updated = client.update_queue("sdk-parity", visibility_timeout_s=45, delay_s=0)
        assert updated["attributes"]["visibility_timeout_s"] == 45
        assert updated["attributes"]["dead_letter"]["queue"] == "sdk-parity-dlq"
        tenant = {"tenant": {"type": "String", "value": "acme"}}
        client.send("sdk-parity", b"\x00\xff", attributes=tenant, priority=3)
        [message] = client.receive("sdk-parity", wait_s=5, visibility_timeout_s=60)
        assert (message.body, message.body_bytes, message.attributes) == (None, b"\x00\xff", tenant)
        changed = client.change_visibility("sdk-parity", message.receipt_handle, 0)
        assert changed["failed"] == []
        iterated = client.messages("sdk-parity", wait_s=5, visibility_timeout_s=60)
        assert next(iterated).message_id == message.message_id  # visible again at once
        iterated.close()
        client.send_batch("sdk-parity", ["a", "b"])
        client.purge("sdk-parity")
        assert client.get_queue("sdk-parity")["counts"]["visible"] == 0
        client.delete_queue("sdk-parity")
        assert "sdk-parity" not in [q["name"] for q in client.list_queues("sdk-parity")]


async def test_binary_sends_alone_go_as_bytes_with_their_options(deployment: Deployment) -> None:
    async with AsyncClient(
        deployment.endpoint, deployment.key_id, deployment.secret, send_linger_ms=0
    ) as client:
        await client.create_queue("sdk-raw.fifo", fifo=True, content_based_dedup=True)
        body = os.urandom(200_000)
        first = await client.send("sdk-raw.fifo", body, group_id="g1")
        again = await client.send("sdk-raw.fifo", body, group_id="g1", idempotency_key="k2")
        assert first["message_id"] != again["message_id"]  # the key went with the raw send
        tagged = {"kind": {"type": "Binary", "value": "AAE="}}  # attributes: sent as JSON
        await client.send("sdk-raw.fifo", b"\x01", group_id="g2", attributes=tagged)
        received = await client.receive("sdk-raw.fifo", max_messages=10, wait_s=2)
        by_group = sorted((m.group_id, m.body_bytes, m.attributes) for m in received)
        assert by_group == [("g1", body, {}), ("g1", body, {}), ("g2", b"\x01", tagged)]


def test_a_forgotten_blocking_client_warns_and_is_closed(deployment: Deployment) -> None:
    def sdk_threads() -> int:
        return sum(t.name == "raftq-sdk" for t in threading.enumerate())

    before = sdk_threads()
    client = Client(deployment.endpoint, deployment.key_id, deployment.secret)
    client.list_queues()  # a connection is open
    assert sdk_threads() == before + 1
    with pytest.warns(ResourceWarning, match="unclosed raftq Client"):
        del client
        gc.collect()
    assert sdk_threads() == before  # its thread stopped, its session closed
    with Client(deployment.endpoint, deployment.key_id, deployment.secret) as closed:
        closed.close()  # a second close does nothing


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


# --- batches --------------------------------------------------------------------------------


async def _requests_served(deployment: Deployment, route: str) -> int:
    """How many requests of `route` the frontend answered, from its Prometheus counter."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(deployment.env["RAFTQ_FRONTEND_METRICS"]) as answer,
    ):
        text = await answer.text()
    pattern = re.compile(r"^raftq_frontend_requests_total\{(.*)\} (\S+)$")
    total = 0.0
    for line in text.splitlines():
        found = pattern.match(line)
        if found and f'action="{route}",api="rest"' in found.group(1):
            total += float(found.group(2))
    return int(total)


BATCH_ROUTE = "POST /v1/queues/{name}/messages:batch"
SEND_ROUTE = "POST /v1/queues/{name}/messages"


async def test_concurrent_sends_share_batch_requests_and_each_gets_its_own_id(
    deployment: Deployment,
) -> None:
    async with AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        await client.create_queue("sdk-join")
        batches = await _requests_served(deployment, BATCH_ROUTE)
        singles = await _requests_served(deployment, SEND_ROUTE)
        bodies = [f"m{n}" for n in range(20)]
        sent = await asyncio.gather(*(client.send("sdk-join", body) for body in bodies))
        assert await _requests_served(deployment, BATCH_ROUTE) - batches == 2
        assert await _requests_served(deployment, SEND_ROUTE) == singles
        received: dict[str, str] = {}
        while len(received) < 20:
            messages = await client.receive("sdk-join", max_messages=10, wait_s=2)
            received |= {m.message_id: m.body or "" for m in messages}
            await client.delete_batch("sdk-join", [m.receipt_handle for m in messages])
        assert [received[s["message_id"]] for s in sent] == bodies  # each caller, its message


async def test_a_refused_send_raises_for_its_caller_only(deployment: Deployment) -> None:
    async with AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        await client.create_queue("sdk-join.fifo", fifo=True, max_message_bytes=1_024)
        batches = await _requests_served(deployment, BATCH_ROUTE)
        results = await asyncio.gather(
            client.send("sdk-join.fifo", "a", group_id="g"),
            client.send("sdk-join.fifo", "no group"),  # refused by the backend, as an entry
            client.send("sdk-join.fifo", "x" * 2_000, group_id="g"),  # refused by the frontend
            client.send("sdk-join.fifo", "d", group_id="g"),
            return_exceptions=True,
        )
        assert await _requests_served(deployment, BATCH_ROUTE) - batches == 1
        no_group, too_big = results[1], results[2]
        assert isinstance(no_group, RaftqApiError)
        assert (no_group.code, no_group.field) == ("MissingParameter", "group_id")
        assert isinstance(too_big, RaftqApiError) and too_big.status == 413
        [first, last] = [r for r in results if isinstance(r, dict)]
        assert first["sequence_number"] < last["sequence_number"]  # committed in call order
        messages = await client.receive("sdk-join.fifo", max_messages=10)
        assert [m.body for m in messages] == ["a", "d"]


async def test_send_batch_answers_per_entry_and_a_retry_stores_nothing_twice(
    deployment: Deployment,
) -> None:
    async with AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        await client.create_queue("sdk-batch")
        entries = [SendEntry(f"m{n}", idempotency_key=f"batch-{n}") for n in range(10)]
        first = await client.send_batch("sdk-batch", entries)
        again = await client.send_batch("sdk-batch", entries)
        assert all(r.ok for r in first + again)
        assert [r.message_id for r in again] == [r.message_id for r in first]
        assert [r.result()["duplicate"] for r in again] == [True] * 10
        assert (await client.get_queue("sdk-batch"))["counts"]["visible"] == 10
        await client.create_queue("sdk-batch.fifo", fifo=True)
        mixed = await client.send_batch(
            "sdk-batch.fifo", [SendEntry("ok", group_id="g"), SendEntry("no group")]
        )
        assert mixed[0].ok and mixed[1].error is not None
        assert (mixed[1].error.code, mixed[1].error.field) == ("MissingParameter", "group_id")
        with pytest.raises(InvalidRequest) as too_many:
            await client.send_batch("sdk-batch", ["m"] * 11)
        assert too_many.value.field == "entries" and "sdk-batch" in too_many.value.message


def test_the_blocking_client_batches_and_joins_sends_from_threads(
    deployment: Deployment,
) -> None:
    with Client(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        client.create_queue("sdk-sync-batch")
        results = client.send_batch("sdk-sync-batch", ["a", b"\x01b"])
        assert all(r.ok for r in results)
        with ThreadPoolExecutor(max_workers=8) as pool:
            sent = list(pool.map(lambda n: client.send("sdk-sync-batch", f"t{n}"), range(16)))
        assert len({s["message_id"] for s in sent}) == 16
        messages = client.receive("sdk-sync-batch", max_messages=10)
        answer = client.delete_batch("sdk-sync-batch", [m.receipt_handle for m in messages])
        assert len(answer["succeeded"]) == len(messages) and answer["failed"] == []


async def test_a_linger_of_zero_sends_each_message_alone(deployment: Deployment) -> None:
    async with AsyncClient(
        deployment.endpoint, deployment.key_id, deployment.secret, send_linger_ms=0
    ) as client:
        await client.create_queue("sdk-alone")
        batches = await _requests_served(deployment, BATCH_ROUTE)
        singles = await _requests_served(deployment, SEND_ROUTE)
        await asyncio.gather(*(client.send("sdk-alone", f"m{n}") for n in range(5)))
        assert await _requests_served(deployment, SEND_ROUTE) - singles == 5
        assert await _requests_served(deployment, BATCH_ROUTE) == batches

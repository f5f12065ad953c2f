"""Failures under client traffic, through `raftq up` and the SDK: kill -9 the backend leader
during a stream of sends (joined by the frontend into shared commands) and receives (nothing
acknowledged is lost), and kill a frontend while another serves the same queues."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from raftq.client.sdk import AsyncClient
from raftq.common.metadata_api import MetadataClient
from tests.integration.conftest import Deployment
from tests.integration.up_process import start_frontend, wait_healthy

pytestmark = pytest.mark.integration


async def _backend_leader(deployment: Deployment, session: aiohttp.ClientSession) -> str:
    """The node id of backend cluster c1's leader."""
    env = deployment.env
    metadata = MetadataClient(
        env["RAFTQ_METADATA"].split(","), env["RAFTQ_CLUSTER_SECRET"], session
    )
    catalogue = await metadata.get("/v1/catalogue")
    assert catalogue is not None
    members: dict[str, str] = {
        m["api_address"]: m["node_id"] for m in catalogue["clusters"][0]["members"]
    }
    for _ in range(100):
        for address, node_id in members.items():
            status = await MetadataClient([address], env["RAFTQ_CLUSTER_SECRET"], session).get(
                "/v1/status"
            )
            if status and status["is_leader"]:
                return node_id
        await asyncio.sleep(0.1)
    raise AssertionError("no backend leader")


def _pid(deployment: Deployment, child: str) -> int:
    state = json.loads((deployment.data_dir / "up.json").read_text())
    pid = state[child]["pid"]
    assert isinstance(pid, int)
    return pid


async def test_killing_the_backend_leader_loses_no_acknowledged_message(
    deployment: Deployment,
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        AsyncClient(
            deployment.endpoint, deployment.key_id, deployment.secret, retries=30
        ) as client,
        # One request per send, so that the frontend (not the SDK) joins them
        AsyncClient(
            deployment.endpoint,
            deployment.key_id,
            deployment.secret,
            retries=30,
            send_linger_ms=0,
        ) as sender,
    ):
        await client.create_queue("failover", visibility_timeout_s=5)
        acknowledged: set[str] = set()
        received: dict[str, set[str]] = {}
        stop, produced = asyncio.Event(), asyncio.Event()

        async def produce(producer: int) -> None:
            number = 0
            while not stop.is_set():
                body = f"p{producer}-{number}"
                await sender.send("failover", body, idempotency_key=body)  # retries reuse it
                acknowledged.add(body)
                number += 1

        async def consume() -> None:
            # Until every producer finished and everything it was acknowledged for came back
            while not produced.is_set() or not acknowledged <= set(received):
                for message in await client.receive("failover", max_messages=10, wait_s=1):
                    received.setdefault(message.body or "", set()).add(message.message_id)
                    await client.delete("failover", message.receipt_handle)

        # Enough producers that the frontend joins their sends into shared backend commands
        tasks = [asyncio.create_task(produce(p)) for p in range(16)]
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(2)
        leader = await _backend_leader(deployment, session)
        os.kill(_pid(deployment, leader), signal.SIGKILL)  # raftq up restarts it
        await asyncio.sleep(4)
        stop.set()
        await asyncio.gather(*tasks)
        produced.set()
        await asyncio.wait_for(consumer, timeout=60)
        assert len(acknowledged) > 50
        assert acknowledged <= set(received)  # nothing acknowledged was lost
        assert all(len(ids) == 1 for ids in received.values())  # one message per idempotent send
        assert (await client.get_queue("failover"))["counts"]["visible"] == 0
        async with session.get(deployment.env["RAFTQ_FRONTEND_METRICS"]) as answer:
            metrics = await answer.text()
        joined = [line for line in metrics.splitlines() if line.startswith("raftq_frontend_joined")]
        assert joined and float(joined[0].split()[-1]) > 0, "no send was joined with another"


async def test_another_frontend_serves_when_one_is_killed(
    deployment: Deployment, tmp_path: Path
) -> None:
    second, endpoint = start_frontend(
        deployment, tmp_path, "--master-key", f"k1={deployment.data_dir / 'frontend.key'}"
    )
    try:
        async with (
            AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as first,
            AsyncClient(endpoint, deployment.key_id, deployment.secret) as other,
        ):
            await first.create_queue("two-doors")
            await first.send("two-doors", "sealed by the first")
            [message] = await first.receive("two-doors")
            os.kill(_pid(deployment, "frontend"), signal.SIGKILL)
            await wait_healthy(endpoint)
            await other.delete("two-doors", message.receipt_handle)
            await other.send("two-doors", "sent through the other")
            [later] = await other.receive("two-doors")
            assert later.body == "sent through the other"
            assert (await other.get_queue("two-doors"))["counts"]["in_flight"] == 1
    finally:
        second.kill()
        second.wait()

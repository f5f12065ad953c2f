"""The internal API of a backend node: bad input is refused and changes nothing; leaders step
down when cut off; large entries take pysyncobj's chunked path; long polls wake on a send."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import msgpack
import pytest

from raftq.common import codec
from raftq.common.commands import ReceiveMessages, SendEntry, SendMessages
from raftq.common.node_api import COMMANDS_PATH, NodeError, NodeRequest
from raftq.common.results import ReceiveResult, SendResult
from tests.integration.cluster import Cluster, eventually
from tests.integration.workload import create_queue, drain, send_one, stats

pytestmark = pytest.mark.integration


async def _applied_index(cluster: Cluster, i: int) -> int:
    status = await cluster.status(i)
    assert status is not None
    index: int = status["machine_applied_index"]
    return index


async def _post(
    cluster: Cluster, i: int, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    url = f"http://{cluster.nodes[i].api_address}{COMMANDS_PATH}"
    async with cluster.session.post(url, data=body, headers=headers) as response:
        return response.status, await response.read()


async def test_bad_requests_are_refused_with_a_clear_status_and_change_nothing(
    cluster: Cluster,
) -> None:
    # Given a queue and the leader's applied index
    await create_queue(cluster.client, "orders")
    leader = await cluster.leader()
    await cluster.converged()
    before = await _applied_index(cluster, leader)
    send = codec.encode(
        NodeRequest(
            command=SendMessages(
                now_ms=0, queue="orders", entries=(SendEntry(entry_id="e", body=b"x"),)
            )
        )
    )
    signed = cluster.client.headers_for("POST", COMMANDS_PATH, send)

    # When requests arrive unsigned, wrongly signed, replayed onto another body, malformed,
    # of the wrong shape, or too large
    cases = {
        "unsigned": (send, {"Content-Type": "application/x-msgpack"}, 401),
        "wrong signature": (send, {**signed, "X-Raftq-Cluster-Auth": "t=1,s=" + "0" * 64}, 401),
        "signature of another body": (send + b"\x00", signed, 401),
        "not msgpack": (
            b"\xc1garbage",
            cluster.client.headers_for("POST", COMMANDS_PATH, b"\xc1garbage"),
            400,
        ),
    }
    wrong_shape = msgpack.packb({"command": {"kind": "send", "queue": "orders", "now_ms": "soon"}})
    cases["wrong shape"] = (
        wrong_shape,
        cluster.client.headers_for("POST", COMMANDS_PATH, wrong_shape),
        400,
    )
    huge = b"\x00" * (13 << 20)
    cases["too large"] = (huge, cluster.client.headers_for("POST", COMMANDS_PATH, huge), 413)

    # Then each gets its status, with an error body naming the problem where it was read
    for name, (body, headers, expected) in cases.items():
        status, raw = await _post(cluster, leader, body, headers)
        assert status == expected, (name, status, raw[:200])
        if expected in (400, 401):
            error = codec.decode(raw, NodeError)
            assert error.code in ("Unauthenticated", "DecodeError"), (name, error)
    # And nothing was proposed or changed
    assert await _applied_index(cluster, leader) == before
    assert (await stats(cluster.client, "orders")).visible == 0


async def test_leader_cut_off_from_its_majority_steps_down_within_about_an_election_timeout(
    cluster: Cluster,
) -> None:
    # Given a leader
    leader = await cluster.leader()
    followers = [i for i in range(3) if i != leader]

    # When both followers freeze, so the leader hears from no majority
    for i in followers:
        cluster.pause(i)
    frozen_at = time.monotonic()

    # Then it stops acting as leader within about one election timeout (1 s fallback)
    async def stepped_down() -> bool | None:
        status = await cluster.status(leader)
        return True if status is not None and not status["is_leader"] else None

    await eventually(stepped_down, timeout_s=3, what="the isolated leader to step down")
    assert time.monotonic() - frozen_at < 3
    for i in followers:
        cluster.resume(i)
    await cluster.leader(timeout_s=10)


async def test_a_message_larger_than_64_kib_commits_through_the_chunked_path(
    cluster: Cluster,
) -> None:
    # Given a queue
    await create_queue(cluster.client, "big")
    body = bytes(range(256)) * 4096  # 1 MiB: far above pysyncobj's 64 KiB entry threshold

    # When a 1 MiB message is sent
    result = await send_one(cluster.client, "big", body)
    assert isinstance(result, SendResult) and result.sent

    # Then every replica applies it and it comes back intact
    await cluster.converged()
    assert await drain(cluster.client, "big") == [body]


async def test_long_poll_returns_soon_after_a_send(cluster: Cluster) -> None:
    # Given an empty queue and a receive waiting up to 10 s
    await create_queue(cluster.client, "jobs")
    waiting = asyncio.create_task(
        cluster.client.execute(ReceiveMessages(now_ms=0, queue="jobs"), wait_ms=10_000)
    )
    leader = await cluster.leader()

    async def receive_is_waiting() -> bool | None:
        url = f"http://{cluster.nodes[leader].api_address}/metrics"
        async with cluster.session.get(url) as response:
            text = await response.text()
        line = next(x for x in text.splitlines() if x.startswith("raftq_long_poll_waiting"))
        return True if float(line.split()[-1]) >= 1 else None

    await eventually(receive_is_waiting, timeout_s=5, what="the receive to wait on the leader")
    assert not waiting.done()

    # When a message is sent
    sent_at = time.monotonic()
    await send_one(cluster.client, "jobs", b"wake up")

    # Then the waiting receive returns it promptly
    result = await asyncio.wait_for(waiting, 5)
    assert isinstance(result, ReceiveResult)
    assert [m.body for m in result.messages] == [b"wake up"]
    assert time.monotonic() - sent_at < 0.5


async def test_unknown_members_are_not_reachable_without_the_secret(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    # /v1/status needs the secret too; health and readiness do not
    leader = await cluster.leader()
    address = cluster.nodes[leader].api_address
    async with session.get(f"http://{address}/v1/status") as response:
        assert response.status == 401
    async with session.get(f"http://{address}/healthz") as response:
        assert response.status == 200
    async with session.get(f"http://{address}/readyz") as response:
        assert response.status == 200
    async with session.get(f"http://{address}/metrics") as response:
        text = await response.text()
        assert "raftq_raft_is_leader" in text and "raftq_journal_fsyncs" in text

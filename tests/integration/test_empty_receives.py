"""Receives on real backend processes: a receive that finds nothing writes no log entry (the
leader answers from its state after a read index), a send wakes only as many long polls as it
made messages visible, long polls end when leadership is lost, and a new leader still delivers
every committed message (DESIGN.md §1 promises 2 and 3; §2 "empty receives do not write the
log once leadership is confirmed")."""

from __future__ import annotations

import asyncio
import time

import pytest

from raftq.common.backend_client import BackendClient
from raftq.common.commands import ReceiveMessages
from raftq.common.errors import RaftqError
from raftq.common.results import ReceiveResult
from tests.integration.cluster import Cluster, eventually
from tests.integration.workload import create_queue, drain, send_many, send_one

pytestmark = pytest.mark.integration


async def _commit_index(cluster: Cluster, i: int) -> int:
    status = await cluster.status(i)
    assert status is not None
    index: int = status["commit_index"]
    return index


async def _metric(cluster: Cluster, i: int, name: str, label: str = "") -> float:
    url = f"http://{cluster.nodes[i].api_address}/metrics"
    async with cluster.session.get(url) as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name) and label in line:
            return float(line.split()[-1])
    raise AssertionError(f"no metric {name} {label} on node {i}")


async def _answered_from_state(cluster: Cluster, i: int) -> float:
    return await _metric(cluster, i, "raftq_receives_total", 'answered="from_state"')


async def _receive(client: BackendClient, queue: str, wait_ms: int = 0) -> ReceiveResult:
    command = ReceiveMessages(now_ms=0, queue=queue, max_messages=10, visibility_timeout_ms=60_000)
    result = await client.execute(command, wait_ms=wait_ms)
    assert isinstance(result, ReceiveResult), result
    return result


async def _waiting_polls(cluster: Cluster, leader: int, count: int) -> None:
    async def probe() -> bool | None:
        waiting = await _metric(cluster, leader, "raftq_long_poll_waiting")
        return True if waiting == count else None

    await eventually(probe, timeout_s=5, what=f"{count} long polls waiting on the leader")


async def test_empty_receives_leave_the_commit_index_unchanged_and_a_send_is_still_delivered(
    cluster: Cluster,
) -> None:
    # Given an empty queue and the leader's commit index once every replica applied it
    await create_queue(cluster.client, "jobs")
    leader = await cluster.leader()
    await cluster.converged()
    before = await _commit_index(cluster, leader)
    answered_before = await _answered_from_state(cluster, leader)

    # When 30 receives find nothing
    started = time.monotonic()
    for _ in range(30):
        assert (await _receive(cluster.client, "jobs")).messages == ()
    mean_ms = (time.monotonic() - started) / 30 * 1000

    # Then no entry was written, and the leader answered each from its state
    assert await _commit_index(cluster, leader) == before
    assert await _answered_from_state(cluster, leader) == answered_before + 30
    print(f"empty receive, mean round trip through the client: {mean_ms:.1f} ms")

    # And a message sent next is delivered by the next receive
    await send_one(cluster.client, "jobs", b"hello")
    assert [m.body for m in (await _receive(cluster.client, "jobs")).messages] == [b"hello"]


async def test_a_send_wakes_only_as_many_long_polls_as_it_made_messages_visible(
    cluster: Cluster,
) -> None:
    # Given four receives long-polling an empty queue on the leader
    await create_queue(cluster.client, "jobs")
    leader = await cluster.leader()
    polls = [asyncio.create_task(_receive(cluster.client, "jobs", wait_ms=8_000)) for _ in range(4)]
    await _waiting_polls(cluster, leader, 4)
    commit_before = await _commit_index(cluster, leader)
    answered_before = await _answered_from_state(cluster, leader)

    # When one message is sent
    await send_one(cluster.client, "jobs", b"one")

    # Then one poll returns it, and the three others go on waiting without having looked
    done, waiting = await asyncio.wait(polls, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1
    assert [m.body for m in done.pop().result().messages] == [b"one"]
    await _waiting_polls(cluster, leader, 3)
    assert await _answered_from_state(cluster, leader) == answered_before
    # And the log grew by one entry: the send, with the receive that delivered it riding along
    assert await _commit_index(cluster, leader) - commit_before == 1
    assert await _metric(cluster, leader, "raftq_receives_total", 'answered="rode_along"') == 1

    # When two messages are sent in one batch, two more polls get them between them
    await send_many(cluster.client, "jobs", 2, "two", concurrency=1)
    still: set[asyncio.Task[ReceiveResult]] = set(waiting)
    bodies: list[bytes] = []
    while len(bodies) < 2:
        finished, still = await asyncio.wait(still, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert finished, "a sent message woke no long poll"
        bodies += [m.body for task in finished for m in task.result().messages]
    assert sorted(bodies) == [b"two-0", b"two-1"]
    assert len(still) >= 1
    for task in still:
        task.cancel()
    await asyncio.gather(*still, return_exceptions=True)


async def test_a_long_poll_ends_when_its_leader_loses_leadership(cluster: Cluster) -> None:
    # Given a receive long-polling for 15 s on the leader
    await create_queue(cluster.client, "jobs")
    leader = await cluster.leader()
    only_leader = cluster.client_for([leader], timeout_s=30, follow_leader=False)
    poll = asyncio.create_task(_receive(only_leader, "jobs", wait_ms=15_000))
    await _waiting_polls(cluster, leader, 1)

    # When both followers freeze, so the leader steps down (about 1 s)
    followers = [i for i in range(3) if i != leader]
    for i in followers:
        cluster.pause(i)
    frozen_at = time.monotonic()
    try:
        # Then the poll answers, empty, long before its deadline
        result = await asyncio.wait_for(poll, 10)
        assert result.messages == ()
        assert time.monotonic() - frozen_at < 5
    finally:
        for i in followers:
            cluster.resume(i)
    await cluster.leader(timeout_s=10)


async def test_after_the_leader_is_killed_the_new_leader_delivers_what_was_committed(
    cluster: Cluster,
) -> None:
    # Given acknowledged messages, and receives that found the queue empty before them
    await create_queue(cluster.client, "orders")
    assert (await _receive(cluster.client, "orders")).messages == ()
    acknowledged = await send_many(cluster.client, "orders", 20, "m")
    assert len(acknowledged) == 20
    old = await cluster.leader()

    # When the leader is killed
    cluster.kill(old)
    others = [i for i in range(3) if i != old]
    new = await cluster.leader(timeout_s=10, among=others)
    survivors = cluster.client_for(others)

    # Then receives on the new leader find every committed message (a drain interrupted by
    # the election is resumed: what it received and deleted is kept)
    received: set[bytes] = set()

    async def drained() -> bool | None:
        try:
            received.update(await drain(survivors, "orders"))
        except RaftqError:
            return None
        return True

    await eventually(drained, timeout_s=10, what="a drain on the new leader")
    assert received == acknowledged
    # And its empty receives are answered from its state, writing nothing
    before = await _commit_index(cluster, new)
    for _ in range(10):
        assert (await _receive(survivors, "orders")).messages == ()
    assert await _commit_index(cluster, new) == before

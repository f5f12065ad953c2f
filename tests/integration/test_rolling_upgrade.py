"""A rolling upgrade of a running backend cluster under load: three real processes started as the
previous release (`--max-command-level 2`, which applies and advertises what that release did),
each restarted as the new one in turn while clients send, receive and delete. Nothing
acknowledged is lost, the replicas converge, no node stops on an entry it cannot apply, and the
leader writes the new entry format (v3) only once every member advertises level 3
(docs/upgrades.md)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from raftq.common.backend_client import BackendClient
from raftq.common.commands import DeleteEntry, DeleteMessages, ReceiveMessages
from raftq.common.errors import RaftqError
from raftq.common.results import ReceiveResult
from tests.integration.cluster import Cluster, eventually
from tests.integration.workload import create_queue, send_one, stats

pytestmark = pytest.mark.integration

PREVIOUS_RELEASE = ("--max-command-level", "2")
QUEUE = "orders"


@dataclass
class Load:
    """Senders and a consumer running through the whole upgrade; what was acknowledged."""

    client: BackendClient
    acknowledged: set[bytes] = field(default_factory=set)
    consumed: set[bytes] = field(default_factory=set)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, sender: int) -> None:
        sent = 0
        while not self.stopping.is_set():
            body = f"s{sender}-{sent}".encode()
            sent += 1
            with contextlib.suppress(RaftqError):  # unknown outcomes are allowed to go either way
                if (await send_one(self.client, QUEUE, body)).sent:
                    self.acknowledged.add(body)
            await asyncio.sleep(0.005)

    async def consume(self) -> None:
        while not self.stopping.is_set():
            try:
                received = await self.client.execute(
                    ReceiveMessages(
                        now_ms=0, queue=QUEUE, max_messages=10, visibility_timeout_ms=2_000
                    )
                )
                assert isinstance(received, ReceiveResult), received
                # Received is delivered (at least once): a delete whose outcome is unknown may
                # have removed them, and one that failed lets them come back
                self.consumed.update(message.body for message in received.messages)
                entries = tuple(
                    DeleteEntry(entry_id=f"d{i}", receipt_handle=message.receipt_handle)
                    for i, message in enumerate(received.messages)
                )
                if entries:
                    await self.client.execute(
                        DeleteMessages(now_ms=0, queue=QUEUE, entries=entries)
                    )
            except RaftqError:
                pass  # a failover: messages not deleted come back after their visibility timeout
            await asyncio.sleep(0.02)


@dataclass
class Watch:
    """Every node's status, polled through the test: what would show the gate failing."""

    cluster: Cluster
    failures: list[str] = field(default_factory=list)
    early_v3: list[str] = field(default_factory=list)  # level 3 agreed while an old node runs
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self.stopping.is_set():
            statuses = [await self._status(i) for i in range(len(self.cluster.nodes))]
            old_running = any(s is not None and s["max_command_level"] == 2 for s in statuses)
            for status in statuses:
                if status is None:
                    continue
                if status["failure"] is not None:
                    self.failures.append(f"{status['node_id']}: {status['failure']}")
                if old_running and status["command_level"] == 3:
                    self.early_v3.append(f"{status['node_id']} agreed level 3 beside an old node")
            await asyncio.sleep(0.05)

    async def _status(self, i: int) -> dict[str, Any] | None:
        with contextlib.suppress(Exception):
            return await self.cluster.status(i)
        return None


async def step_down(cluster: Cluster, i: int) -> None:
    """Node `i`, the leader, hands leadership over (`raftq admin raft step-down --node`)."""
    handed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "raftq.client.cli", "admin",
         "--operator-secret-file", str(cluster.root / "operator.secret"),
         "raft", "step-down", "--node", cluster.nodes[i].api_address],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert handed.returncode == 0, handed.stderr
    await cluster.leader(timeout_s=20, among=[k for k in range(len(cluster.nodes)) if k != i])


async def upgrade(cluster: Cluster, load: Load, i: int) -> None:
    """Kill node `i`, start it as the new release, and wait until it caught up and sends go on."""
    before = len(load.acknowledged)
    cluster.kill(i)
    cluster.start(i)
    await caught_up(cluster, i)
    await eventually(lambda: _at_least(load.acknowledged, before + 20), 30, "sends to go on")


async def _answers(cluster: Cluster, i: int) -> bool | None:
    return True if await cluster.status(i) is not None else None


async def caught_up(cluster: Cluster, i: int, level: int = 3) -> None:
    """Node `i` answers, runs at `level` (3: the new release), and applied what the leader had
    committed."""
    leader = await cluster.leader(timeout_s=20)
    leader_status = await cluster.status(leader)
    assert leader_status is not None
    committed = leader_status["commit_index"]

    async def probe() -> bool | None:
        status = await cluster.status(i)
        if status is None or status["max_command_level"] != level:
            return None
        return True if status["last_applied"] >= committed else None

    await eventually(probe, 30, f"node {i} to catch up to {committed}")


async def leader_status(cluster: Cluster) -> dict[str, Any]:
    status = await cluster.status(await cluster.leader(timeout_s=20))
    assert status is not None
    return status


async def drain_all(client: BackendClient) -> set[bytes]:
    """Receive and delete until nothing is left, in flight included (leases of the load's
    consumer that it could not delete run out within its visibility timeout)."""
    received: set[bytes] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = await client.execute(
            ReceiveMessages(now_ms=0, queue=QUEUE, max_messages=100, visibility_timeout_ms=60_000)
        )
        assert isinstance(result, ReceiveResult), result
        if result.messages:
            received.update(message.body for message in result.messages)
            entries = tuple(
                DeleteEntry(entry_id=f"d{i}", receipt_handle=message.receipt_handle)
                for i, message in enumerate(result.messages)
            )
            await client.execute(DeleteMessages(now_ms=0, queue=QUEUE, entries=entries))
            continue
        left = await stats(client, QUEUE)
        if left.in_flight == 0 and left.delayed == 0:
            return received
        await asyncio.sleep(0.2)
    raise AssertionError("the queue did not drain in 30 s")


async def test_a_cluster_upgraded_one_node_at_a_time_under_load_loses_nothing(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given a three-node cluster of the previous release, under a load of sends and receives
    cluster = cluster_factory()
    for i in range(3):
        cluster.start(i, *PREVIOUS_RELEASE)
    await cluster.leader(timeout_s=20)
    await create_queue(cluster.client, QUEUE)
    load = Load(cluster.new_client(timeout_s=5))
    watch = Watch(cluster)
    running = [asyncio.create_task(load.send(k)) for k in range(4)]
    running += [asyncio.create_task(load.consume()), asyncio.create_task(watch.run())]
    await eventually(lambda: _at_least(load.acknowledged, 50), 20, "sends before the upgrade")
    assert (await leader_status(cluster))["command_level"] == 2

    # When one follower, then the leader (once it handed leadership over), are killed and
    # started as the new release, each once the one before caught up
    first_leader = await cluster.leader()
    follower, last = [i for i in range(3) if i != first_leader]
    for i in (follower, first_leader):
        if i == first_leader:
            await step_down(cluster, i)
        await upgrade(cluster, load, i)
        # Then, with an old member left, the group stays at level 2
        status = await leader_status(cluster)
        assert status["command_level"] == 2, status

    # When a new node leads while the old one serves (if the old one leads, it is killed and
    # started again as the old release until a new node is elected)
    for _ in range(5):
        if (await leader_status(cluster))["max_command_level"] == 3:
            break
        cluster.kill(last)
        await cluster.leader(timeout_s=20, among=[follower, first_leader])
        cluster.start(last, *PREVIOUS_RELEASE)
        await eventually(lambda: _answers(cluster, last), 20, "the old node back")
    assert (await leader_status(cluster))["max_command_level"] == 3, "no new node leads"
    await caught_up(cluster, last, level=2)
    before = len(load.acknowledged)
    await eventually(lambda: _at_least(load.acknowledged, before + 100), 30, "sends")
    # Then the new leader writes the old format (v2) only: its old member applies it
    status = await leader_status(cluster)
    assert status["command_level"] == 2, status
    assert list(status["entries_proposed_by_format"]) == ["2"], status
    await caught_up(cluster, last, level=2)
    # And it refuses a membership change, which the old release applies differently
    await _membership_changes_wait(cluster, last)

    # When the last old node is upgraded
    await upgrade(cluster, load, last)

    # Then once every member runs the new release, the leader agrees on level 3 and writes v3
    async def new_format_written() -> dict[str, Any] | None:
        status = await leader_status(cluster)
        written = status["command_level"] == 3 and status["entries_proposed_by_format"].get("3")
        return status if written else None

    upgraded = await eventually(new_format_written, 20, "v3 entries from the leader")
    load.stopping.set()
    await asyncio.gather(*running[:-1])
    watch.stopping.set()
    await running[-1]
    # And no node stopped on an entry, and no node agreed level 3 beside an old one
    assert watch.failures == [], watch.failures
    assert watch.early_v3 == [], watch.early_v3
    # And the replicas converge, and every acknowledged message was received
    await cluster.converged(timeout_s=30)
    received = load.consumed | await drain_all(cluster.client)
    lost = load.acknowledged - received
    print(
        f"{len(load.acknowledged)} sends acknowledged, {len(load.consumed)} consumed under load; "
        f"leader after the upgrade: {upgraded['entries_proposed_by_format']}"
    )
    assert not lost, f"{len(lost)} acknowledged messages lost, e.g. {sorted(lost)[:5]}"
    await cluster.converged(timeout_s=30)


async def _at_least(items: set[bytes], count: int) -> bool | None:
    return True if len(items) >= count else None


async def _membership_changes_wait(cluster: Cluster, old: int) -> None:
    """A membership change is refused while the member `old` runs the release before."""
    removal = {"action": "remove", "node_id": cluster.nodes[old].node_id}
    refused = await cluster.post_json(await cluster.leader(), "/v1/raft/members", removal)
    assert refused[0] == 503 and "upgrade" in refused[1]["message"], refused

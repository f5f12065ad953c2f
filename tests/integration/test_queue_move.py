"""A queue moves between two real backend clusters while producers and consumers use it, driven
by `raftq admin queues move` against a real metadata group (issue 5, deliverable 3).

Clients route by the catalogue's placement and, on `QueueMoved` or `QueueDoesNotExist`, look it
up again and retry; sends carry a dedup id, so a retry whose first try the source acknowledged
is recognized on the target. The count check: every acknowledged send is received and deleted,
every body has exactly one message id (nothing duplicated by the move), and the queue ends
empty on the target with no replica left on the source.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from raftq.common.commands import (
    DeleteEntry,
    DeleteMessages,
    GetQueueStats,
    ListQueues,
    ReceiveMessages,
    SendEntry,
    SendMessages,
)
from raftq.common.errors import QueueMoved, QueueNotFound, RaftqError
from raftq.common.metadata_api import CreateQueueRequest, MoveQueueRequest
from raftq.common.results import (
    BatchResult,
    Failure,
    QueueList,
    QueueStats,
    ReceiveResult,
    SendResult,
)
from tests.integration.cluster import OPERATOR_SECRET, Cluster, eventually

pytestmark = pytest.mark.integration

QUEUE = "orders"
PRODUCERS = 3
CONSUMERS = 2


@dataclass
class Router:
    """Routes a queue's commands to the cluster its catalogue placement names."""

    metadata: Cluster
    clusters: dict[str, Cluster]
    reroutes: int = 0
    placements: list[tuple[str, int]] = field(default_factory=list)

    async def placement(self) -> tuple[str, str]:
        for i in range(len(self.metadata.nodes)):
            found = await self.metadata.get_json(i, f"/v1/queues/{QUEUE}")
            if found is not None and found["served_by"] == "leader":
                queue = found["queue"]
                seen = (queue["placement"]["cluster_id"], queue["placement"]["epoch"])
                if not self.placements or self.placements[-1] != seen:
                    self.placements.append(seen)
                return queue["placement"]["cluster_id"], queue["queue_id"]
        raise RaftqError("no metadata leader answered")

    async def execute(self, make: Callable[[str, int], object]) -> object:
        """Run the command `make(queue_id, now_ms)` where the queue lives, retrying until a
        cluster that serves it answers."""
        for _ in range(600):
            try:
                cluster_id, queue_id = await self.placement()
                command = make(queue_id, 0)
                result = await self.clusters[cluster_id].client.execute(command)  # type: ignore[arg-type]
            except RaftqError:
                await asyncio.sleep(0.05)
                continue
            if isinstance(result, Failure) and result.code in (QueueMoved.code, QueueNotFound.code):
                self.reroutes += 1
                await asyncio.sleep(0.05)
                continue
            return result
        raise AssertionError("the queue stayed unreachable for 30 s")


@dataclass
class History:
    acknowledged: set[str] = field(default_factory=set)
    ids: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    deliveries: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    deleted: set[str] = field(default_factory=set)


async def produce(router: Router, history: History, producer: int, stop: asyncio.Event) -> None:
    number = 0
    while not stop.is_set():
        body = f"p{producer}-{number}"

        def send(queue_id: str, now_ms: int, body: str = body) -> SendMessages:
            entry = SendEntry(entry_id="e", body=body.encode(), dedup_id=body)
            return SendMessages(now_ms=now_ms, queue=queue_id, entries=(entry,))

        result = await router.execute(send)
        assert isinstance(result, SendResult) and not result.failed, result
        history.acknowledged.add(body)
        history.ids[body].add(result.sent[0].message_id)
        number += 1


async def consume(router: Router, history: History, done: asyncio.Event) -> None:
    while not done.is_set():

        def receive(queue_id: str, now_ms: int) -> ReceiveMessages:
            return ReceiveMessages(
                now_ms=now_ms, queue=queue_id, max_messages=10, visibility_timeout_ms=5_000
            )

        result = await router.execute(receive)
        assert isinstance(result, ReceiveResult), result
        if not result.messages:
            await asyncio.sleep(0.05)
            continue
        for message in result.messages:
            body = message.body.decode()
            history.deliveries[body] += 1
            history.ids[body].add(message.message_id)
        entries = tuple(
            DeleteEntry(entry_id=f"d{i}", receipt_handle=m.receipt_handle)
            for i, m in enumerate(result.messages)
        )

        def delete(
            queue_id: str, now_ms: int, entries: tuple[DeleteEntry, ...] = entries
        ) -> DeleteMessages:
            return DeleteMessages(now_ms=now_ms, queue=queue_id, entries=entries)

        deleted = await router.execute(delete)
        assert isinstance(deleted, BatchResult), deleted
        for i, message in enumerate(result.messages):
            if f"d{i}" in deleted.succeeded:
                history.deleted.add(message.body.decode())


async def test_a_queue_moves_under_load_losing_and_duplicating_nothing(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given a metadata group and two backend clusters that register with it
    metadata = cluster_factory("--log-level", "INFO", name="metadata", kind="metadata")
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    c1 = cluster_factory("--cluster-id", "c1", *registering, name="c1")
    c2 = cluster_factory("--cluster-id", "c2", *registering, name="c2")
    for cluster in (metadata, c1, c2):
        cluster.start_all()
    for cluster in (metadata, c1, c2):
        await cluster.leader(timeout_s=30)

    async def both_report() -> bool | None:
        catalogue = await metadata.get_json(0, "/v1/catalogue")
        clusters = catalogue["clusters"] if catalogue else []
        return (
            True if len(clusters) == 2 and all(len(c["reports"]) == 3 for c in clusters) else None
        )

    await eventually(both_report, timeout_s=60, what="both clusters to report")
    created = await metadata.metadata_client().create_queue(
        CreateQueueRequest(actor="admin", name=QUEUE)
    )
    source = created.queue.placement.cluster_id
    target = "c2" if source == "c1" else "c1"
    router = Router(metadata, {"c1": c1, "c2": c2})
    history = History()

    # When producers and consumers run, and the queue is moved part-way through
    stop_producing, drained = asyncio.Event(), asyncio.Event()
    producers = [
        asyncio.create_task(produce(router, history, p, stop_producing)) for p in range(PRODUCERS)
    ]
    consumers = [asyncio.create_task(consume(router, history, drained)) for _ in range(CONSUMERS)]
    await asyncio.sleep(3)
    before_move = len(history.acknowledged)
    env = {
        **os.environ,
        "RAFTQ_METADATA": ",".join(node.api_address for node in metadata.nodes),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
    }
    move = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "raftq.client.cli", "admin", "--json",
        "queues", "move", QUEUE, "--to", target, "--timeout-s", "60",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(move.communicate(), timeout=90)
    assert move.returncode == 0, err.decode()
    moved = json.loads(out)
    assert (moved["cluster"], moved["epoch"], moved["lifecycle"]) == (target, 2, "active")
    assert f"{QUEUE}: moving to {target}" in err.decode()  # progress was shown
    await asyncio.sleep(2)
    stop_producing.set()
    await asyncio.gather(*producers)

    async def all_deleted() -> bool | None:
        return True if history.acknowledged <= history.deleted else None

    await eventually(all_deleted, timeout_s=60, what="every acknowledged message to be consumed")
    drained.set()
    await asyncio.gather(*consumers)

    # Then nothing acknowledged was lost, and nothing was duplicated by the move
    assert before_move > 0 and len(history.acknowledged) > before_move
    assert history.acknowledged == history.deleted
    assert all(len(history.ids[body]) == 1 for body in history.acknowledged)
    assert set(history.deliveries) == history.acknowledged
    assert router.placements[0] == (source, 1) and router.placements[-1] == (target, 2)
    # The target holds the queue, now empty; the source holds no replica of it.
    stats = await router.execute(
        lambda queue_id, now_ms: GetQueueStats(now_ms=now_ms, queue=queue_id)
    )
    assert stats == QueueStats(visible=0, in_flight=0, delayed=0, dead_letter_pending=0)
    left = await router.clusters[source].client.execute(ListQueues(now_ms=0))
    assert isinstance(left, QueueList) and created.queue.queue_id not in left.queue_ids
    # And the metadata leader logged the move's start and end once each, by the queue's name
    events = [
        (line["event"], line["queue"])
        for node in metadata.nodes
        for line in map(json.loads, node.log_path.read_text().splitlines())
        if line["event"] in ("queue_move_started", "queue_moved")
    ]
    assert events == [("queue_move_started", QUEUE), ("queue_moved", QUEUE)]
    redeliveries = sum(count - 1 for count in history.deliveries.values())
    print(err.decode())
    print(
        f"moved with {len(history.acknowledged)} messages acknowledged "
        f"({before_move} before the move), {router.reroutes} reroutes, "
        f"{redeliveries} redeliveries"
    )


async def test_a_move_cut_short_by_a_killed_metadata_leader_is_finished_by_the_next(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given a queue of 10,000 messages on one of two clusters (a copy of about a second)
    metadata = cluster_factory(name="metadata", kind="metadata")
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    clusters = {
        cluster_id: cluster_factory("--cluster-id", cluster_id, *registering, name=cluster_id)
        for cluster_id in ("c1", "c2")
    }
    for cluster in (metadata, *clusters.values()):
        cluster.start_all()
    for cluster in (metadata, *clusters.values()):
        await cluster.leader(timeout_s=30)

    async def both_report() -> bool | None:
        catalogue = await metadata.get_json(0, "/v1/catalogue")
        found = catalogue["clusters"] if catalogue else []
        return True if len(found) == 2 and all(len(c["reports"]) == 3 for c in found) else None

    await eventually(both_report, timeout_s=60, what="both clusters to report")
    client = metadata.metadata_client()
    created = await client.create_queue(CreateQueueRequest(actor="admin", name=QUEUE))
    queue_id, source = created.queue.queue_id, created.queue.placement.cluster_id
    target = "c2" if source == "c1" else "c1"
    for start in range(0, 10_000, 100):
        entries = tuple(
            SendEntry(entry_id=f"e{i}", body=f"m{start + i}".encode(), dedup_id=f"m{start + i}")
            for i in range(100)
        )
        await clusters[source].client.execute(
            SendMessages(now_ms=0, queue=queue_id, entries=entries)
        )

    # When the metadata leader is killed while it copies the queue
    await client.move_queue(MoveQueueRequest(actor="admin", name=QUEUE, target=target))
    old_leader = await metadata.leader()

    async def copying() -> bool | None:
        moves = await metadata.get_json(old_leader, "/v1/moves")
        step = moves["moves"].get(QUEUE) if moves else None
        assert step is None or step["phase"] != "done", step  # killed before the move ends
        return True if step is not None and step["phase"] == "copying" else None

    await eventually(copying, timeout_s=10, what="the copy to be under way", every_s=0.01)
    metadata.kill(old_leader)

    # Then the next leader finishes the move: the target serves every message, under epoch 2,
    # and the source keeps no replica
    async def moved() -> dict[str, object] | None:
        for i in range(3):
            if i == old_leader:
                continue
            found = await metadata.get_json(i, f"/v1/queues/{QUEUE}")
            if found is not None and found["queue"]["lifecycle"] == "active":
                placement: dict[str, object] = found["queue"]["placement"]
                return placement
        return None

    placement = await eventually(moved, timeout_s=60, what="the move to be finished")
    assert placement == {"cluster_id": target, "epoch": 2}
    new_leader = await metadata.leader(among=[i for i in range(3) if i != old_leader])
    resumed = await metadata.get_json(new_leader, "/v1/moves")
    assert resumed is not None and resumed["moves"][QUEUE]["phase"] == "done"
    stats = await clusters[target].client.execute(GetQueueStats(now_ms=0, queue=queue_id))
    assert isinstance(stats, QueueStats) and stats.counts() == (10_000, 0, 0, 0)
    left = await clusters[source].client.execute(ListQueues(now_ms=0))
    assert isinstance(left, QueueList) and queue_id not in left.queue_ids
    again = SendMessages(
        now_ms=0, queue=queue_id, entries=(SendEntry(entry_id="e", body=b"m7", dedup_id="m7"),)
    )
    duplicate = await clusters[target].client.execute(again)
    assert isinstance(duplicate, SendResult) and duplicate.sent[0].duplicate

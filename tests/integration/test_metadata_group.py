"""A metadata group of three real processes keeps every acknowledged catalogue change exactly once
through a leader crash (issue 5: the group itself; the creation protocol across metadata and
backends comes next)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from raftq.common.commands import ListQueues
from raftq.common.errors import BackendUnavailable, OutcomeUnknown, RaftqError
from raftq.common.metadata_api import CreateQueueRequest, DeleteQueueRequest
from raftq.common.metadata_commands import CreatePrincipal, CreateQueue, RegisterCluster
from raftq.common.metadata_models import Placement
from raftq.common.metadata_results import QueueResult
from raftq.common.results import QueueList
from tests.integration.cluster import Cluster, eventually, three_zone_members

pytestmark = pytest.mark.integration


async def test_queue_creations_survive_a_killed_leader_exactly_once(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given a metadata group that knows one backend cluster
    group = cluster_factory(kind="metadata")
    group.start_all()
    await group.leader(timeout_s=20)
    client = group.metadata_client()
    members = three_zone_members(7000, 8000)
    await client.execute(RegisterCluster(now_ms=0, actor="root", cluster_id="c1", members=members))
    await client.execute(CreatePrincipal(now_ms=0, actor="root", principal_id="alice"))

    # When queues are created in a stream while the leader is killed part-way
    created: dict[str, str] = {}

    async def create(i: int) -> None:
        command = CreateQueue(
            now_ms=0,
            actor="alice",
            queue_id=f"id-{i}",
            name=f"q-{i}",
            placement=Placement(cluster_id="c1", epoch=1),
        )
        for _ in range(100):  # retry unknown outcomes with the same command: it is idempotent
            try:
                result = await client.execute(command)
            except (OutcomeUnknown, RaftqError):
                await asyncio.sleep(0.1)
                continue
            assert isinstance(result, QueueResult), result
            created[result.queue.name] = result.queue.queue_id
            return

    for i in range(30):
        if i == 10:
            group.kill(await group.leader())
        await create(i)

    # Then every acknowledged creation is in the catalogue exactly once, on every member,
    # once the old leader is back
    for i, node in enumerate(group.nodes):
        if node.process is not None and node.process.poll() is not None:
            group.start(i)
    await group.converged(timeout_s=30)
    for i in range(3):
        catalogue = await group.get_json(i, "/v1/catalogue")
        assert catalogue is not None
        names = [q["name"] for q in catalogue["queues"]]
        assert len(names) == len(set(names))
        assert {q["name"]: q["queue_id"] for q in catalogue["queues"]} == created
        assert len(created) == 30
    lookup = await group.get_json(0, "/v1/queues/q-3")
    assert lookup is not None and lookup["queue"]["queue_id"] == "id-3"
    assert lookup["served_by"] in ("leader", "follower")


async def test_created_queues_get_a_replica_and_none_is_half_made_after_a_leader_crash(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given a metadata group, and a backend cluster that registers with it and reports its load
    metadata = cluster_factory(name="metadata", kind="metadata")
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    backends = cluster_factory("--cluster-id", "c1", *registering, name="backend")
    metadata.start_all()
    backends.start_all()
    await backends.leader(timeout_s=20)
    await metadata.leader(timeout_s=20)
    client = metadata.metadata_client()

    async def cluster_reports() -> bool | None:
        catalogue = await metadata.get_json(0, "/v1/catalogue")
        clusters = catalogue["clusters"] if catalogue else []
        return True if clusters and len(clusters[0]["reports"]) == 3 else None

    await eventually(cluster_reports, timeout_s=20, what="every backend node to report")

    # When queues are created end to end while the metadata leader is killed part-way
    acknowledged: dict[str, str] = {}
    for i in range(12):
        if i == 5:
            metadata.kill(await metadata.leader())
        request = CreateQueueRequest(actor="alice", name=f"jobs-{i}")
        for _ in range(100):  # a retry of the same request continues the same creation
            try:
                result = await client.create_queue(request)
            except RaftqError:
                await asyncio.sleep(0.1)
                continue
            assert isinstance(result, QueueResult) and result.queue.lifecycle == "active"
            acknowledged[request.name] = result.queue.queue_id
            break
    assert len(acknowledged) == 12

    # Then, once every node is back and the reconciler has had its pass, every queue of the
    # catalogue is active with exactly one replica, and no replica is unknown to the catalogue
    for i, node in enumerate(metadata.nodes):
        if node.process is not None and node.process.poll() is not None:
            metadata.start(i)
    await metadata.converged(timeout_s=30)

    async def settled() -> dict[str, str] | None:
        catalogue = await metadata.get_json(0, "/v1/catalogue")
        if catalogue is None or any(q["lifecycle"] != "active" for q in catalogue["queues"]):
            return None
        return {q["name"]: q["queue_id"] for q in catalogue["queues"]}

    catalogued = await eventually(settled, timeout_s=20, what="no queue left half-made")
    assert catalogued == acknowledged
    replicas = await backends.client.execute(ListQueues(now_ms=0))
    assert isinstance(replicas, QueueList)
    assert sorted(replicas.queue_ids) == sorted(acknowledged.values())

    # And deleting a queue removes its replica, then forgets it
    await client.delete_queue(DeleteQueueRequest(actor="alice", name="jobs-0"))
    replicas = await backends.client.execute(ListQueues(now_ms=0))
    assert isinstance(replicas, QueueList) and acknowledged["jobs-0"] not in replicas.queue_ids


async def test_no_member_says_a_queue_does_not_exist_before_it_has_caught_up(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given a metadata group with queue "early", and a member that was down while "late" was made
    group = cluster_factory(kind="metadata")
    group.start_all()
    client = group.metadata_client()
    members = three_zone_members(7100, 8100)

    async def make(name: str) -> None:
        command = CreateQueue(
            now_ms=0,
            actor="root",
            queue_id=f"id-{name}",
            name=name,
            placement=Placement(cluster_id="c1", epoch=1),
        )
        await client.execute(command)

    await group.leader(timeout_s=20)
    await client.execute(RegisterCluster(now_ms=0, actor="root", cluster_id="c1", members=members))
    await make("early")
    await group.converged(timeout_s=20)
    first_leader = await group.leader()
    lagging = next(i for i in range(3) if i != first_leader)
    group.kill(lagging)
    await make("late")

    # When it starts again alone, with no leader to catch up with
    others = [i for i in range(3) if i != lagging]
    for i in others:
        group.kill(i)
    group.start(lagging)
    await eventually(lambda: group.status(lagging), timeout_s=20, what="the lone member to start")

    # Then it answers no read (it held "early" once, it never held "late"), and a frontend's
    # client reports the group unavailable, not the queue absent
    for path in ("/v1/queues/late", "/v1/queues/early", "/v1/queues/never", "/v1/catalogue"):
        status, _ = await group.get_answer(lagging, path)
        assert status == 503, path
    with pytest.raises(BackendUnavailable):
        await group.metadata_client().get("/v1/queues/late")

    # When the others are back, it catches up and answers
    for i in others:
        group.start(i)
    found = await eventually(
        lambda: group.get_json(lagging, "/v1/queues/late"), timeout_s=30, what="the catch-up"
    )
    assert found["queue"]["queue_id"] == "id-late"

    # And of an unknown queue only the leader says 404; a follower sends the caller on
    leader = await group.leader(timeout_s=20)
    follower = next(i for i in range(3) if i != leader)

    async def leader_says_absent() -> bool | None:
        status, _ = await group.get_answer(leader, "/v1/queues/never")
        return True if status == 404 else None

    await eventually(leader_says_absent, timeout_s=10, what="the leader's 404")
    status, _ = await group.get_answer(follower, "/v1/queues/never")
    assert status not in (200, 404)
    assert await group.metadata_client().get("/v1/queues/never") is None

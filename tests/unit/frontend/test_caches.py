"""The frontend's caches on a fake clock: keys and placements expire, unknown keys are
remembered briefly, and a refused placement is replaced by a newer one."""

from __future__ import annotations

import pytest

from raftq.common.clock import FakeClock
from raftq.common.errors import BackendUnavailable
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_models import Cluster, ClusterMember, Placement, Queue
from raftq.common.queue_attributes import QueueAttributes
from raftq.frontend.caches import (
    KEY_TTL_MS,
    PLACEMENT_TTL_MS,
    UNKNOWN_KEY_TTL_MS,
    KeyCache,
    PlacementCache,
    QueueRoute,
)

CREDENTIALS = KeyCredentials(key_id="RQKEY", principal_id="app", secret="s", grants=())


async def test_keys_are_remembered_for_their_ttl_and_unknown_ones_briefly() -> None:
    clock = FakeClock()
    calls: list[str] = []

    async def fetch(key_id: str) -> KeyCredentials | None:
        calls.append(key_id)
        return CREDENTIALS if key_id == "RQKEY" else None

    keys = KeyCache(fetch, clock)
    assert await keys.get("RQKEY") == CREDENTIALS
    assert await keys.get("RQNOPE") is None
    clock.advance(UNKNOWN_KEY_TTL_MS - 1)
    await keys.get("RQKEY")
    await keys.get("RQNOPE")
    assert calls == ["RQKEY", "RQNOPE"]
    clock.advance(1)
    await keys.get("RQNOPE")
    clock.advance(KEY_TTL_MS)
    await keys.get("RQKEY")
    assert calls == ["RQKEY", "RQNOPE", "RQNOPE", "RQKEY"]


def route(epoch: int, cluster_id: str = "c1") -> QueueRoute:
    queue = Queue(
        queue_id="q-1",
        name="orders",
        owner="app",
        fifo=False,
        attributes=QueueAttributes(),
        placement=Placement(cluster_id=cluster_id, epoch=epoch),
        lifecycle="active",
        created_at_ms=1,
    )
    member = ClusterMember(
        node_id="n1", zone="a", raft_address="127.0.0.1:1", api_address="127.0.0.1:2"
    )
    return QueueRoute(queue, Cluster(cluster_id=cluster_id, members=(member,)))


async def test_a_refused_placement_is_replaced_by_a_newer_one() -> None:
    clock = FakeClock()
    answers = [route(1), route(1), route(1), route(2, "c2")]
    slept: list[float] = []

    async def fetch(name: str) -> QueueRoute | None:
        return answers.pop(0)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    placements = PlacementCache(fetch, clock, sleep=sleep)
    assert (await placements.get("orders")) == route(1)
    assert (await placements.get("orders")) == route(1)  # cached: no fetch
    fresh = await placements.refresh("orders", newer_than=1)  # lagging answers, then the switch
    assert fresh is not None and (fresh.epoch, fresh.members) == (2, ["127.0.0.1:2"])
    assert len(slept) == 2 and not answers
    assert (await placements.get("orders")) == fresh


async def test_a_placement_that_stays_old_is_unavailable_for_now() -> None:
    async def fetch(name: str) -> QueueRoute | None:
        return route(3)

    async def sleep(seconds: float) -> None:
        return None

    placements = PlacementCache(fetch, FakeClock(), attempts=3, sleep=sleep)
    with pytest.raises(BackendUnavailable):
        await placements.refresh("orders", newer_than=3)


async def test_placements_expire_and_missing_queues_are_remembered_briefly() -> None:
    clock = FakeClock()
    calls = 0

    async def fetch(name: str) -> QueueRoute | None:
        nonlocal calls
        calls += 1
        return None if name == "nope" else route(1)

    placements = PlacementCache(fetch, clock)
    await placements.get("orders")
    assert await placements.get("nope") is None
    clock.advance(1_000)
    await placements.get("nope")
    clock.advance(PLACEMENT_TTL_MS)
    await placements.get("orders")
    assert calls == 4

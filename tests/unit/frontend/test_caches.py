"""The frontend's caches on a fake clock: keys and placements expire, unknown keys are
remembered briefly, a flood of unknown key ids costs the metadata service a bounded amount and
evicts no valid key, and a refused placement is replaced by a newer one."""

from __future__ import annotations

import asyncio
import random
import string

import pytest

from raftq.common.clock import FakeClock
from raftq.common.errors import BackendUnavailable, Throttled
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_models import Cluster, ClusterMember, Placement, Queue
from raftq.common.queue_attributes import QueueAttributes
from raftq.frontend.caches import (
    KEY_TTL_MS,
    MAX_MISSES_IN_FLIGHT,
    MAX_UNKNOWN_KEYS,
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


class FakeKeyLookup:
    """The metadata service's key lookup: it knows RQKEY only, counts every call, and holds
    the lookups of ids starting with one of `held` until `release()`."""

    def __init__(self, held: tuple[str, ...] = ("RQSLOW",)) -> None:
        self.calls: list[str] = []
        self._held = held
        self._released = asyncio.Event()

    async def __call__(self, key_id: str) -> KeyCredentials | None:
        self.calls.append(key_id)
        if key_id.startswith(self._held):
            await self._released.wait()
        return CREDENTIALS if key_id == "RQKEY" else None

    def release(self) -> None:
        self._released.set()


async def fill_the_miss_cap(keys: KeyCache) -> list[asyncio.Task[KeyCredentials | None]]:
    """As many held lookups of unknown ids as may run at once, all started."""
    slow = [asyncio.create_task(keys.get(f"RQSLOW{n}")) for n in range(MAX_MISSES_IN_FLIGHT)]
    await asyncio.sleep(0)  # one turn of the loop: each has reached its lookup
    return slow


async def refused_at_once(keys: KeyCache, key_id: str) -> Throttled:
    """The error `keys.get(key_id)` fails with before any lookup could answer."""
    attempt = asyncio.create_task(keys.get(key_id))
    await asyncio.sleep(0)
    assert attempt.done(), f"{key_id} waits for a lookup instead of being refused"
    error = attempt.exception()
    assert isinstance(error, Throttled), error
    return error


async def test_a_flood_of_random_key_ids_does_not_evict_a_valid_key() -> None:
    # Given a valid key, looked up once and then left the least recently used of all
    lookup = FakeKeyLookup()
    keys = KeyCache(lookup, FakeClock())
    assert await keys.get("RQKEY") == CREDENTIALS
    # When as many random ids as the unknown-id cache holds arrive, and one more
    draw = random.Random(11)
    flood = ["RQ" + "".join(draw.choices(string.ascii_uppercase, k=18)) for _ in range(10_000)]
    assert len(flood) >= MAX_UNKNOWN_KEYS
    for key_id in [*flood, "RQONEMORE"]:
        assert await keys.get(key_id) is None
    # Then the valid key is still served from the cache, while the flood pushed out its own
    # oldest id (asked again) and nothing else
    assert await keys.get("RQKEY") == CREDENTIALS
    assert await keys.get(flood[-1]) is None
    assert await keys.get(flood[0]) is None
    assert lookup.calls.count("RQKEY") == 1
    assert lookup.calls.count(flood[-1]) == 1
    assert lookup.calls.count(flood[0]) == 2


async def test_concurrent_lookups_of_one_key_id_share_one_round_trip() -> None:
    # Given a metadata lookup that has not answered yet
    lookup = FakeKeyLookup(held=("RQKEY",))
    keys = KeyCache(lookup, FakeClock())
    # When 100 requests with that key arrive, and the first one goes away
    waiters = [asyncio.create_task(keys.get("RQKEY")) for _ in range(100)]
    await asyncio.sleep(0)
    waiters[0].cancel()
    lookup.release()
    answers = await asyncio.gather(*waiters, return_exceptions=True)
    # Then one round trip answered the 99 others
    assert lookup.calls == ["RQKEY"]
    assert isinstance(answers[0], asyncio.CancelledError)
    assert answers[1:] == [CREDENTIALS] * 99


async def test_misses_beyond_the_cap_are_refused_at_once_while_known_keys_work() -> None:
    # Given a known key, then as many lookups of unknown ids in flight as the cap allows
    clock = FakeClock()
    lookup = FakeKeyLookup()
    keys = KeyCache(lookup, clock)
    await keys.get("RQKEY")
    slow = await fill_the_miss_cap(keys)
    try:
        # When one more unknown id arrives
        error = await refused_at_once(keys, "RQONEMORE")
        # Then it is refused without a round trip, saying what to retry and naming no key id
        assert "RQONEMORE" not in lookup.calls
        assert (error.field, error.retry_after_s) == ("Authorization", 1)
        assert "RQONEMORE" not in error.message
        # ...while the known key is served, and renewed past the cap once its entry expires
        assert await keys.get("RQKEY") == CREDENTIALS
        clock.advance(KEY_TTL_MS)
        assert await keys.get("RQKEY") == CREDENTIALS
        assert lookup.calls.count("RQKEY") == 2
    finally:
        lookup.release()
        assert await asyncio.gather(*slow) == [None] * MAX_MISSES_IN_FLIGHT
    # And once the lookups in flight have answered, a new id is looked up again
    assert await keys.get("RQONEMORE") is None
    assert lookup.calls.count("RQONEMORE") == 1


async def test_an_unknown_key_id_is_a_miss_again_once_its_ttl_ends() -> None:
    # Given an id the metadata service called unknown, then the miss cap full
    clock = FakeClock()
    lookup = FakeKeyLookup()
    keys = KeyCache(lookup, clock)
    assert await keys.get("RQNOPE") is None
    slow = await fill_the_miss_cap(keys)
    try:
        # When it comes back within its TTL, it is answered from the cache, needing no lookup
        clock.advance(UNKNOWN_KEY_TTL_MS - 1)
        assert await keys.get("RQNOPE") is None
        # When its TTL has ended, it is a miss like any other id: refused while the cap is full
        clock.advance(1)
        await refused_at_once(keys, "RQNOPE")
        assert lookup.calls.count("RQNOPE") == 1
    finally:
        lookup.release()
        await asyncio.gather(*slow)
    # ...and looked up again once there is room
    assert await keys.get("RQNOPE") is None
    assert lookup.calls.count("RQNOPE") == 2


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

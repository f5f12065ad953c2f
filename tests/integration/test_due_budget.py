"""`raftq backend --due-transitions-per-entry` sets how many due transitions one Raft entry of
the running node makes (work_budget.py); the leader's sweeps finish the rest. The mass case
(10^6 at once, no election) is bench/mass_transition_bench.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from raftq.common.commands import GetQueueStats, SendEntry, SendMessages
from raftq.common.results import QueueStats
from tests.integration.cluster import Cluster, eventually
from tests.integration.workload import create_queue

pytestmark = pytest.mark.integration

MESSAGES = 23
BUDGET = 5


async def test_a_backend_makes_the_due_transitions_per_entry_it_is_started_with(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given three nodes started with a budget of 5 due transitions per entry, and 23 messages
    # whose delays end at the same moment
    cluster = cluster_factory("--due-transitions-per-entry", str(BUDGET))
    cluster.start_all()
    await cluster.leader(timeout_s=20)
    await create_queue(cluster.client, "q")
    entries = tuple(SendEntry(entry_id=str(i), body=b"m", delay_ms=1_000) for i in range(MESSAGES))
    await cluster.client.execute(SendMessages(now_ms=0, queue="q", entries=entries))

    async def visible() -> int | None:
        counts = await cluster.client.execute(GetQueueStats(now_ms=0, queue="q"))
        assert isinstance(counts, QueueStats)
        return counts.visible or None

    # When the counts are read, each read an entry of its own, as soon as the delays ended
    first = await eventually(visible, timeout_s=10, what="a visible message", every_s=0.01)
    # Then entries made them 5 at a time, not all 23 in one (a node with the default budget
    # shows 23 at the first read; the leader's sweeps, every 5 s, may have made a few entries'
    # worth before it)
    assert first < MESSAGES
    assert first % BUDGET == 0

    # And reads and sweeps finish the rest
    async def all_visible() -> int | None:
        count = await visible()
        return count if count == MESSAGES else None

    await eventually(all_visible, timeout_s=20, what="every message visible")
    await cluster.converged()

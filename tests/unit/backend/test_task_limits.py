"""Rate limits of task types, held by the replicated state for all workers together."""

from __future__ import annotations

from raftq.backend.store import MemoryStore
from raftq.common.commands import GetTaskLimits
from raftq.common.tasks_wire import TaskLimits, TaskOutcome
from tests.replica import ReplicaGroup
from tests.unit.backend.task_replica import TaskReplica

SECOND_MS = 1_000


class TaskGroup(ReplicaGroup, TaskReplica):
    pass


def group() -> TaskGroup:
    g = TaskGroup([MemoryStore() for _ in range(3)])
    g.create("q")
    return g


def test_starts_per_second_hold_across_workers_and_refill_on_state_time() -> None:
    g = group()
    g.limit("report", rate_milli=2_000)  # two starts per second
    g.submit(task_type="report", count=10)
    leased = [len(g.lease(worker=f"w{i}").messages) for i in range(3)]
    assert leased == [2, 0, 0]  # the bucket is one second deep, shared by every worker
    g.advance(500)
    assert len(g.lease(worker="w2").messages) == 1
    g.advance(SECOND_MS)
    assert len(g.lease(worker="w1").messages) == 2
    g.assert_replicas_agree()


def test_a_throttled_lease_says_when_the_next_start_is_allowed() -> None:
    g = group()
    g.limit("report", rate_milli=500)  # one start every two seconds
    g.submit(task_type="report", count=2)
    assert len(g.lease().messages) == 1
    refused = g.lease()
    assert not refused.messages and refused.next_visible_at_ms == g.now_ms + 2 * SECOND_MS


def test_at_most_max_running_at_once_and_a_finish_frees_a_slot() -> None:
    g = group()
    g.limit("render", max_running=2)
    g.submit(task_type="render", count=5)
    first = g.lease(worker="a").messages
    assert len(first) == 2 and not g.lease(worker="b").messages
    g.finish(first[0].receipt_handle, TaskOutcome.SUCCEEDED)
    assert len(g.lease(worker="b").messages) == 1
    limits = g.expect(GetTaskLimits(now_ms=g.now_ms, queue="q"), TaskLimits)
    [render] = limits.limits
    assert (render.max_running, render.running) == (2, 2)
    g.assert_replicas_agree()


def test_a_lapsed_lease_frees_its_slot() -> None:
    g = group()
    g.limit("render", max_running=1)
    g.submit(task_type="render", count=2)
    assert len(g.lease(lease_ms=5 * SECOND_MS).messages) == 1
    assert not g.lease().messages
    g.advance(5 * SECOND_MS)
    assert len(g.lease().messages) == 1


def test_a_limited_type_is_passed_over_and_other_types_still_start() -> None:
    g = group()
    g.limit("slow", max_running=1)
    g.submit(task_type="slow", count=3)
    g.submit(task_type="fast", count=2)
    types = sorted(m.body for m in g.lease(max_tasks=10).messages)
    assert len(types) == 3  # one slow, both fast
    g.assert_replicas_agree()


def test_clearing_the_limits_lets_everything_start() -> None:
    g = group()
    g.limit("render", max_running=1)
    g.submit(task_type="render", count=3)
    g.limit("render")
    assert len(g.lease().messages) == 3
    assert g.expect(GetTaskLimits(now_ms=g.now_ms, queue="q"), TaskLimits).limits == ()

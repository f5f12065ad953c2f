"""The task events a replica's entries carry to its metrics (task_events.py): one per
transition, with the attempt's duration from the task record's times, dropped with a command
that fails; and the counters they feed (task_metrics.py)."""

from __future__ import annotations

from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.store import MemoryStore
from raftq.backend.task_events import TaskEvent, TaskEventKind
from raftq.backend.task_metrics import TaskMetrics
from raftq.backend.txn import Txn
from raftq.common.commands import CancelTasks, SetQueueAttributes
from raftq.common.queue_attributes import QueueAttributeChanges, RedrivePolicy
from raftq.common.tasks_wire import TaskOutcome
from tests.unit.backend.task_replica import TaskReplica

K = TaskEventKind


def observed() -> tuple[TaskReplica, list[TaskEvent]]:
    """A replica with queue "q" whose machine hands its task events to the list."""
    events: list[TaskEvent] = []
    r = TaskReplica()
    r.machine = QueueStateMachine(r.store, r.budget, events.extend)
    r.create("q")
    return r, events


def kinds(events: list[TaskEvent]) -> list[tuple[K, int | None]]:
    return [(event.kind, event.duration_ms) for event in events]


def test_a_success_is_a_start_and_a_success_timed_from_the_start() -> None:
    r, events = observed()
    r.submit(task_type="resize")
    [leased] = r.lease().messages
    r.advance(1_500)
    r.finish(leased.receipt_handle, TaskOutcome.SUCCEEDED, result=b"1")
    assert kinds(events) == [(K.STARTED, None), (K.SUCCEEDED, 1_500)]
    assert {(e.queue_id, e.task_type) for e in events} == {("q", "resize")}


def test_retries_then_dead_lettering_are_each_noted_once_with_their_attempts_time() -> None:
    # Given a queue with a dead-letter queue and a task of two attempts
    r, events = observed()
    r.create("dlq")
    redrive = RedrivePolicy(dead_letter_queue="dlq", max_receive_count=10)
    changes = QueueAttributeChanges(redrive=redrive)
    r.run(SetQueueAttributes(now_ms=r.now_ms, queue="q", changes=changes))
    r.submit(max_attempts=2)
    # When both attempts fail
    [first] = r.lease().messages
    r.advance(200)
    r.finish(first.receipt_handle, TaskOutcome.RETRY, error=b"one")
    [second] = r.lease().messages
    r.advance(300)
    r.finish(second.receipt_handle, TaskOutcome.RETRY, error=b"two")
    # Then: started, retried, started, dead; a repeated report notes nothing more
    r.finish(second.receipt_handle, TaskOutcome.RETRY, error=b"again")
    assert kinds(events) == [
        (K.STARTED, None),
        (K.RETRIED, 200),
        (K.STARTED, None),
        (K.DEAD, 300),
    ]


def test_a_failure_without_dead_letter_queue_and_a_cancel_are_noted() -> None:
    r, events = observed()
    [failing, waiting] = r.submit(count=2, max_attempts=1)
    [leased] = r.lease(max_tasks=1).messages
    r.finish(leased.receipt_handle, TaskOutcome.FAILED, error=b"bad")
    r.run(CancelTasks(now_ms=r.now_ms, queue="q", task_ids=(waiting,)))
    assert kinds(events) == [(K.STARTED, None), (K.FAILED, 0), (K.CANCELLED, None)]
    assert failing != waiting


def test_a_layer_that_is_dropped_drops_its_events_and_a_merged_one_keeps_them() -> None:
    entry = Txn(MemoryStore())
    kept, dropped = Txn(entry), Txn(entry)
    kept.events.append(TaskEvent("q", "job", K.STARTED))
    dropped.events.append(TaskEvent("q", "job", K.SUCCEEDED, 5))
    kept.merge_into(entry)  # `dropped` is not: its command failed
    assert entry.events == [TaskEvent("q", "job", K.STARTED)]


def test_task_metrics_count_each_event_by_queue_type_and_outcome() -> None:
    metrics = TaskMetrics()
    metrics.observe(
        [
            TaskEvent("q-1", "job", K.STARTED),
            TaskEvent("q-1", "job", K.RETRIED, 100),
            TaskEvent("q-1", "job", K.STARTED),
            TaskEvent("q-1", "job", K.SUCCEEDED, 2_500),
        ]
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in metrics.families()
        for metric in family.collect()
        for s in metric.samples
    }
    job = (("queue", "q-1"), ("task_type", "job"))
    assert samples[("raftq_tasks_started_total", job)] == 2
    assert samples[("raftq_tasks_retried_total", job)] == 1
    succeeded = (("outcome", "succeeded"), *job)
    assert samples[("raftq_tasks_finished_total", succeeded)] == 1
    assert ("raftq_tasks_finished_total", (("outcome", "retried"), *job)) not in samples
    assert samples[("raftq_task_duration_seconds_count", succeeded)] == 1
    assert samples[("raftq_task_duration_seconds_sum", succeeded)] == 2.5
    assert metrics.queue_ids == {"q-1"}

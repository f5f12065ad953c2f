"""The task layer in the backend state machine: every transition of a task's status, leases,
fencing of a lease taken over, retries held by the queue, attempts, cancellation, expiry."""

from __future__ import annotations

from raftq.backend import keys
from raftq.common.commands import (
    ListTasks,
    PurgeQueue,
    SendEntry,
    SendMessages,
    SetQueueAttributes,
    SetTaskTypes,
)
from raftq.common.queue_attributes import QueueAttributeChanges, RedrivePolicy
from raftq.common.results import Failure, QueueStats, SendResult
from raftq.common.tasks_wire import TaskOutcome, TaskSpec, TaskState, TaskStatus, TaskTypes
from tests.unit.backend.task_replica import TaskReplica
from tests.unit.backend.test_queue_move import move

SECOND_MS = 1_000


def replica(retention_ms: int = 0, status_retention_ms: int = 0) -> TaskReplica:
    """A replica with queue "q"; retention times given in ms (0: the queue's default)."""
    r = TaskReplica()
    if retention_ms == 0:
        r.create("q")
    else:
        r.create("q", retention_ms=retention_ms, status_retention_ms=status_retention_ms)
    return r


def counts(r: TaskReplica) -> QueueStats:
    return r.stats("q")


def test_a_submitted_task_is_queued_and_an_unknown_id_is_not_found() -> None:
    r = replica()
    [task_id] = r.submit()
    status = r.task(task_id)
    assert isinstance(status, TaskStatus)
    assert (status.state, status.task_type, status.attempt, status.max_attempts) == (
        TaskState.QUEUED,
        "job",
        0,
        3,
    )
    missing = r.task("never-existed")
    assert isinstance(missing, Failure) and missing.code == "TaskNotFound"


def test_a_plain_message_is_not_a_task() -> None:
    r = replica()
    [sent] = r.send("q", b"plain").sent
    missing = r.task(sent.message_id)
    assert isinstance(missing, Failure) and missing.code == "TaskNotFound"


def test_a_delayed_task_is_scheduled_until_its_time_then_queued() -> None:
    r = replica()
    [task_id] = r.submit(delay_ms=10 * SECOND_MS)
    status = r.task(task_id)
    assert isinstance(status, TaskStatus) and status.state is TaskState.SCHEDULED
    assert status.run_at_ms == r.now_ms + 10 * SECOND_MS
    assert not r.lease().messages
    r.advance(10 * SECOND_MS)
    assert r.state(task_id) is TaskState.QUEUED


def test_a_run_at_beyond_fifteen_minutes_is_held_by_the_queue() -> None:
    r = replica()
    [task_id] = r.submit(deliver_at_ms=r.now_ms + 3_600 * SECOND_MS)
    assert r.state(task_id) is TaskState.SCHEDULED
    r.advance(3_600 * SECOND_MS)
    assert [m.message_id for m in r.lease().messages] == [task_id]


def test_a_lease_makes_it_running_with_worker_attempt_and_deadline() -> None:
    r = replica()
    [task_id] = r.submit()
    [leased] = r.lease(worker="worker-7", lease_ms=20 * SECOND_MS).messages
    status = r.task(task_id)
    assert isinstance(status, TaskStatus)
    assert status.state is TaskState.RUNNING
    assert (status.worker_id, status.attempt) == ("worker-7", 1)
    assert status.lease_deadline_ms == r.now_ms + 20 * SECOND_MS
    assert status.started_at_ms == r.now_ms
    assert leased.receive_count == 1


def test_a_success_keeps_its_result_and_duration() -> None:
    r = replica()
    [task_id] = r.submit()
    [leased] = r.lease().messages
    r.advance(1_500)
    assert r.finish(leased.receipt_handle, TaskOutcome.SUCCEEDED, result=b'{"ok": 1}').succeeded
    status = r.task(task_id)
    assert isinstance(status, TaskStatus)
    assert (status.state, status.result, status.duration_ms) == (
        TaskState.SUCCEEDED,
        b'{"ok": 1}',
        1_500,
    )
    assert counts(r).visible == counts(r).in_flight == 0


def test_a_retry_waits_in_the_queue_for_its_backoff_then_runs_again() -> None:
    r = replica()
    [task_id] = r.submit()
    [first] = r.lease().messages
    r.finish(first.receipt_handle, TaskOutcome.RETRY, error=b"boom", retry_delay_ms=5_000)
    status = r.task(task_id)
    assert isinstance(status, TaskStatus)
    assert (status.state, status.last_error, status.run_at_ms) == (
        TaskState.RETRYING,
        b"boom",
        r.now_ms + 5_000,
    )
    assert counts(r).delayed == 1 and counts(r).in_flight == 0
    assert not r.lease().messages  # the delay is the queue's, not a worker's
    r.advance(5_000)
    [second] = r.lease().messages
    assert second.receive_count == 2
    assert r.state(task_id) is TaskState.RUNNING


def test_a_lease_that_runs_out_makes_the_task_retrying_and_another_worker_takes_it() -> None:
    r = replica()
    [task_id] = r.submit()
    [first] = r.lease(worker="a", lease_ms=10 * SECOND_MS).messages
    r.advance(10 * SECOND_MS)
    assert r.state(task_id) is TaskState.RETRYING
    [second] = r.lease(worker="b").messages
    status = r.task(task_id)
    assert isinstance(status, TaskStatus) and (status.worker_id, status.attempt) == ("b", 2)
    # The first worker's late report is refused: its lease was taken over.
    refused = r.finish(first.receipt_handle, TaskOutcome.SUCCEEDED)
    assert [f.code for f in refused.failed] == ["ReceiptHandleIsInvalid"]
    assert r.state(task_id) is TaskState.RUNNING
    assert r.finish(second.receipt_handle, TaskOutcome.SUCCEEDED).succeeded


def test_a_heartbeat_extends_the_lease_so_a_long_task_is_not_taken_over() -> None:
    r = replica()
    [task_id] = r.submit()
    [leased] = r.lease(lease_ms=10 * SECOND_MS).messages
    for _ in range(5):
        r.advance(6 * SECOND_MS)
        assert r.change_visibility("q", leased.receipt_handle, 10 * SECOND_MS).succeeded
    assert not r.lease(worker="other").messages
    assert r.state(task_id) is TaskState.RUNNING


def test_a_poison_task_is_dead_lettered_after_its_attempts_with_its_error() -> None:
    r = replica()
    r.create("dlq")
    r.run(
        SetQueueAttributes(
            now_ms=r.now_ms,
            queue="q",
            changes=QueueAttributeChanges(
                redrive=RedrivePolicy(dead_letter_queue="dlq", max_receive_count=10)
            ),
        )
    )
    [task_id] = r.submit(max_attempts=2)
    [first] = r.lease().messages
    r.finish(first.receipt_handle, TaskOutcome.RETRY, error=b"first")
    [second] = r.lease().messages
    r.finish(second.receipt_handle, TaskOutcome.RETRY, error=b"second")
    status = r.task(task_id)
    assert isinstance(status, TaskStatus)
    assert (status.state, status.attempt, status.last_error) == (TaskState.DEAD, 2, b"second")
    assert counts(r).visible == 0
    assert r.stats("dlq").visible == 1
    assert not r.lease().messages


def test_without_a_dead_letter_queue_an_exhausted_task_fails() -> None:
    r = replica()
    [task_id] = r.submit(max_attempts=1)
    [only] = r.lease().messages
    r.finish(only.receipt_handle, TaskOutcome.RETRY, error=b"nope")
    assert r.state(task_id) is TaskState.FAILED


def test_a_non_retryable_failure_ends_it_at_once() -> None:
    r = replica()
    [task_id] = r.submit(max_attempts=5)
    [leased] = r.lease().messages
    r.finish(leased.receipt_handle, TaskOutcome.FAILED, error=b"bad input")
    status = r.task(task_id)
    assert isinstance(status, TaskStatus)
    assert (status.state, status.attempt, status.last_error) == (
        TaskState.FAILED,
        1,
        b"bad input",
    )


def test_a_task_whose_worker_died_on_its_last_attempt_is_not_started_again() -> None:
    r = replica()
    [task_id] = r.submit(max_attempts=2)
    for _ in range(2):
        assert r.lease(lease_ms=SECOND_MS).messages
        r.advance(SECOND_MS)
    assert not r.lease().messages
    status = r.task(task_id)
    assert isinstance(status, TaskStatus) and status.state is TaskState.FAILED
    assert status.last_error is not None and b"LeaseExpired" in status.last_error


def test_queued_and_scheduled_tasks_can_be_cancelled_but_not_running_or_finished_ones() -> None:
    r = replica()
    [queued] = r.submit()
    [scheduled] = r.submit(delay_ms=60 * SECOND_MS)
    assert r.cancel(queued, scheduled).succeeded == (queued, scheduled)
    assert r.state(queued) is r.state(scheduled) is TaskState.CANCELLED
    [running] = r.submit()
    r.lease()
    refused = r.cancel(running, queued, "no-such-task")
    assert [f.code for f in refused.failed] == ["ConflictingState"] * 2 + ["TaskNotFound"]
    assert r.state(running) is TaskState.RUNNING
    assert counts(r).visible == counts(r).delayed == 0


def test_a_duplicate_submission_returns_the_first_task() -> None:
    r = replica()
    [first] = r.submit(dedup_id="order-17")
    [again] = r.submit(dedup_id="order-17")
    assert again == first and counts(r).visible == 1


def test_a_task_past_retention_is_expired_and_its_record_goes_after_status_retention() -> None:
    r = replica(retention_ms=60 * SECOND_MS, status_retention_ms=30 * SECOND_MS)
    [task_id] = r.submit()
    r.advance(60 * SECOND_MS)
    assert r.state(task_id) is TaskState.EXPIRED
    r.advance(30 * SECOND_MS)
    gone = r.task(task_id)
    assert isinstance(gone, Failure) and gone.code == "TaskNotFound"
    r.lease()  # a command that succeeds keeps the expiry it made (a failed read drops it)
    start, stop = keys.family_range(keys.TASK_FINISHED, 1)
    assert not list(r.store.scan(keys.TASK, keys.prefix_end(keys.TASK)))
    assert not list(r.store.scan(start, stop))


def test_tasks_are_listed_by_state_in_bounded_pages() -> None:
    r = replica()
    ids = r.submit(count=7)
    r.submit(delay_ms=60 * SECOND_MS)
    listed: list[str] = []
    cursor = None
    while True:
        page = r.page(TaskState.QUEUED, cursor=cursor, limit=3)
        assert len(page.tasks) <= 3
        listed += [task.task_id for task in page.tasks]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert listed == ids
    [leased] = r.lease(max_tasks=1).messages
    r.finish(leased.receipt_handle, TaskOutcome.SUCCEEDED)
    assert [t.task_id for t in r.page(TaskState.SUCCEEDED).tasks] == [leased.message_id]
    assert len(r.page(TaskState.SCHEDULED).tasks) == 1
    assert len(r.page(TaskState.QUEUED).tasks) == 6


def test_a_bad_cursor_is_refused() -> None:
    r = replica()
    result = r.one(ListTasks(now_ms=r.now_ms, queue="q", state=TaskState.QUEUED, cursor=b"\x09x"))
    assert isinstance(result, Failure) and result.field == "cursor"


def test_tasks_on_a_fifo_queue_are_refused() -> None:
    r = TaskReplica()
    r.create("q.fifo", fifo=True)
    result = r.expect(
        SendMessages(
            now_ms=r.now_ms,
            queue="q.fifo",
            entries=(
                SendEntry(
                    entry_id="t", body=b"{}", group_id="g", dedup_id="d", task=TaskSpec(type="x")
                ),
            ),
        ),
        SendResult,
    )
    assert [f.field for f in result.failed] == ["task"]


def test_tasks_their_records_and_limits_move_with_their_queue() -> None:
    source, target = TaskReplica(), TaskReplica()
    target.create("unrelated")  # a different qnum on the target
    source.create("q")
    source.limit("job", max_running=1)
    queued, running = source.submit(count=2)
    [leased] = source.lease().messages
    assert leased.message_id == queued
    [finished] = source.submit()
    source.limit("job")  # lift the limit to finish one, then set it again
    [done] = [m for m in source.lease().messages if m.message_id == running]
    source.finish(done.receipt_handle, TaskOutcome.SUCCEEDED, result=b"7")
    source.limit("job", max_running=1)
    before = {task_id: source.task(task_id) for task_id in (queued, running, finished)}
    move(source, target, "q")
    assert {task_id: target.task(task_id) for task_id in before} == before
    assert not target.lease(worker="w2").messages  # the limit came along: one runs already
    assert target.finish(leased.receipt_handle, TaskOutcome.SUCCEEDED).succeeded
    assert target.state(queued) is TaskState.SUCCEEDED


def test_a_task_deleted_through_the_message_api_reads_succeeded() -> None:
    r = replica()
    [task_id] = r.submit()
    [leased] = r.lease().messages
    assert r.delete("q", leased.receipt_handle).succeeded
    assert r.state(task_id) is TaskState.SUCCEEDED


def test_a_purged_task_reads_cancelled_until_its_record_expires() -> None:
    r = replica()
    [task_id] = r.submit()
    r.run(PurgeQueue(now_ms=r.now_ms, queue="q"))
    assert r.state(task_id) is TaskState.CANCELLED
    assert not list(r.store.scan(keys.TASK_RUNNING, keys.prefix_end(keys.TASK_RUNNING)))


def test_a_lease_handed_back_unstarted_is_queued_again_without_an_attempt() -> None:
    r = replica()
    [task_id] = r.submit(max_attempts=1)
    [first] = r.lease(worker="stopping").messages
    assert r.finish(first.receipt_handle, TaskOutcome.RELEASED).succeeded
    assert r.state(task_id) is TaskState.QUEUED
    [second] = r.lease(worker="other").messages  # its one attempt is still there
    assert second.receive_count == 1 and second.receipt_handle != first.receipt_handle
    refused = r.finish(first.receipt_handle, TaskOutcome.SUCCEEDED)
    assert [f.code for f in refused.failed] == ["ReceiptHandleIsInvalid"]
    assert r.finish(second.receipt_handle, TaskOutcome.SUCCEEDED).succeeded


def test_once_a_queue_declares_its_task_types_others_are_refused_and_nothing_stored() -> None:
    r = replica()
    r.submit(task_type="anything")  # no declared types: any type goes
    declared = r.expect(
        SetTaskTypes(now_ms=r.now_ms, queue="q", add=("email.send", "report", "report")),
        TaskTypes,
    )
    assert declared.types == ("email.send", "report")
    r.submit(task_type="report")
    before = r.stats("q").visible
    result = r.expect(
        SendMessages(
            now_ms=r.now_ms,
            queue="q",
            entries=(SendEntry(entry_id="x", body=b"{}", task=TaskSpec(type="unknown")),),
        ),
        SendResult,
    )
    assert [(f.code, f.field) for f in result.failed] == [("UndeclaredTaskType", "type")]
    assert r.stats("q").visible == before
    forgotten = r.expect(
        SetTaskTypes(now_ms=r.now_ms, queue="q", remove=("email.send", "report")), TaskTypes
    )
    assert forgotten.types == ()
    r.submit(task_type="unknown")


def test_a_report_after_its_attempt_ended_changes_nothing() -> None:
    r = replica()
    [task_id] = r.submit(max_attempts=3)
    [leased] = r.lease().messages
    r.finish(leased.receipt_handle, TaskOutcome.RETRY, retry_delay_ms=60_000)
    for outcome in (TaskOutcome.RETRY, TaskOutcome.RELEASED, TaskOutcome.FAILED):
        refused = r.finish(leased.receipt_handle, outcome, retry_delay_ms=1)
        assert [f.code for f in refused.failed] == ["MessageNotInflight"]
    status = r.task(task_id)
    assert isinstance(status, TaskStatus)
    assert (status.state, status.attempt, status.run_at_ms) == (
        TaskState.RETRYING,
        1,
        r.now_ms + 60_000,
    )


def test_a_report_after_the_lease_ran_out_is_refused_and_the_task_runs_again() -> None:
    r = replica()
    [task_id] = r.submit()
    [leased] = r.lease(lease_ms=SECOND_MS).messages
    r.advance(SECOND_MS)
    refused = r.finish(leased.receipt_handle, TaskOutcome.SUCCEEDED)
    assert [f.code for f in refused.failed] == ["MessageNotInflight"]
    assert r.state(task_id) is TaskState.RETRYING
    assert [m.message_id for m in r.lease().messages] == [task_id]

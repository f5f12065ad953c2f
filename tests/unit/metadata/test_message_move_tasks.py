"""Message move tasks (SQS StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask)
in the metadata state machine."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import pytest

from raftq.common import limits
from raftq.common.metadata_commands import (
    ActivateQueue,
    BeginDeleteQueue,
    CancelMessageMoveTask,
    ForgetQueue,
    ReportMessageMoveTask,
    StartMessageMoveTask,
)
from raftq.common.metadata_models import MessageMoveTask
from raftq.common.metadata_results import MoveTaskResult
from raftq.common.results import Failure
from tests.unit.metadata.test_metadata_state_machine import Metadata

Reported = Literal["RUNNING", "CANCELLED", "COMPLETED", "FAILED"]


@pytest.fixture
def metadata() -> Metadata:
    """Queues `dlq`, `orders` and `billing`, active."""
    m = Metadata()
    m.register()
    for i, name in enumerate(("dlq", "orders", "billing")):
        m.create(name, f"q-{i}")
        m.run(ActivateQueue(now_ms=m.now_ms, actor="alice", name=name, queue_id=f"q-{i}"))
    return m


def _start(
    m: Metadata, handle: str = "t1", source: str = "dlq", destination: str | None = "orders"
) -> object:
    return m.run(
        StartMessageMoveTask(
            now_ms=m.now_ms,
            actor="alice",
            task_handle=handle,
            source_queue=source,
            destination_queue=destination,
            max_per_second=50,
            to_move=100,
        )
    )


def _report(
    m: Metadata, status: Reported, moved: int, handle: str = "t1", reason: str | None = None
) -> object:
    return m.run(
        ReportMessageMoveTask(
            now_ms=m.now_ms,
            actor="mover",
            task_handle=handle,
            moved=moved,
            status=status,
            failure_reason=reason,
        )
    )


def _cancel(m: Metadata, handle: str = "t1") -> object:
    return m.run(CancelMessageMoveTask(now_ms=m.now_ms, actor="alice", task_handle=handle))


def _task(result: object) -> MessageMoveTask:
    assert isinstance(result, MoveTaskResult), result
    return result.task


def _refused(m: Metadata, run: Any, code: str, field: str) -> None:
    before = m.machine.state.to_bytes()
    result = run()
    assert isinstance(result, Failure) and (result.code, result.field) == (code, field), result
    assert m.machine.state.to_bytes() == before


def test_a_task_starts_running_reports_progress_and_completes(metadata: Metadata) -> None:
    # Given a task started at t0
    started_at = metadata.now_ms
    task = _task(_start(metadata))
    assert task == MessageMoveTask(
        task_handle="t1",
        source_queue="dlq",
        destination_queue="orders",
        max_per_second=50,
        status="RUNNING",
        moved=0,
        to_move=100,
        started_at_ms=started_at,
        updated_at_ms=started_at,
        actor="alice",
    )
    # When the mover reports progress, then completion
    metadata.now_ms += 1_000
    assert _task(_report(metadata, "RUNNING", 40)).moved == 40
    metadata.now_ms += 1_000
    done = _task(_report(metadata, "COMPLETED", 100))
    # Then the record says so, and another task may start on the source
    assert (done.status, done.moved, done.updated_at_ms) == ("COMPLETED", 100, metadata.now_ms)
    assert done.started_at_ms == started_at and done.finished
    assert metadata.machine.state.move_tasks["t1"] == done
    assert _task(_start(metadata, handle="t2", destination=None)).destination_queue is None


def test_a_failed_task_keeps_its_reason(metadata: Metadata) -> None:
    _start(metadata)
    failed = _task(_report(metadata, "FAILED", 3, reason="destination is gone"))
    assert (failed.status, failed.failure_reason, failed.moved) == (
        "FAILED",
        "destination is gone",
        3,
    )


def test_a_cancelled_task_stays_cancelling_until_the_mover_stops(metadata: Metadata) -> None:
    _start(metadata)
    assert _task(_cancel(metadata)).status == "CANCELLING"
    # progress while it stops is counted, and the cancel stands
    progress = _task(_report(metadata, "RUNNING", 10))
    assert (progress.status, progress.moved) == ("CANCELLING", 10)
    # a second task waits for the first to stop
    _refused(metadata, lambda: _start(metadata, handle="t2"), "ConflictingState", "source_queue")
    assert _task(_report(metadata, "CANCELLED", 12)).status == "CANCELLED"


@pytest.mark.parametrize("end", ["COMPLETED", "FAILED"])
def test_a_cancelling_task_may_still_end_otherwise(metadata: Metadata, end: Reported) -> None:
    _start(metadata)
    _cancel(metadata)
    reason = "broken" if end == "FAILED" else None
    assert _task(_report(metadata, end, 100, reason=reason)).status == end


def test_the_moved_count_never_goes_back(metadata: Metadata) -> None:
    _start(metadata)
    _report(metadata, "RUNNING", 40)
    assert _task(_report(metadata, "RUNNING", 30)).moved == 40  # a late report of an old mover


def test_starting_a_task_is_refused_for_bad_queues_handles_and_a_running_task(
    metadata: Metadata,
) -> None:
    m = metadata
    _refused(m, lambda: _start(m, source="nowhere"), "QueueDoesNotExist", "source_queue")
    _refused(m, lambda: _start(m, destination="nowhere"), "QueueDoesNotExist", "destination_queue")
    _refused(m, lambda: _start(m, destination="dlq"), "InvalidParameterValue", "destination_queue")
    _start(m)
    _refused(m, lambda: _start(m, source="billing"), "InvalidParameterValue", "task_handle")
    _refused(m, lambda: _start(m, handle="t2"), "ConflictingState", "source_queue")
    _refused(
        m, lambda: _start(m, handle="t2", destination=None), "ConflictingState", "source_queue"
    )
    # another source is free to start its own
    assert _task(_start(m, handle="t2", source="billing")).status == "RUNNING"
    # a finished task's handle stays taken while its record is kept
    _report(m, "COMPLETED", 100)
    _refused(
        m,
        lambda: _start(m, source="orders", destination=None),
        "InvalidParameterValue",
        "task_handle",
    )


def test_starting_a_task_on_a_deleting_queue_is_refused(metadata: Metadata) -> None:
    metadata.run(BeginDeleteQueue(now_ms=metadata.now_ms, actor="root", name="orders"))
    _refused(metadata, lambda: _start(metadata), "ConflictingState", "destination_queue")
    _refused(
        metadata,
        lambda: _start(metadata, source="orders", destination=None),
        "ConflictingState",
        "source_queue",
    )


def test_reports_are_refused_for_unknown_and_finished_tasks(metadata: Metadata) -> None:
    m = metadata
    _refused(m, lambda: _report(m, "RUNNING", 1), "MoveTaskNotFound", "task_handle")
    _start(m)
    # nobody cancelled it: it cannot end CANCELLED
    _refused(m, lambda: _report(m, "CANCELLED", 1), "ConflictingState", "status")
    _report(m, "COMPLETED", 100)
    statuses: tuple[Reported, ...] = ("RUNNING", "COMPLETED", "CANCELLED")
    for status in statuses:
        _refused(m, partial(_report, m, status, 100), "ConflictingState", "task_handle")


def test_only_a_running_task_may_be_cancelled(metadata: Metadata) -> None:
    m = metadata
    _refused(m, lambda: _cancel(m), "MoveTaskNotFound", "task_handle")
    _start(m)
    _cancel(m)
    _refused(m, lambda: _cancel(m), "ConflictingState", "task_handle")
    _report(m, "CANCELLED", 5)
    _refused(m, lambda: _cancel(m), "ConflictingState", "task_handle")


def test_the_latest_ten_finished_tasks_of_a_source_are_kept(metadata: Metadata) -> None:
    # Given a task on another source, and twelve tasks run one after another on `dlq`
    _start(metadata, handle="other", source="billing")
    for i in range(limits.MOVE_TASKS_FINISHED_KEPT + 2):
        metadata.now_ms += 1
        _start(metadata, handle=f"t{i:02}")
        _report(metadata, "COMPLETED", 100, handle=f"t{i:02}")
    # And a thirteenth running
    _start(metadata, handle="t12")
    # Then the two oldest finished ones are forgotten; the running one and the others stay
    kept = {t.task_handle for t in metadata.machine.state.move_tasks.values()}
    assert kept == {"other", "t12", *(f"t{i:02}" for i in range(2, 12))}
    # And a forgotten task is unknown
    _refused(metadata, lambda: _cancel(metadata, handle="t00"), "MoveTaskNotFound", "task_handle")


def test_tasks_finishing_in_the_same_millisecond_keep_the_one_just_finished(
    metadata: Metadata,
) -> None:
    # State time does not move: every task starts and ends at the same ms
    for i in range(limits.MOVE_TASKS_FINISHED_KEPT + 1):
        _start(metadata, handle=f"z{i}")
        _report(metadata, "COMPLETED", 1, handle=f"z{i}")
    _start(metadata, handle="a-last")
    _report(metadata, "COMPLETED", 1, handle="a-last")
    tasks = metadata.machine.state.move_tasks
    assert "a-last" in tasks and len(tasks) == limits.MOVE_TASKS_FINISHED_KEPT


def test_forgetting_a_queue_forgets_the_tasks_it_is_the_source_of(metadata: Metadata) -> None:
    _start(metadata, handle="from-dlq")
    _start(metadata, handle="into-dlq", source="billing", destination="dlq")
    metadata.run(BeginDeleteQueue(now_ms=metadata.now_ms, actor="root", name="dlq"))
    metadata.run(ForgetQueue(now_ms=metadata.now_ms, actor="root", name="dlq", queue_id="q-0"))
    assert set(metadata.machine.state.move_tasks) == {"into-dlq"}


def test_start_and_cancel_are_audited_and_progress_reports_are_not(metadata: Metadata) -> None:
    size = len(metadata.machine.state.audit)
    _start(metadata)
    _report(metadata, "RUNNING", 1)
    _cancel(metadata)
    _report(metadata, "CANCELLED", 1)
    trail = [(e.action, e.target) for e in list(metadata.machine.state.audit)[size:]]
    assert trail == [("start_message_move_task", "t1"), ("cancel_message_move_task", "t1")]


def test_move_task_limits_at_the_boundary_are_accepted() -> None:
    handle = "h" * limits.MOVE_TASK_HANDLE_MAX_CHARS
    for rate in (1, limits.MOVE_TASK_RATE_MAX_PER_S, None):
        command = StartMessageMoveTask(
            now_ms=0,
            actor="a",
            task_handle=handle,
            source_queue="s",
            max_per_second=rate,
            to_move=0,
        )
        assert command.max_per_second == rate
    reason = "r" * limits.MOVE_TASK_FAILURE_REASON_MAX_CHARS
    report = ReportMessageMoveTask(
        now_ms=0, actor="a", task_handle="t", moved=0, status="FAILED", failure_reason=reason
    )
    assert report.failure_reason == reason


@pytest.mark.parametrize(
    "fields",
    [
        {"task_handle": ""},
        {"task_handle": "h" * (limits.MOVE_TASK_HANDLE_MAX_CHARS + 1)},
        {"task_handle": "has space"},
        {"task_handle": "../etc"},
        {"task_handle": "dot.ted"},
        {"max_per_second": 0},
        {"max_per_second": limits.MOVE_TASK_RATE_MAX_PER_S + 1},
        {"to_move": -1},
        {"source_queue": "not a queue"},
        {"destination_queue": "q" * 81},
        {"status": "RUNNING"},
    ],
    ids=[
        "empty handle",
        "long handle",
        "space",
        "path",
        "dot",
        "rate 0",
        "rate 501",
        "negative",
        "bad source",
        "long destination",
        "unknown field",
    ],
)
def test_malformed_starts_never_reach_the_state_machine(fields: dict[str, object]) -> None:
    valid: dict[str, object] = {
        "now_ms": 0,
        "actor": "a",
        "task_handle": "t",
        "source_queue": "s",
        "to_move": 0,
    }
    StartMessageMoveTask.model_validate(valid)
    with pytest.raises(ValueError):
        StartMessageMoveTask.model_validate({**valid, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "FAILED"},
        {"status": "COMPLETED", "failure_reason": "but why"},
        {"status": "FAILED", "failure_reason": "r" * 257},
        {"status": "CANCELLING"},
        {"moved": -1},
        {"task_handle": "bad handle"},
    ],
    ids=[
        "failed without reason",
        "reason without failure",
        "long reason",
        "cancelling",
        "negative",
        "bad handle",
    ],
)
def test_malformed_reports_never_reach_the_state_machine(fields: dict[str, object]) -> None:
    valid: dict[str, object] = {
        "now_ms": 0,
        "actor": "a",
        "task_handle": "t",
        "moved": 0,
        "status": "RUNNING",
    }
    ReportMessageMoveTask.model_validate(valid)
    with pytest.raises(ValueError):
        ReportMessageMoveTask.model_validate({**valid, **fields})

"""A task's replicated record, and how a task's status is read from it and its message.

A task is a message whose meta names its type (`MessageMeta.task_type`); its record
(keys.TASK) holds what the message does not: the attempt limit, the time limit, the worker of
the latest attempt, the last error and, once it finished, the outcome and result. The record
is written in the same entry as every transition that changes it: the submit, each lease, each
report, the removal of its message (`on_removed`, called by `QueueState.remove` whatever the
reason: a report, a plain delete, dead-lettering, retention).

Expiry without a scan: a record always has one EXPIRY entry (kind `EXPIRY_TASK`). At submit it
is an upper bound (the longest retention a queue can have, plus the keep time), so even a
record whose message vanished in a purge goes; when the task finishes it is reset to the
finish plus the queue's status retention. An EXPIRY entry whose time is not the record's
`expires_at_ms` is stale and removes nothing (queue_state.py `_gc_records`).

Status while the message exists follows its state: delayed before any attempt is scheduled,
visible before any attempt is queued, in flight is running (until its lease ends), delayed or
visible after an attempt is retrying, waiting for a remote dead-letter queue is dead. After the
message is gone the record's phase says how it ended.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from raftq.backend import keys
from raftq.backend.records import (
    MessageMeta,
    MessageState,
    RemovedAs,
    build_record,
    pack_fields,
    unpack_fields,
)
from raftq.backend.task_events import TaskEvent, TaskEventKind
from raftq.common import limits
from raftq.common.tasks_wire import TaskSpec, TaskState, TaskStatus

if TYPE_CHECKING:
    from raftq.backend.queue_state import QueueState


class TaskPhase(enum.IntEnum):
    ACTIVE = 0  # its message exists: the message's state says the rest
    SUCCEEDED = 1
    FAILED = 2
    DEAD = 3
    CANCELLED = 4
    EXPIRED = 5


_FINISHED_STATE = {
    TaskPhase.SUCCEEDED: TaskState.SUCCEEDED,
    TaskPhase.FAILED: TaskState.FAILED,
    TaskPhase.DEAD: TaskState.DEAD,
    TaskPhase.CANCELLED: TaskState.CANCELLED,
    TaskPhase.EXPIRED: TaskState.EXPIRED,
}
PHASE_OF_STATE = {state: phase for phase, state in _FINISHED_STATE.items()}
_PHASE_OF_REMOVAL = {
    RemovedAs.DELETED: TaskPhase.SUCCEEDED,  # a plain delete acknowledges the task
    RemovedAs.DEAD_LETTERED: TaskPhase.DEAD,
    RemovedAs.EXPIRED: TaskPhase.EXPIRED,
}


_EVENT_OF_PHASE = {
    TaskPhase.SUCCEEDED: TaskEventKind.SUCCEEDED,
    TaskPhase.FAILED: TaskEventKind.FAILED,
    TaskPhase.DEAD: TaskEventKind.DEAD,
    TaskPhase.CANCELLED: TaskEventKind.CANCELLED,
    TaskPhase.EXPIRED: TaskEventKind.EXPIRED,
}
_ATTEMPT_ENDS = frozenset(
    (TaskEventKind.SUCCEEDED, TaskEventKind.FAILED, TaskEventKind.DEAD, TaskEventKind.RETRIED)
)


@dataclass(slots=True)
class TaskRecord:
    message_id: str
    task_type: str
    max_attempts: int
    timeout_ms: int
    priority: int
    created_at_ms: int
    expires_at_ms: int
    phase: TaskPhase = TaskPhase.ACTIVE
    worker_id: str | None = None
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    attempts: int = 0  # when finished: the attempts it took (while active: the message's count)
    last_error: bytes | None = None
    result: bytes | None = None

    def pack(self) -> bytes:
        return pack_fields(
            self.message_id,
            self.task_type,
            self.max_attempts,
            self.timeout_ms,
            self.priority,
            self.created_at_ms,
            self.expires_at_ms,
            int(self.phase),
            self.worker_id,
            self.started_at_ms,
            self.finished_at_ms,
            self.attempts,
            self.last_error,
            self.result,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> TaskRecord:
        f = unpack_fields(raw, "task", 14)
        return build_record(
            "task",
            lambda: cls(
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                f[5],
                f[6],
                TaskPhase(f[7]),
                f[8],
                f[9],
                f[10],
                f[11],
                f[12],
                f[13],
            ),
        )


def load(queue: QueueState, message_id: str) -> TaskRecord | None:
    raw = queue.txn.get(keys.task_key(queue.qnum, message_id))
    return None if raw is None else TaskRecord.unpack(raw)


def save(queue: QueueState, record: TaskRecord) -> None:
    queue.txn.put(keys.task_key(queue.qnum, record.message_id), record.pack())


def create(queue: QueueState, meta: MessageMeta, spec: TaskSpec) -> None:
    """The record of a task just stored as `meta`, expiring at an upper bound (module header)."""
    record = TaskRecord(
        message_id=meta.message_id,
        task_type=spec.type,
        max_attempts=spec.max_attempts,
        timeout_ms=spec.timeout_ms,
        priority=meta.priority,
        created_at_ms=meta.sent_at_ms,
        expires_at_ms=meta.sent_at_ms + limits.RETENTION_MAX_MS + _keep_ms(queue),
    )
    _save_expiring(queue, record)


def on_removed(
    queue: QueueState,
    meta: MessageMeta,
    removed_as: RemovedAs,
    phase: TaskPhase | None,
    result: bytes | None,
) -> None:
    """The task's message is being removed: record how the task ended (`phase`, else what the
    removal means), its result, and keep the record for the queue's status retention."""
    record = load(queue, meta.message_id)
    if record is None:
        return  # a task whose record expired already (it outlived every bound): nothing to keep
    record.phase = phase if phase is not None else _PHASE_OF_REMOVAL[removed_as]
    record.finished_at_ms = queue.now_ms
    record.attempts = meta.receive_count
    if result is not None:
        record.result = result
    record.expires_at_ms = queue.now_ms + _keep_ms(queue)
    _save_expiring(queue, record)
    queue.txn.put(finished_key(queue.qnum, record), b"")
    note(queue, record, _EVENT_OF_PHASE[record.phase])


def note(queue: QueueState, record: TaskRecord, kind: TaskEventKind) -> None:
    """Note `kind` for the task's metrics (task_events.py), at the queue's time; an attempt
    that ended here (not a start, cancel or expiry) is timed from its start."""
    started_at_ms = record.started_at_ms if kind in _ATTEMPT_ENDS else None
    duration_ms = None if started_at_ms is None else queue.now_ms - started_at_ms
    queue.txn.events.append(TaskEvent(queue.queue_id, record.task_type, kind, duration_ms))


def finished_key(qnum: int, record: TaskRecord) -> bytes:
    assert record.finished_at_ms is not None
    return keys.task_finished_key(qnum, record.phase, record.finished_at_ms, record.message_id)


def expires_at(raw: bytes) -> int:
    return TaskRecord.unpack(raw).expires_at_ms


def forget(queue: QueueState, raw: bytes) -> None:
    """The record `raw` expired: delete it and its entry in the finished index."""
    record = TaskRecord.unpack(raw)
    queue.txn.delete(keys.task_key(queue.qnum, record.message_id))
    if record.finished_at_ms is not None:
        queue.txn.delete(finished_key(queue.qnum, record))


def status_of(queue: QueueState, record: TaskRecord, meta: MessageMeta | None) -> TaskStatus:
    """The task's status at the queue's `now_ms`; `meta` is its message if it exists."""
    run_at_ms = deadline_ms = duration_ms = None
    if meta is None:
        # Gone without a recorded end: only a purge removes a message so (it reads cancelled).
        phase = record.phase if record.phase is not TaskPhase.ACTIVE else TaskPhase.CANCELLED
        state, attempt = _FINISHED_STATE[phase], record.attempts
        succeeded = phase is TaskPhase.SUCCEEDED
        if succeeded and record.started_at_ms is not None and record.finished_at_ms is not None:
            duration_ms = record.finished_at_ms - record.started_at_ms
    else:
        state, run_at_ms, deadline_ms = _live_state(queue, meta)
        attempt, succeeded = meta.receive_count, False
    return TaskStatus(
        task_id=record.message_id,
        task_type=record.task_type,
        state=state,
        priority=record.priority,
        attempt=attempt,
        max_attempts=record.max_attempts,
        timeout_ms=record.timeout_ms,
        created_at_ms=record.created_at_ms,
        run_at_ms=run_at_ms,
        worker_id=record.worker_id,
        lease_deadline_ms=deadline_ms,
        started_at_ms=record.started_at_ms,
        finished_at_ms=record.finished_at_ms if meta is None else None,
        duration_ms=duration_ms,
        last_error=record.last_error,
        result=record.result if succeeded else None,
    )


def _live_state(queue: QueueState, meta: MessageMeta) -> tuple[TaskState, int | None, int | None]:
    """(state, run at, lease deadline) of a task whose message exists."""
    attempted = meta.receive_count > 0
    match meta.state:
        case MessageState.IN_FLIGHT if queue.leased(meta):
            return TaskState.RUNNING, None, meta.timer_ms
        case MessageState.IN_FLIGHT:  # its lease ended: it waits for its next attempt
            return TaskState.RETRYING, meta.timer_ms, None
        case MessageState.DELAYED if meta.timer_ms > queue.now_ms:
            state = TaskState.RETRYING if attempted else TaskState.SCHEDULED
            return state, meta.timer_ms, None
        case MessageState.DEAD_LETTER_PENDING:
            return TaskState.DEAD, None, None
        case _:  # visible (or due to be)
            return (TaskState.RETRYING if attempted else TaskState.QUEUED), None, None


def _keep_ms(queue: QueueState) -> int:
    return queue.record.attributes.status_retention_ms


def _save_expiring(queue: QueueState, record: TaskRecord) -> None:
    queue.put_expiring(
        keys.task_key(queue.qnum, record.message_id),
        record.pack(),
        record.expires_at_ms,
        keys.EXPIRY_TASK,
    )

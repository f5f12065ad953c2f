"""Task commands: a worker's lease, its reports, cancellation and type limits.

A lease is a `ReceiveMessages` with a `worker_id`. It differs from a receive in three ways:
- a task whose attempts are used up (its last lease ended without a report, e.g. its worker was
  killed) is not started again: it is dead-lettered with that as its error, or failed if the
  queue has no dead-letter queue;
- a task whose type is at its rate or running limit (task_gate.py) is passed over: it stays
  visible, in its place, for a later lease; at most `LEASE_SCAN_MAX` visible keys are looked at;
- the worker and the start are written to the task's record.

A report (`FinishTasks`) names its attempt by receipt handle and is taken while that lease is
held: a handle that is not the latest of its message (the lease was taken over by another
worker) is refused, so a worker whose lease ran out cannot complete a task another worker
holds; one whose lease ended (reported before, or ran out) is refused too, so a repeated report
changes nothing. A report on a task that is gone succeeds and changes nothing.

A retry moves the message to DELAYED until its backoff ends: the delay is held by the queue,
and "retrying" stays apart from "running".
"""

from __future__ import annotations

from itertools import islice

from raftq.backend import keys, task_gate, task_records
from raftq.backend.apply_context import ApplyContext
from raftq.backend.dead_letter import dead_letter_target, move_to_dead_letter
from raftq.backend.ops_ack import each_entry
from raftq.backend.ops_receive import (
    deliver,
    receive_messages,
    received,
    record_attempt,
    replay_attempt,
)
from raftq.backend.queue_state import QueueState
from raftq.backend.records import MessageMeta, MessageState, RemovedAs
from raftq.backend.task_events import TaskEventKind
from raftq.backend.task_records import TaskPhase, TaskRecord
from raftq.common.commands import (
    CancelTasks,
    FinishTasks,
    GetTaskTypes,
    ReceiveMessages,
    SetTaskLimits,
    SetTaskTypes,
)
from raftq.common.errors import (
    ConflictingState,
    InvalidParameter,
    MessageNotInflight,
    TaskNotFound,
)
from raftq.common.limits import INFLIGHT_MAX
from raftq.common.results import BatchResult, EntryFailure, ReceiveResult
from raftq.common.tasks_wire import (
    TASK_TYPES_MAX,
    FinishEntry,
    TaskLimits,
    TaskOutcome,
    TaskTypes,
)

# Visible keys one lease looks at, at most: bounds its work when the head of the queue is all
# of types at their limits (they are passed over, not handed out).
LEASE_SCAN_MAX = 1_000

_LEASE_LAPSED = (
    b'{"type": "LeaseExpired", "message": "the last attempt\'s lease ended without a report '
    b'(its worker stopped or lost contact) and no attempts are left", "traceback": null}'
)


def receive_or_lease(ctx: ApplyContext, command: ReceiveMessages) -> ReceiveResult:
    if command.worker_id is None:
        return receive_messages(ctx, command)
    return lease_tasks(ctx, command)


def lease_tasks(ctx: ApplyContext, command: ReceiveMessages) -> ReceiveResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    if queue.record.fifo:
        raise InvalidParameter("tasks are for standard queues only", field="worker_id")
    if command.attempt_id is not None:
        replayed = replay_attempt(queue, command.attempt_id)
        if replayed is not None:
            return ReceiveResult(messages=replayed)
    lease_ms = command.visibility_timeout_ms
    if lease_ms is None:
        lease_ms = queue.record.attributes.visibility_timeout_ms
    gate = task_gate.TypeGate(queue)
    delivered: list[MessageMeta] = []
    for key in islice(queue.family_keys(keys.VISIBLE), LEASE_SCAN_MAX):
        if len(delivered) >= command.max_messages or queue.counters.in_flight >= INFLIGHT_MAX:
            break
        meta = queue.meta(keys.seq_at_end(key))
        if meta is None:
            continue
        record = None if meta.task_type is None else task_records.load(queue, meta.message_id)
        if queue.past_retention(meta) or _attempts_used_up(queue, meta, record):
            if not ctx.budget.take_one():
                break
            if queue.past_retention(meta):
                queue.remove(meta, RemovedAs.EXPIRED)
            else:
                _give_up(queue, meta, record, _LEASE_LAPSED)
            continue
        if meta.task_type is not None and not gate.admit(meta.task_type):
            continue
        deliver(queue, meta, lease_ms, ctx.at(len(delivered)))
        if record is not None:
            record.worker_id = command.worker_id
            record.started_at_ms = ctx.now_ms
            task_records.save(queue, record)
            task_records.note(queue, record, TaskEventKind.STARTED)
        delivered.append(meta)
    gate.close()
    record_attempt(queue, command.attempt_id, delivered)
    next_at = queue.next_visible_at_ms()
    if gate.retry_at_ms is not None:
        next_at = gate.retry_at_ms if next_at is None else min(next_at, gate.retry_at_ms)
    return ReceiveResult(
        messages=tuple(received(queue, meta) for meta in delivered), next_visible_at_ms=next_at
    )


def finish_tasks(ctx: ApplyContext, command: FinishTasks) -> BatchResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)

    def finish(entry: FinishEntry) -> None:
        meta = queue.meta_for_handle(entry.receipt_handle)
        if meta is None:
            return  # finished before (a retried report) or gone: nothing left to do
        if not queue.leased(meta):
            # The attempt ended already: reported before (a repeat changes nothing: it would
            # restart a backoff or uncount an attempt), or its lease ran out.
            raise MessageNotInflight(
                "the task's lease has ended: its attempt was reported or it ran out",
                field="receipt_handle",
            )
        record = None if meta.task_type is None else task_records.load(queue, meta.message_id)
        if entry.outcome is TaskOutcome.RELEASED:
            # Never started: the attempt it would have been is not counted. The handle stays
            # fenced: the next lease's handle has a new tag (identifiers.handle_tag).
            meta.receive_count -= 1
            queue.transition(meta, MessageState.VISIBLE)
        elif entry.outcome is TaskOutcome.SUCCEEDED:
            queue.remove(meta, RemovedAs.DELETED, entry.result, TaskPhase.SUCCEEDED)
        elif entry.outcome is TaskOutcome.RETRY and not _attempts_used_up(queue, meta, record):
            if record is not None:
                record.last_error = entry.error
                task_records.save(queue, record)
                task_records.note(queue, record, TaskEventKind.RETRIED)
            due_ms = ctx.now_ms + entry.retry_delay_ms
            if entry.retry_delay_ms > 0:
                queue.transition(meta, MessageState.DELAYED, due_ms)
            else:
                queue.transition(meta, MessageState.VISIBLE)
        else:
            _give_up(queue, meta, record, entry.error)

    return each_entry(command.entries, finish)


def cancel_tasks(ctx: ApplyContext, command: CancelTasks) -> BatchResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    succeeded: list[str] = []
    failed = []
    for task_id in dict.fromkeys(command.task_ids):  # a repeated id is cancelled once
        try:
            _cancel(queue, task_id)
        except (TaskNotFound, ConflictingState) as error:
            failed.append(_failure(task_id, error))
        else:
            succeeded.append(task_id)
    return BatchResult(succeeded=tuple(succeeded), failed=tuple(failed))


def set_task_limits(ctx: ApplyContext, command: SetTaskLimits) -> TaskLimits:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    task_gate.set_limits(queue, command.task_type, command.rate_milli, command.max_running)
    limits_now = task_gate.load(queue, command.task_type)
    return TaskLimits(limits=() if limits_now is None else (task_gate.view(queue, limits_now),))


def set_task_types(ctx: ApplyContext, command: SetTaskTypes) -> TaskTypes:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    for task_type in command.remove:
        queue.txn.delete(keys.task_types_key(queue.qnum, task_type))
    new = [
        task_type
        for task_type in dict.fromkeys(command.add)
        if queue.txn.get(keys.task_types_key(queue.qnum, task_type)) is None
    ]
    if len(task_gate.declared_types(queue, TASK_TYPES_MAX)) + len(new) > TASK_TYPES_MAX:
        raise InvalidParameter(f"a queue declares at most {TASK_TYPES_MAX} task types", field="add")
    for task_type in new:
        queue.txn.put(keys.task_types_key(queue.qnum, task_type), b"")
    return TaskTypes(types=tuple(task_gate.declared_types(queue, TASK_TYPES_MAX)))


def get_task_types(ctx: ApplyContext, command: GetTaskTypes) -> TaskTypes:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    return TaskTypes(types=tuple(task_gate.declared_types(queue, TASK_TYPES_MAX)))


def _cancel(queue: QueueState, task_id: str) -> None:
    seq = queue.seq_of(task_id)
    meta = None if seq is None else queue.live_meta(seq)
    record = task_records.load(queue, task_id)
    if record is None:
        raise TaskNotFound(f"no task {task_id!r} in this queue", field="task_id")
    if meta is None:
        state = task_records.status_of(queue, record, None).state
        raise ConflictingState(f"the task is {state}: only a waiting task can be cancelled")
    if queue.leased(meta) or meta.state is MessageState.DEAD_LETTER_PENDING:
        state = task_records.status_of(queue, record, meta).state
        raise ConflictingState(f"the task is {state}: only a waiting task can be cancelled")
    queue.remove(meta, RemovedAs.DELETED, task_phase=TaskPhase.CANCELLED)


def _attempts_used_up(queue: QueueState, meta: MessageMeta, record: TaskRecord | None) -> bool:
    if record is not None:
        return meta.receive_count >= record.max_attempts
    redrive = queue.record.attributes.redrive
    return redrive is not None and meta.receive_count >= redrive.max_receive_count


def _give_up(
    queue: QueueState, meta: MessageMeta, record: TaskRecord | None, error: bytes | None
) -> None:
    """No more attempts: to the dead-letter queue if the queue has one, else failed."""
    if record is not None and error is not None:
        record.last_error = error
        task_records.save(queue, record)
    if queue.record.attributes.redrive is not None:
        move_to_dead_letter(queue, meta, dead_letter_target(queue))
    else:
        queue.remove(meta, RemovedAs.DELETED, task_phase=TaskPhase.FAILED)


def _failure(entry_id: str, error: TaskNotFound | ConflictingState) -> EntryFailure:
    return EntryFailure.of(entry_id, error)

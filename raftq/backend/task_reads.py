"""Reads of the task layer, through the log like every status read: one task, a page of a
queue's tasks in one state, the queue's type limits.

A page walks the index families where tasks of the asked state can be (a task's state follows
its message while it exists, task_records.py) and keeps those in the state. The walk looks at
most `PAGE_SCAN_MAX` keys, so a page may come back short, even empty, with a cursor: the
cursor is the family's position in the walk and the last key looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Final

from raftq.backend import keys, task_gate, task_records
from raftq.backend.apply_context import ApplyContext
from raftq.backend.queue_state import QueueState
from raftq.backend.task_records import PHASE_OF_STATE
from raftq.common.commands import GetTask, GetTaskLimits, ListTasks
from raftq.common.errors import InvalidParameter, TaskNotFound
from raftq.common.tasks_wire import TaskLimits, TaskPage, TaskState, TaskStatus

PAGE_SCAN_MAX: Final = 1_000

# Message families a live task of each state is indexed in; finished states use TASK_FINISHED.
_LIVE_FAMILIES: Final = {
    TaskState.QUEUED: (keys.VISIBLE,),
    TaskState.SCHEDULED: (keys.DELAYED,),
    TaskState.RUNNING: (keys.IN_FLIGHT,),
    TaskState.RETRYING: (keys.DELAYED, keys.VISIBLE, keys.IN_FLIGHT),
    TaskState.DEAD: (keys.DLQ_OUTBOX,),
}


def get_task(ctx: ApplyContext, command: GetTask) -> TaskStatus:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    record = task_records.load(queue, command.task_id)
    if record is None:
        raise TaskNotFound(f"no task {command.task_id!r} in this queue", field="task_id")
    seq = queue.seq_of(command.task_id)
    meta = None if seq is None else queue.live_meta(seq)
    if meta is None:  # `live_meta` may have just expired it, which rewrote the record
        record = task_records.load(queue, command.task_id) or record
    return task_records.status_of(queue, record, meta)


def get_task_limits(ctx: ApplyContext, command: GetTaskLimits) -> TaskLimits:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    start, stop = keys.family_range(keys.TASK_LIMITS, queue.qnum)
    found = [task_gate.TypeLimits.unpack(raw) for _, raw in queue.txn.scan(start, stop)]
    return TaskLimits(limits=tuple(task_gate.view(queue, limits) for limits in found))


def list_tasks(ctx: ApplyContext, command: ListTasks) -> TaskPage:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    ranges = _ranges(queue, command.state)
    position, after = _read_cursor(command.cursor, len(ranges))
    tasks: list[TaskStatus] = []
    scanned = 0
    for index in range(position, len(ranges)):
        start, stop = ranges[index]
        if index == position and after is not None:
            start = max(start, after + b"\x00")
        for key in _keys(queue, start, stop, PAGE_SCAN_MAX - scanned):
            scanned += 1
            status = _status_at(queue, command.state, key)
            if status is not None and status.state is command.state:
                tasks.append(status)
            if len(tasks) == command.limit or scanned == PAGE_SCAN_MAX:
                return TaskPage(tasks=tuple(tasks), next_cursor=bytes([index]) + key)
    return TaskPage(tasks=tuple(tasks), next_cursor=None)


def _ranges(queue: QueueState, state: TaskState) -> list[tuple[bytes, bytes]]:
    ranges = [keys.family_range(prefix, queue.qnum) for prefix in _LIVE_FAMILIES.get(state, ())]
    phase = PHASE_OF_STATE.get(state)
    if phase is not None:
        start = keys.family(keys.TASK_FINISHED, queue.qnum) + bytes([phase])
        ranges.append((start, keys.prefix_end(start)))
    return ranges


def _read_cursor(cursor: bytes | None, ranges: int) -> tuple[int, bytes | None]:
    if cursor is None:
        return 0, None
    if len(cursor) < 2 or cursor[0] >= ranges:
        raise InvalidParameter("the cursor is not one this listing gave", field="cursor")
    return cursor[0], cursor[1:]


def _keys(queue: QueueState, start: bytes, stop: bytes, limit: int) -> Iterator[bytes]:
    for key, _ in islice(queue.txn.scan(start, stop), limit):
        yield key


def _status_at(queue: QueueState, state: TaskState, key: bytes) -> TaskStatus | None:
    """The status of the task a scanned key stands for (None: not a task, or gone)."""
    if key[:1] == keys.TASK_FINISHED:
        message_id = key[len(keys.TASK_FINISHED) + 4 + 1 + 8 :].decode()
        record = task_records.load(queue, message_id)
        return None if record is None else task_records.status_of(queue, record, None)
    meta = queue.meta(keys.seq_at_end(key))
    if meta is None or meta.task_type is None:
        return None
    record = task_records.load(queue, meta.message_id)
    return None if record is None else task_records.status_of(queue, record, meta)

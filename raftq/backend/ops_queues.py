"""Queue lifecycle commands: create, set attributes, purge, drop.

None of them loops over a queue's messages: purge and drop delete whole key families with range
deletions (one tombstone each in RocksDB, and `Txn` reads past them without stepping over the
keys they hide), and a retention lowered by set attributes only makes messages due, for later
entries to expire within their budgets (work_budget.py).

On a partly advanced queue (queue_state.py), purge counts the messages the queue still holds as
advanced: one whose retention had passed but whose expiry was left over is purged, and counted,
rather than expired. A raised retention applies to the messages not yet expired, as it does to
every stored message (retention is checked against the queue's current setting, keys.py).
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.queue_state import QueueState
from raftq.backend.records import Counters, QueueRecord, ReplicaStatus
from raftq.common import limits
from raftq.common.commands import CreateQueue, DropQueue, PurgeQueue, SetQueueAttributes
from raftq.common.errors import (
    DeadLetterQueueInvalid,
    PurgeQueueInProgress,
    QueueAlreadyExists,
    QueueMoved,
)
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import Done, PurgeResult, QueueCreated


def create_queue(ctx: ApplyContext, command: CreateQueue) -> QueueCreated:
    existing = QueueState.find(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    if existing is not None:
        if existing.record.status != ReplicaStatus.SERVING:
            raise QueueMoved(f"queue {command.queue!r} is moving", field="queue")
        same = (
            existing.record.fifo == command.fifo
            and existing.record.attributes == command.attributes
        )
        if not same:
            raise QueueAlreadyExists(
                f"queue {command.queue!r} exists with different attributes", field="attributes"
            )
        return QueueCreated(created=False)
    _check_redrive(ctx, command.queue, command.fifo, command.attributes)
    qnum = allocate_qnum(ctx)
    record = QueueRecord(
        queue_id=command.queue,
        qnum=qnum,
        fifo=command.fifo,
        attributes=command.attributes,
        created_at_ms=ctx.now_ms,
        created_index=ctx.index,
    )
    ctx.txn.put(keys.queue_key(command.queue), record.pack())
    ctx.txn.put(keys.counters_key(qnum), Counters().pack())
    return QueueCreated(created=True)


def allocate_qnum(ctx: ApplyContext) -> int:
    """A queue number never used on this replica before (keys.py)."""
    raw_next = ctx.txn.get(keys.META_NEXT_QNUM)
    qnum = 1 if raw_next is None else keys.read_u64(raw_next, 0)
    ctx.txn.put(keys.META_NEXT_QNUM, keys.u64(qnum + 1))
    return qnum


def set_queue_attributes(ctx: ApplyContext, command: SetQueueAttributes) -> Done:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    attributes = command.changes.applied_to(queue.record.attributes)
    _check_redrive(ctx, command.queue, queue.record.fifo, attributes)
    queue.record.attributes = attributes
    queue.save_record()
    return Done()


def purge_queue(ctx: ApplyContext, command: PurgeQueue) -> PurgeResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)  # what expired before is reported expired (within the budget)
    last = queue.record.last_purge_at_ms
    if last is not None and ctx.now_ms - last < limits.PURGE_COOLDOWN_MS:
        raise PurgeQueueInProgress(
            f"queue {command.queue!r} was purged less than 60 s ago", field="queue"
        )
    c = queue.counters
    purged = c.visible + c.in_flight + c.delayed + c.dead_letter_pending
    for family in keys.MESSAGE_FAMILIES:
        ctx.txn.delete_range(*keys.family_range(family, queue.qnum))
    # Sequence numbers are never reused: old receipt handles stay invalid.
    ctx.txn.put(keys.counters_key(queue.qnum), Counters(next_seq=c.next_seq).pack())
    queue.record.last_purge_at_ms = ctx.now_ms
    queue.save_record()
    return PurgeResult(purged=purged)


def drop_queue(ctx: ApplyContext, command: DropQueue) -> Done:
    queue = QueueState.find(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    if queue is None:
        return Done()
    for family in keys.QUEUE_FAMILIES:
        ctx.txn.delete_range(*keys.family_range(family, queue.qnum))
    ctx.txn.delete(keys.queue_key(command.queue))
    ctx.txn.delete(keys.import_key(command.queue))
    return Done()


def _check_redrive(
    ctx: ApplyContext, queue_id: str, fifo: bool, attributes: QueueAttributes
) -> None:
    """A dead-letter queue is never the queue itself and matches its type when it is stored
    here. One stored elsewhere (another cluster) is allowed: messages then wait in the outbox."""
    if attributes.redrive is None:
        return
    target = attributes.redrive.dead_letter_queue
    if target == queue_id:
        raise DeadLetterQueueInvalid("a queue cannot be its own dead-letter queue", field="redrive")
    dead_letter = QueueState.find(ctx.txn, target, ctx.now_ms, ctx.advanced)
    if dead_letter is not None and dead_letter.record.fifo != fifo:
        raise DeadLetterQueueInvalid(
            "a FIFO queue needs a FIFO dead-letter queue and a standard queue a standard one",
            field="redrive",
        )

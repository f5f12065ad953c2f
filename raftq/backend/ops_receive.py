"""ReceiveMessages: the receive that makes messages in flight is itself a replicated command.

A message is returned only by a committed receive that moved it to IN_FLIGHT with a deadline, so
no leader change can hand the same lease out twice. A retried receive with the same attempt id
(within 5 minutes) returns the same messages and handles while they are still in flight from it.

A receive hands out only messages within their retention. The visible messages it meets on its
way that are past their retention (their expiry left over by a partly advanced queue,
queue_state.py) or past their queue's max receive count are expired or moved to the dead-letter
queue there, each one due transition drawn from the entry's budget (work_budget.py): their
number is not bounded by the receive's size. Once the budget is spent the receive ends with what
it has, possibly nothing; the messages behind are delivered by a later receive.
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.dead_letter import dead_letter_target, move_to_dead_letter
from raftq.backend.identifiers import Position, ReceiptHandle, handle_tag
from raftq.backend.queue_state import QueueState
from raftq.backend.records import AttemptRecord, MessageMeta, MessageState, RemovedAs
from raftq.common import limits
from raftq.common.commands import ReceiveMessages
from raftq.common.errors import OverLimit
from raftq.common.results import ReceivedMessage, ReceiveResult


def receive_messages(ctx: ApplyContext, command: ReceiveMessages) -> ReceiveResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    if command.attempt_id is not None:
        replayed = replay_attempt(queue, command.attempt_id)
        if replayed is not None:
            return ReceiveResult(messages=replayed)
    if queue.counters.in_flight >= limits.INFLIGHT_MAX:
        if queue.record.fifo:
            return ReceiveResult(messages=())
        raise OverLimit("the queue already has the maximum number of messages in flight")

    attributes = queue.record.attributes
    visibility_ms = command.visibility_timeout_ms
    if visibility_ms is None:
        visibility_ms = attributes.visibility_timeout_ms
    redrive = attributes.redrive
    target = dead_letter_target(queue) if redrive is not None else None

    delivered: list[MessageMeta] = []
    budget_left = True
    while (
        budget_left
        and len(delivered) < command.max_messages
        and queue.counters.in_flight < limits.INFLIGHT_MAX
    ):
        candidates = queue.visible_candidates(command.max_messages - len(delivered))
        if not candidates:
            break
        for meta in candidates:
            if queue.counters.in_flight >= limits.INFLIGHT_MAX:
                break
            expired = queue.past_retention(meta)
            if expired or (redrive is not None and meta.receive_count >= redrive.max_receive_count):
                budget_left = ctx.budget.take_one()
                if not budget_left:
                    break
                if expired:
                    queue.remove(meta, RemovedAs.EXPIRED)
                else:
                    move_to_dead_letter(queue, meta, target)
                continue
            deliver(queue, meta, visibility_ms, ctx.at(len(delivered)))
            delivered.append(meta)

    record_attempt(queue, command.attempt_id, delivered)
    return ReceiveResult(
        messages=tuple(received(queue, meta) for meta in delivered),
        next_visible_at_ms=queue.next_visible_at_ms(),
    )


def deliver(queue: QueueState, meta: MessageMeta, visibility_ms: int, at: Position) -> None:
    meta.receive_count += 1
    meta.handle_tag = handle_tag(
        queue.queue_id, queue.record.created_index, meta.seq, meta.receive_count, at
    )
    if meta.first_received_at_ms == 0:
        meta.first_received_at_ms = queue.now_ms
    meta.received_at_ms = queue.now_ms
    queue.transition(meta, MessageState.IN_FLIGHT, queue.now_ms + visibility_ms)


def record_attempt(queue: QueueState, attempt_id: str | None, delivered: list[MessageMeta]) -> None:
    """Remember what a receive with an attempt id returned, so a retry of it returns the same."""
    if attempt_id is None or not delivered:
        return
    record = AttemptRecord(
        expires_at_ms=queue.now_ms + limits.RECEIVE_ATTEMPT_WINDOW_MS,
        received=tuple((meta.seq, meta.receive_count) for meta in delivered),
    )
    queue.put_expiring(
        keys.attempt_key(queue.qnum, attempt_id),
        record.pack(),
        record.expires_at_ms,
        keys.EXPIRY_ATTEMPT,
    )


def replay_attempt(queue: QueueState, attempt_id: str) -> tuple[ReceivedMessage, ...] | None:
    raw = queue.txn.get(keys.attempt_key(queue.qnum, attempt_id))
    if raw is None:
        return None
    record = AttemptRecord.unpack(raw)
    if record.expires_at_ms <= queue.now_ms:
        return None
    replayed = []
    for seq, receive_count in record.received:
        meta = queue.live_meta(seq)
        if meta is not None and queue.leased(meta) and meta.receive_count == receive_count:
            replayed.append(received(queue, meta))
    return tuple(replayed)


def received(queue: QueueState, meta: MessageMeta) -> ReceivedMessage:
    body, attributes = queue.body(meta.seq)
    return ReceivedMessage(
        message_id=meta.message_id,
        receipt_handle=ReceiptHandle(meta.seq, meta.receive_count, meta.handle_tag).encode(),
        body=body,
        attributes=attributes,
        sequence_number=meta.seq,
        group_id=meta.group_id,
        dedup_id=meta.dedup_id,
        priority=meta.priority,
        sent_at_ms=meta.sent_at_ms,
        first_received_at_ms=meta.first_received_at_ms,
        receive_count=meta.receive_count,
        dead_letter_source=meta.dead_letter_source,
    )

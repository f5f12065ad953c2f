"""SendMessages: validation, deduplication, scheduling and insertion of each entry.

Every check of an entry happens before its first write, so a failed entry changes nothing and
the others stand (SQS batch semantics). Entries are checked against the state left by the
earlier entries of the same batch, so a batch that repeats a dedup id stores it once.
"""

from __future__ import annotations

import hashlib

from raftq.backend import keys, task_records
from raftq.backend.apply_context import ApplyContext
from raftq.backend.batches import require_distinct_entry_ids
from raftq.backend.identifiers import Position, message_id
from raftq.backend.queue_state import QueueState
from raftq.backend.records import DedupRecord, MessageMeta, MessageState
from raftq.common import limits
from raftq.common.commands import SendEntry, SendMessages
from raftq.common.errors import (
    ClientError,
    InvalidParameter,
    MessageTooLarge,
    MissingParameter,
)
from raftq.common.results import EntryFailure, SendResult, SentMessage


def send_messages(ctx: ApplyContext, command: SendMessages) -> SendResult:
    require_distinct_entry_ids(entry.entry_id for entry in command.entries)
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    sent: list[SentMessage] = []
    failed: list[EntryFailure] = []
    for position, entry in enumerate(command.entries):
        try:
            sent.append(_send_one(queue, entry, ctx.at(position)))
        except ClientError as error:
            failed.append(EntryFailure.of(entry.entry_id, error))
    return SendResult(sent=tuple(sent), failed=tuple(failed))


def _send_one(queue: QueueState, entry: SendEntry, at: Position) -> SentMessage:
    attributes = queue.record.attributes
    now_ms = queue.now_ms
    size = len(entry.body) + len(entry.attributes)
    if size > attributes.max_message_bytes + limits.STORED_OVERHEAD_ALLOWANCE_BYTES:
        raise MessageTooLarge(
            f"message of {size} bytes exceeds the queue's limit of "
            f"{attributes.max_message_bytes} bytes",
            field="body",
        )
    if queue.record.fifo:
        _check_fifo_entry(entry)
        if entry.task is not None:
            raise InvalidParameter("tasks are for standard queues only", field="task")
    dedup_id = entry.dedup_id
    if dedup_id is None and attributes.content_based_dedup:
        dedup_id = hashlib.sha256(entry.body).hexdigest()
    if dedup_id is None and queue.record.fifo:
        raise MissingParameter(
            "a FIFO queue needs a dedup id unless content-based deduplication is on",
            field="dedup_id",
        )
    if entry.deliver_at_ms is not None:
        visible_at_ms = entry.deliver_at_ms
        if visible_at_ms >= now_ms + attributes.retention_ms:
            raise InvalidParameter(
                "deliver_at_ms lies beyond the queue's retention period", field="deliver_at_ms"
            )
    else:
        delay_ms = entry.delay_ms if entry.delay_ms is not None else attributes.delay_ms
        visible_at_ms = now_ms + delay_ms

    if dedup_id is not None:
        earlier = queue.live_dedup(dedup_id)
        if earlier is not None:
            return SentMessage(
                entry_id=entry.entry_id,
                message_id=earlier.message_id,
                sequence_number=earlier.seq,
                duplicate=True,
            )

    seq = queue.allocate_seq()
    meta = MessageMeta(
        seq=seq,
        message_id=message_id(queue.queue_id, queue.record.created_index, at, queue.record.epoch),
        state=MessageState.DELAYED if visible_at_ms > now_ms else MessageState.VISIBLE,
        priority=entry.priority,
        group_id=entry.group_id,
        dedup_id=dedup_id,
        sent_at_ms=now_ms,
        timer_ms=visible_at_ms if visible_at_ms > now_ms else 0,
        receive_count=0,
        first_received_at_ms=0,
        received_at_ms=0,
        handle_tag=b"",
        dead_letter_source=None,
        size_bytes=size,
        task_type=None if entry.task is None else entry.task.type,
    )
    queue.insert(meta, entry.body, entry.attributes)
    if entry.task is not None:
        task_records.create(queue, meta, entry.task)
    if dedup_id is not None:
        record = DedupRecord(meta.message_id, seq, now_ms + attributes.dedup_window_ms)
        queue.put_expiring(
            keys.dedup_key(queue.qnum, dedup_id),
            record.pack(),
            record.expires_at_ms,
            keys.EXPIRY_DEDUP,
        )
    return SentMessage(
        entry_id=entry.entry_id, message_id=meta.message_id, sequence_number=seq, duplicate=False
    )


def _check_fifo_entry(entry: SendEntry) -> None:
    if entry.group_id is None:
        raise MissingParameter("a FIFO queue needs a message group id", field="group_id")
    if entry.delay_ms is not None or entry.deliver_at_ms is not None:
        raise InvalidParameter(
            "per-message delays are not allowed on FIFO queues (set the queue's delay)",
            field="delay_ms" if entry.delay_ms is not None else "deliver_at_ms",
        )
    if entry.priority != 0:
        raise InvalidParameter("priorities are for standard queues only", field="priority")

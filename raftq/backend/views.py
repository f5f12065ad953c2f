"""Views of one queue's state for callers: exact counts and message status (pure)."""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.queue_state import QueueState
from raftq.backend.records import MessageState, RemovedAs, StatusRecord
from raftq.common.errors import MessageNotFound
from raftq.common.results import MessageStatus, QueueStats

_LIVE_STATES = {
    MessageState.VISIBLE: "pending",
    MessageState.DELAYED: "delayed",
    MessageState.IN_FLIGHT: "in_flight",
    MessageState.DEAD_LETTER_PENDING: "dead_letter_pending",
}
_REMOVED_STATES = {
    RemovedAs.DELETED: "deleted",
    RemovedAs.DEAD_LETTERED: "dead_lettered",
    RemovedAs.EXPIRED: "expired",
}


def stats_of(queue: QueueState) -> QueueStats:
    """Counts of a queue already advanced to its time."""
    counters = queue.counters
    return QueueStats(
        visible=counters.visible,
        in_flight=counters.in_flight,
        delayed=counters.delayed,
        dead_letter_pending=counters.dead_letter_pending,
    )


def status_of(queue: QueueState, message_id: str) -> MessageStatus:
    """Status of one message of a queue already advanced to its time."""
    seq = queue.seq_of(message_id)
    meta = queue.meta(seq) if seq is not None else None
    if meta is not None:
        at_ms = meta.received_at_ms if meta.state is MessageState.IN_FLIGHT else meta.sent_at_ms
        return MessageStatus(
            message_id=message_id,
            state=_LIVE_STATES[meta.state],  # type: ignore[arg-type]
            receive_count=meta.receive_count,
            at_ms=at_ms,
        )
    raw = queue.txn.get(keys.status_key(queue.qnum, message_id))
    if raw is None:
        raise MessageNotFound(f"no message {message_id!r} is known", field="message_id")
    status = StatusRecord.unpack(raw)
    return MessageStatus(
        message_id=message_id,
        state=_REMOVED_STATES[status.removed_as],  # type: ignore[arg-type]
        receive_count=status.receive_count,
        at_ms=status.at_ms,
        result=status.result,
    )

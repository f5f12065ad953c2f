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
_TIMED_STATES = (MessageState.DELAYED, MessageState.IN_FLIGHT)
_REMOVED_STATES = {
    RemovedAs.DELETED: "deleted",
    RemovedAs.DEAD_LETTERED: "dead_lettered",
    RemovedAs.EXPIRED: "expired",
}


def stats_of(queue: QueueState) -> QueueStats:
    """Counts of a queue as advanced: exact once it has caught up with its time; until then a
    message whose delay or lease ended, or whose retention passed, is counted as it was
    (queue_state.py)."""
    counters = queue.counters
    # The retention index orders the messages a queue holds, in any state, by send time: its
    # first key is the oldest message's.
    oldest = queue.txn.first(*keys.family_range(keys.RETENTION, queue.qnum))
    return QueueStats(
        visible=counters.visible,
        in_flight=counters.in_flight,
        delayed=counters.delayed,
        dead_letter_pending=counters.dead_letter_pending,
        oldest_sent_at_ms=None
        if oldest is None
        else keys.read_u64(oldest[0], len(keys.RETENTION) + 4),
    )


def status_of(queue: QueueState, message_id: str) -> MessageStatus:
    """Status of one message at the queue's time, exact even where the queue is partly advanced:
    a message past its retention is expired first (`live_meta`, in the caller's layer), and one
    whose delay or lease ended reads as pending, as its transition would make it."""
    seq = queue.seq_of(message_id)
    meta = queue.live_meta(seq) if seq is not None else None
    if meta is not None:
        state = meta.state
        if state in _TIMED_STATES and meta.timer_ms <= queue.now_ms:
            state = MessageState.VISIBLE
        at_ms = meta.received_at_ms if state is MessageState.IN_FLIGHT else meta.sent_at_ms
        return MessageStatus(
            message_id=message_id,
            state=_LIVE_STATES[state],  # type: ignore[arg-type]
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

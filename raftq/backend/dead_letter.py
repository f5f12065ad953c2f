"""Moving a message to its queue's dead-letter queue.

When the DLQ is stored on this replica the move is one atomic step: the message leaves the
source (which keeps a `dead_lettered` status) and enters the DLQ with the same message id, body
and attributes. When it is not (it lives on another cluster), the message waits in the source's
outbox in state `DEAD_LETTER_PENDING`, never delivered, until a mover forwards it. A DLQ that
this replica holds but does not serve (fenced or importing during a move) counts as elsewhere.
"""

from __future__ import annotations

from raftq.backend.queue_state import QueueState
from raftq.backend.records import MessageMeta, MessageState, RemovedAs, ReplicaStatus


def dead_letter_target(queue: QueueState) -> QueueState | None:
    redrive = queue.record.attributes.redrive
    if redrive is None:
        return None
    target = QueueState.find(queue.txn, redrive.dead_letter_queue, queue.now_ms, queue.advanced)
    if (
        target is None
        or target.record.status != ReplicaStatus.SERVING  # moving away or in: it is remote
        or target.record.fifo != queue.record.fifo
        or target.qnum == queue.qnum
    ):
        return None
    return target


def move_to_dead_letter(queue: QueueState, meta: MessageMeta, target: QueueState | None) -> None:
    if target is None:
        queue.transition(meta, MessageState.DEAD_LETTER_PENDING)
        return
    body, attributes = queue.body(meta.seq)
    queue.remove(meta, RemovedAs.DEAD_LETTERED)
    moved = MessageMeta(
        seq=target.allocate_seq(),
        message_id=meta.message_id,
        state=MessageState.VISIBLE,
        priority=meta.priority,
        group_id=meta.group_id,
        dedup_id=meta.dedup_id,
        # SQS: a standard DLQ keeps the original enqueue time (retention counts from it); a FIFO
        # DLQ restarts it at the move.
        sent_at_ms=queue.now_ms if queue.record.fifo else meta.sent_at_ms,
        timer_ms=0,
        receive_count=meta.receive_count,
        first_received_at_ms=meta.first_received_at_ms,
        received_at_ms=0,
        handle_tag=b"",
        dead_letter_source=queue.queue_id,
        size_bytes=meta.size_bytes,
    )
    target.insert(moved, body, attributes)

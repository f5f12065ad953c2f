"""Moving a message to its queue's dead-letter queue.

When the DLQ is stored on this replica the move is one atomic step: the message leaves the
source (which keeps a `dead_lettered` status) and enters the DLQ with the same message id, body
and attributes. When it is not (it lives on another cluster), the message waits in the source's
outbox in state `DEAD_LETTER_PENDING`, never delivered, until the metadata leader forwards it
(ops_dead_letters.py). A DLQ that this replica holds but does not serve (fenced or importing
during a move) counts as elsewhere.

Both ways the copy in the DLQ is made by `store_dead_letter`, so a forwarded dead letter is the
message a local move would have made.
"""

from __future__ import annotations

from typing import Protocol

from raftq.backend.queue_state import QueueState
from raftq.backend.records import MessageMeta, MessageState, RemovedAs, ReplicaStatus


class DeadLetterFields(Protocol):
    """What a dead letter carries into its DLQ: a stored `MessageMeta`, or a forwarded
    `commands.DeadLetter`."""

    @property
    def message_id(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def group_id(self) -> str | None: ...
    @property
    def dedup_id(self) -> str | None: ...
    @property
    def sent_at_ms(self) -> int: ...
    @property
    def receive_count(self) -> int: ...
    @property
    def first_received_at_ms(self) -> int: ...
    @property
    def size_bytes(self) -> int: ...


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
    store_dead_letter(target, queue.queue_id, meta, body, attributes)


def store_dead_letter(
    target: QueueState,
    source_queue_id: str,
    letter: DeadLetterFields,
    body: bytes,
    attributes: bytes,
) -> MessageMeta:
    """`letter` as a new visible message of `target`, naming its source: frontends open its
    body with the source queue's key, which sealed it."""
    moved = MessageMeta(
        seq=target.allocate_seq(),
        message_id=letter.message_id,
        state=MessageState.VISIBLE,
        priority=letter.priority,
        group_id=letter.group_id,
        dedup_id=letter.dedup_id,
        # SQS: a standard DLQ keeps the original enqueue time (retention counts from it); a FIFO
        # DLQ restarts it at the move.
        sent_at_ms=target.now_ms if target.record.fifo else letter.sent_at_ms,
        timer_ms=0,
        receive_count=letter.receive_count,
        first_received_at_ms=letter.first_received_at_ms,
        received_at_ms=0,
        handle_tag=b"",
        dead_letter_source=source_queue_id,
        size_bytes=letter.size_bytes,
    )
    target.insert(moved, body, attributes)
    return moved

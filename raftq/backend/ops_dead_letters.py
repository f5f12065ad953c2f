"""Dead letters whose dead-letter queue lives on another cluster: the backend half of their
forwarding (the metadata leader drives it: raftq/metadata/dead_letter_forwarder.py).

A message past its queue's max receive count whose DLQ this replica does not serve waits in the
queue's outbox (`DEAD_LETTER_PENDING`, dead_letter.py). It is forwarded in three commands, each
through the Raft log of its cluster and each idempotent, so a forward repeated after a crash or a
leader change (of either cluster, or of the metadata group) still leaves exactly one copy:

1. `ReadDeadLetters` on the source: the oldest waiting ones, as stored, and the redrive target
   the queue names now.
2. `AcceptDeadLetters` on the DLQ's cluster: each becomes a visible message of the DLQ, the one a
   local move would make (`store_dead_letter`), unless the DLQ's accept record of (source queue
   id, message id) says it was stored before: then it is a duplicate and nothing is stored.
3. `ReleaseDeadLetters` on the source, with the ids the DLQ acknowledged (stored or duplicate):
   they leave the outbox, `dead_lettered`. So a message leaves its source only once its DLQ
   holds it. When the queue has no redrive policy any more, the forwarder releases them with
   `return_to_queue` instead: they become visible in the queue again, their receive count reset
   to 0, so that a redrive policy set later gives them their full number of receives before
   dead-lettering them again (with the old count they would move at the first receive).

How long an accept record lasts: the source holds a message at most its retention (at most
`RETENTION_MAX_MS`) after the message's `sent_at_ms`, so no forward of it can come later than
that. The record expires `RETENTION_MAX_MS` after the later of its accept and that send time
(source time), which covers a clock of either cluster running ahead of the other's. Records
expire through the EXPIRY family as dedup records do, and move with their queue.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.dead_letter import store_dead_letter
from raftq.backend.queue_state import QueueState
from raftq.backend.records import AcceptRecord, MessageMeta, MessageState, RemovedAs
from raftq.common import limits
from raftq.common.commands import (
    AcceptDeadLetters,
    DeadLetter,
    ReadDeadLetters,
    ReleaseDeadLetters,
)
from raftq.common.errors import (
    ConflictingState,
    CorruptState,
    DeadLetterQueueInvalid,
    InvalidParameter,
)
from raftq.common.results import DeadLetters, DeadLettersAccepted, DeadLettersReleased


def read_dead_letters(ctx: ApplyContext, command: ReadDeadLetters) -> DeadLetters:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)  # what expired is not forwarded
    entries: list[DeadLetter] = []
    size, more = 0, False
    for key in queue.family_keys(keys.DLQ_OUTBOX):
        if len(entries) >= command.limit:
            more = True
            break
        seq = keys.seq_at_end(key)
        meta = queue.meta(seq)
        if meta is None:
            raise CorruptState(f"the outbox of {queue.queue_id!r} names missing message {seq}")
        if queue.past_retention(meta):  # its expiry was left over: expire it, not forward it
            if not ctx.budget.take_one():
                more = True
                break
            queue.remove(meta, RemovedAs.EXPIRED)
            continue
        body, attributes = queue.body(seq)
        if entries and size + len(body) + len(attributes) > command.max_bytes:
            more = True
            break
        entries.append(_dead_letter(meta, body, attributes))
        size += len(body) + len(attributes)
    redrive = queue.record.attributes.redrive
    return DeadLetters(
        entries=tuple(entries),
        more=more,
        fifo=queue.record.fifo,
        dead_letter_queue=None if redrive is None else redrive.dead_letter_queue,
    )


def accept_dead_letters(ctx: ApplyContext, command: AcceptDeadLetters) -> DeadLettersAccepted:
    if command.source == command.queue:
        raise DeadLetterQueueInvalid("a queue cannot be its own dead-letter queue", field="source")
    _require_distinct((letter.message_id for letter in command.entries), "entries")
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    if queue.record.fifo != command.source_fifo:
        raise DeadLetterQueueInvalid(
            "a FIFO queue needs a FIFO dead-letter queue and a standard queue a standard one: "
            f"this dead-letter queue is {'FIFO' if queue.record.fifo else 'standard'}",
            field="source_fifo",
        )
    if queue.record.fifo:
        for position, letter in enumerate(command.entries):
            if letter.group_id is None or letter.priority != 0:
                raise InvalidParameter(
                    "a dead letter for a FIFO queue has a group id and priority 0",
                    field=f"entries.{position}.group_id",
                )
    accepted: list[str] = []
    duplicates: list[str] = []
    for letter in command.entries:
        key = keys.accepted_key(queue.qnum, command.source, letter.message_id)
        seq = queue.seq_of(letter.message_id)
        if _accepted_before(queue, key) or (seq is not None and queue.live_meta(seq) is not None):
            duplicates.append(letter.message_id)
            continue
        stored = store_dead_letter(queue, command.source, letter, letter.body, letter.attributes)
        record = AcceptRecord(
            seq=stored.seq,
            expires_at_ms=max(ctx.now_ms, letter.sent_at_ms) + limits.RETENTION_MAX_MS,
        )
        queue.put_expiring(key, record.pack(), record.expires_at_ms, keys.EXPIRY_ACCEPTED)
        accepted.append(letter.message_id)
    return DeadLettersAccepted(accepted=tuple(accepted), duplicates=tuple(duplicates))


def release_dead_letters(ctx: ApplyContext, command: ReleaseDeadLetters) -> DeadLettersReleased:
    _require_distinct(command.message_ids, "message_ids")
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    if command.return_to_queue and queue.record.attributes.redrive is not None:
        # The forwarder read the queue without one; it has one again: forward instead.
        raise ConflictingState(
            "the queue has a redrive policy: its dead letters go to its dead-letter queue",
            field="return_to_queue",
        )
    released: list[str] = []
    for message_id in command.message_ids:
        seq = queue.seq_of(message_id)
        meta = None if seq is None else queue.live_meta(seq)
        if meta is None or meta.state is not MessageState.DEAD_LETTER_PENDING:
            continue  # released before, expired, or purged
        if command.return_to_queue:
            meta.receive_count = 0
            meta.received_at_ms = 0
            meta.handle_tag = b""  # every earlier receipt handle stays invalid
            queue.transition(meta, MessageState.VISIBLE)
        else:
            queue.remove(meta, RemovedAs.DEAD_LETTERED)
        released.append(message_id)
    return DeadLettersReleased(released=tuple(released), returned_to_queue=command.return_to_queue)


def _dead_letter(meta: MessageMeta, body: bytes, attributes: bytes) -> DeadLetter:
    try:
        return DeadLetter(
            message_id=meta.message_id,
            body=body,
            attributes=attributes,
            group_id=meta.group_id,
            dedup_id=meta.dedup_id,
            sent_at_ms=meta.sent_at_ms,
            receive_count=meta.receive_count,
            first_received_at_ms=meta.first_received_at_ms,
            size_bytes=meta.size_bytes,
            priority=meta.priority,
        )
    except ValidationError as error:
        # Stored messages always fit (sends validate the same fields); should one not, refuse
        # the read on every replica alike rather than stop applying.
        raise ConflictingState(
            f"dead letter {meta.message_id!r} cannot be forwarded: {error.errors()[0]['msg']}",
            field="queue",
        ) from None


def _accepted_before(queue: QueueState, key: bytes) -> bool:
    raw = queue.txn.get(key)
    return raw is not None and AcceptRecord.unpack(raw).expires_at_ms > queue.now_ms


def _require_distinct(message_ids: Iterable[str], field: str) -> None:
    listed = list(message_ids)
    if len(set(listed)) != len(listed):
        raise InvalidParameter("a message id is listed twice", field=field)

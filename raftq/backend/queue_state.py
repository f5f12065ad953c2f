"""One queue's messages, indexes and exact counters, inside one command's `Txn`.

Everything that changes where a message is indexed goes through `_enter` / `_leave`, which add or
remove exactly one index entry and one unit of one counter for the message's state. That single
pair is what keeps "no message both visible and in flight" and "counts equal the index sets" true;
the property tests check both against the stored indexes.

Time is `now_ms` from the command. `advance` performs every transition that is due at `now_ms`
(delays ending, visibility deadlines passing, retention, expiry of dedup/attempt/status/accept
records), and every queue command runs it first, so a command never sees a state that is stale
for its time.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from raftq.backend import keys
from raftq.backend.fifo_groups import FifoGroups
from raftq.backend.identifiers import ReceiptHandle
from raftq.backend.records import (
    AcceptRecord,
    AttemptRecord,
    Counters,
    DedupRecord,
    MessageMeta,
    MessageState,
    QueueRecord,
    RemovedAs,
    ReplicaStatus,
    StatusRecord,
    pack_body,
    unpack_body,
)
from raftq.backend.txn import Txn
from raftq.common.errors import CorruptState, QueueMoved, QueueNotFound, ReceiptHandleInvalid


def _expires_at(kind: bytes, raw: bytes) -> int:
    if kind == keys.EXPIRY_DEDUP:
        return DedupRecord.unpack(raw).expires_at_ms
    if kind == keys.EXPIRY_ATTEMPT:
        return AttemptRecord.unpack(raw).expires_at_ms
    if kind == keys.EXPIRY_STATUS:
        return StatusRecord.unpack(raw).expires_at_ms
    if kind == keys.EXPIRY_ACCEPTED:
        return AcceptRecord.unpack(raw).expires_at_ms
    raise CorruptState(f"unknown expiry kind {kind!r}")


# Due work is read in chunks and applied after each read, because a scan must not stay open
# while the same range is modified.
_CHUNK = 256


AdvancedAt = dict[int, int]
"""qnum -> the time a queue was last advanced to within one Raft entry (see `advance`)."""


class QueueState:
    def __init__(
        self, txn: Txn, record: QueueRecord, now_ms: int, advanced: AdvancedAt | None = None
    ) -> None:
        self.txn = txn
        self.record = record
        self.now_ms = now_ms
        self._advanced = advanced
        self.qnum = record.qnum
        raw = txn.get(keys.counters_key(self.qnum))
        self.counters = Counters.unpack(raw) if raw is not None else Counters()
        self.groups = FifoGroups(txn, self.qnum) if record.fifo else None

    @classmethod
    def load(
        cls, txn: Txn, queue_id: str, now_ms: int, advanced: AdvancedAt | None = None
    ) -> QueueState:
        """The queue, if this replica serves it (every client command goes through here)."""
        found = cls.find(txn, queue_id, now_ms, advanced)
        if found is None:
            raise QueueNotFound(f"queue {queue_id!r} does not exist", field="queue")
        if found.record.status != ReplicaStatus.SERVING:
            raise QueueMoved(
                f"queue {queue_id!r} is not served by this cluster (placement epoch "
                f"{found.record.epoch}): ask the metadata service where it lives",
                field="queue",
            )
        return found

    @classmethod
    def find(
        cls, txn: Txn, queue_id: str, now_ms: int, advanced: AdvancedAt | None = None
    ) -> QueueState | None:
        """The queue's replica whatever its status: moves and drops act on fenced ones too."""
        raw = txn.get(keys.queue_key(queue_id))
        return None if raw is None else cls(txn, QueueRecord.unpack(raw), now_ms, advanced)

    @property
    def advanced(self) -> AdvancedAt | None:
        return self._advanced

    @property
    def queue_id(self) -> str:
        return self.record.queue_id

    def save_record(self) -> None:
        self.txn.put(keys.queue_key(self.queue_id), self.record.pack())
        self._forget_advance()  # e.g. a lower retention makes messages due at the same time

    def _forget_advance(self) -> None:
        if self._advanced is not None:
            self._advanced.pop(self.qnum, None)

    # --- messages ------------------------------------------------------------------------------

    def meta(self, seq: int) -> MessageMeta | None:
        raw = self.txn.get(keys.message_key(self.qnum, seq))
        return None if raw is None else MessageMeta.unpack(raw)

    def body(self, seq: int) -> tuple[bytes, bytes]:
        raw = self.txn.get(keys.body_key(self.qnum, seq))
        if raw is None:
            return b"", b""
        return unpack_body(raw)

    def seq_of(self, message_id: str) -> int | None:
        raw = self.txn.get(keys.by_id_key(self.qnum, message_id))
        return None if raw is None else keys.read_u64(raw, 0)

    def allocate_seq(self) -> int:
        seq = self.counters.next_seq
        self.counters.next_seq += 1
        self._save_counters()
        return seq

    def insert(self, meta: MessageMeta, body: bytes, attributes: bytes) -> None:
        q = self.qnum
        self.txn.put(keys.body_key(q, meta.seq), pack_body(body, attributes))
        self.txn.put(keys.by_id_key(q, meta.message_id), keys.u64(meta.seq))
        self.txn.put(keys.timed_key(keys.RETENTION, q, meta.sent_at_ms, meta.seq), b"")
        self._enter(meta)
        self._put_meta(meta)

    def transition(self, meta: MessageMeta, state: MessageState, timer_ms: int = 0) -> None:
        self._leave(meta)
        meta.state = state
        meta.timer_ms = timer_ms
        self._enter(meta)
        self._put_meta(meta)

    def remove(self, meta: MessageMeta, removed_as: RemovedAs, result: bytes | None = None) -> None:
        q = self.qnum
        self._leave(meta)
        self.txn.delete(keys.message_key(q, meta.seq))
        self.txn.delete(keys.body_key(q, meta.seq))
        self.txn.delete(keys.by_id_key(q, meta.message_id))
        self.txn.delete(keys.timed_key(keys.RETENTION, q, meta.sent_at_ms, meta.seq))
        keep_ms = self.record.attributes.status_retention_ms
        if keep_ms > 0:
            status = StatusRecord(
                removed_as=removed_as,
                receive_count=meta.receive_count,
                at_ms=self.now_ms,
                expires_at_ms=self.now_ms + keep_ms,
                result=result,
            )
            self.put_expiring(
                keys.status_key(q, meta.message_id),
                status.pack(),
                status.expires_at_ms,
                keys.EXPIRY_STATUS,
            )

    def meta_for_handle(self, receipt_handle: str) -> MessageMeta | None:
        """The message a handle names, or None if it is gone. A handle that is not the latest
        one of a stored message raises `ReceiptHandleInvalid`."""
        handle = ReceiptHandle.decode(receipt_handle)
        meta = self.meta(handle.seq)
        if meta is None:
            return None
        if meta.receive_count != handle.receive_count or meta.handle_tag != handle.tag:
            raise ReceiptHandleInvalid(
                "the receipt handle is not the latest one of its message", field="receipt_handle"
            )
        return meta

    def visible_candidates(self, limit: int) -> list[MessageMeta]:
        """Up to `limit` visible messages in delivery order. For FIFO queues: only from the
        first ready group (the caller takes them, which locks the group, and asks again)."""
        if self.groups is not None:
            seqs = self.groups.first_ready_group_seqs(limit)
        else:
            start, stop = keys.family_range(keys.VISIBLE, self.qnum)
            seqs = [keys.seq_at_end(key) for key, _ in islice(self.txn.scan(start, stop), limit)]
        metas = [self.meta(seq) for seq in seqs]
        return [meta for meta in metas if meta is not None]

    def next_visible_at_ms(self) -> int | None:
        """When the earliest delayed or in-flight message becomes visible, if any."""
        times = []
        for prefix in (keys.DELAYED, keys.IN_FLIGHT):
            first = self.txn.first(*keys.family_range(prefix, self.qnum))
            if first is not None:
                times.append(keys.read_u64(first[0], len(prefix) + 4))
        return min(times, default=None)

    # --- records that expire --------------------------------------------------------------------

    def put_expiring(self, key: bytes, value: bytes, expires_at_ms: int, kind: bytes) -> None:
        self.txn.put(key, value)
        self.txn.put(keys.expiry_key(self.qnum, expires_at_ms, kind, key), b"")

    def live_dedup(self, dedup_id: str) -> DedupRecord | None:
        raw = self.txn.get(keys.dedup_key(self.qnum, dedup_id))
        if raw is None:
            return None
        record = DedupRecord.unpack(raw)
        return record if record.expires_at_ms > self.now_ms else None

    # --- time -----------------------------------------------------------------------------------

    def advance(self, budget: int | None = None) -> tuple[int, bool]:
        """Perform the transitions due at `now_ms`. With a `budget`, stop after the chunk that
        reaches it. Returns (transitions made, whether due work may remain).

        Within one entry a queue already advanced to `now_ms` has nothing due, unless a command
        since made something due at once (a receive with visibility 0) or changed the queue's
        record: the `advanced` map says which, and lets group-committed commands skip the scans.
        """
        memo = self._advanced
        if budget is None and memo is not None and memo.get(self.qnum) == self.now_ms:
            return 0, False
        done = 0
        for step in (
            self._end_delays,
            self._end_visibility,
            self._expire_retention,
            self._gc_records,
        ):
            for count in step():
                done += count
                if budget is not None and done >= budget:
                    return done, True
        if self._advanced is not None:
            self._advanced[self.qnum] = self.now_ms
        return done, False

    def _due(self, prefix: bytes, until: bytes) -> Iterator[list[bytes]]:
        start = keys.family(prefix, self.qnum)
        while chunk := [key for key, _ in islice(self.txn.scan(start, until), _CHUNK)]:
            yield chunk

    def _end_delays(self) -> Iterator[int]:
        until = keys.timed_until(keys.DELAYED, self.qnum, self.now_ms)
        for chunk in self._due(keys.DELAYED, until):
            for key in chunk:
                meta = self._meta_or_corrupt(keys.seq_at_end(key))
                self.transition(meta, MessageState.VISIBLE)
            yield len(chunk)

    def _end_visibility(self) -> Iterator[int]:
        until = keys.timed_until(keys.IN_FLIGHT, self.qnum, self.now_ms)
        for chunk in self._due(keys.IN_FLIGHT, until):
            for key in chunk:
                meta = self._meta_or_corrupt(keys.seq_at_end(key))
                self.transition(meta, MessageState.VISIBLE)
            yield len(chunk)

    def _expire_retention(self) -> Iterator[int]:
        oldest_kept_ms = self.now_ms - self.record.attributes.retention_ms
        if oldest_kept_ms < 0:
            return
        until = keys.timed_until(keys.RETENTION, self.qnum, oldest_kept_ms)
        for chunk in self._due(keys.RETENTION, until):
            for key in chunk:
                meta = self._meta_or_corrupt(keys.seq_at_end(key))
                self.remove(meta, RemovedAs.EXPIRED)
            yield len(chunk)

    def _gc_records(self) -> Iterator[int]:
        until = keys.timed_until(keys.EXPIRY, self.qnum, self.now_ms)
        for chunk in self._due(keys.EXPIRY, until):
            for key in chunk:
                self.txn.delete(key)
                expires_ms, kind, record_key = keys.split_expiry_key(key)
                raw = self.txn.get(record_key)
                # Delete the record only if it is the one this expiry entry was written for.
                if raw is not None and _expires_at(kind, raw) == expires_ms:
                    self.txn.delete(record_key)
            yield len(chunk)

    # --- index and counter bookkeeping ----------------------------------------------------------

    def _enter(self, meta: MessageMeta) -> None:
        q, c = self.qnum, self.counters
        match meta.state:
            case MessageState.VISIBLE:
                c.visible += 1
                if self.groups is not None and meta.group_id is not None:
                    self.groups.add_visible(meta.group_id, meta.seq)
                else:
                    self.txn.put(keys.visible_key(q, meta.priority, meta.seq), b"")
            case MessageState.DELAYED:
                c.delayed += 1
                self.txn.put(keys.timed_key(keys.DELAYED, q, meta.timer_ms, meta.seq), b"")
                if meta.timer_ms <= self.now_ms:
                    self._forget_advance()
            case MessageState.IN_FLIGHT:
                c.in_flight += 1
                self.txn.put(keys.timed_key(keys.IN_FLIGHT, q, meta.timer_ms, meta.seq), b"")
                if meta.timer_ms <= self.now_ms:
                    self._forget_advance()  # due at once: the next advance must see it
                if self.groups is not None and meta.group_id is not None:
                    self.groups.add_in_flight(meta.group_id)
            case MessageState.DEAD_LETTER_PENDING:
                c.dead_letter_pending += 1
                self.txn.put(keys.outbox_key(q, meta.seq), b"")
        self._save_counters()

    def _leave(self, meta: MessageMeta) -> None:
        q, c = self.qnum, self.counters
        match meta.state:
            case MessageState.VISIBLE:
                c.visible -= 1
                if self.groups is not None and meta.group_id is not None:
                    self.groups.remove_visible(meta.group_id, meta.seq)
                else:
                    self.txn.delete(keys.visible_key(q, meta.priority, meta.seq))
            case MessageState.DELAYED:
                c.delayed -= 1
                self.txn.delete(keys.timed_key(keys.DELAYED, q, meta.timer_ms, meta.seq))
            case MessageState.IN_FLIGHT:
                c.in_flight -= 1
                self.txn.delete(keys.timed_key(keys.IN_FLIGHT, q, meta.timer_ms, meta.seq))
                if self.groups is not None and meta.group_id is not None:
                    self.groups.remove_in_flight(meta.group_id)
            case MessageState.DEAD_LETTER_PENDING:
                c.dead_letter_pending -= 1
                self.txn.delete(keys.outbox_key(q, meta.seq))
        self._save_counters()

    def _put_meta(self, meta: MessageMeta) -> None:
        self.txn.put(keys.message_key(self.qnum, meta.seq), meta.pack())

    def _save_counters(self) -> None:
        self.txn.put(keys.counters_key(self.qnum), self.counters.pack())

    def _meta_or_corrupt(self, seq: int) -> MessageMeta:
        meta = self.meta(seq)
        if meta is None:
            raise CorruptState(f"index of queue {self.queue_id!r} names missing message {seq}")
        return meta

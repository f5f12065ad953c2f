"""One queue's messages, indexes and exact counters, inside one command's `Txn`.

Everything that changes where a message is indexed goes through `_enter` / `_leave`, which add or
remove exactly one index entry and one unit of one counter for the message's state. That single
pair is what keeps "no message both visible and in flight" and "counts equal the index sets" true;
the property tests check both against the stored indexes.

Time is `now_ms` from the command. `advance` performs the transitions that are due at `now_ms`
(retention, delays ending, visibility deadlines passing, expiry of dedup/attempt/status/accept
records), as many as the entry's `WorkBudget` allows (work_budget.py), and every queue command
runs it first. A queue whose due work exceeds the budget is *partly advanced* until later entries
(its next commands, the leader's expiry sweeps) catch up. Meanwhile:
- no promise depends on it: a message past its retention is never handed out or acted on (a
  command that meets one expires it first: `live_meta`, and receives check each candidate), and
  a message whose delay or lease has not ended is not visible, so leftover work can only make a
  delivery later, never early; FIFO order holds, as transitions are made in due order;
- counts (and the in-flight limit) are those of the state as advanced: a message whose delay or
  lease ended is still counted delayed or in flight, and one whose retention passed is still
  counted, until the transition is made. They catch up as the sweeps proceed (each sweep entry
  makes up to the budget of transitions). Message status (views.py) is exact at `now_ms`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

from raftq.backend import expiring_records, keys, task_records
from raftq.backend.fifo_groups import FifoGroups
from raftq.backend.identifiers import ReceiptHandle
from raftq.backend.records import (
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
from raftq.backend.work_budget import WorkBudget
from raftq.common.errors import CorruptState, QueueMoved, QueueNotFound, ReceiptHandleInvalid

# Due work is read in chunks and applied after each read, because a scan must not stay open
# while the same range is modified.
_CHUNK = 256

_Step = Callable[[], Iterator[None]]


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
        """The stored message, as advanced: it may be past its retention (see `live_meta`)."""
        raw = self.txn.get(keys.message_key(self.qnum, seq))
        return None if raw is None else MessageMeta.unpack(raw)

    def live_meta(self, seq: int) -> MessageMeta | None:
        """The message, unless it is gone. One past its retention whose expiry was left over
        (a partly advanced queue) is expired now and is gone: a command that names a message
        (by receipt handle, id or receive attempt) then acts as if the queue were advanced.
        This work is bounded by the command's own size."""
        meta = self.meta(seq)
        if meta is not None and self.past_retention(meta):
            self.remove(meta, RemovedAs.EXPIRED)
            return None
        return meta

    def past_retention(self, meta: MessageMeta) -> bool:
        return meta.sent_at_ms + self.record.attributes.retention_ms <= self.now_ms

    def leased(self, meta: MessageMeta) -> bool:
        """In flight with its deadline still ahead: a lease that ended, even if its transition
        back to visible was left over, is not held any more."""
        return meta.state is MessageState.IN_FLIGHT and meta.timer_ms > self.now_ms

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

    def remove(
        self,
        meta: MessageMeta,
        removed_as: RemovedAs,
        result: bytes | None = None,
        task_phase: task_records.TaskPhase | None = None,
    ) -> None:
        """Remove the message, keeping its status (and, for a task, its record: how it ended,
        `task_phase` or what `removed_as` means)."""
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
        if meta.task_type is not None:
            task_records.on_removed(self, meta, removed_as, task_phase, result)

    def meta_for_handle(self, receipt_handle: str) -> MessageMeta | None:
        """The message a handle names, or None if it is gone. A handle that is not the latest
        one of a stored message raises `ReceiptHandleInvalid`."""
        handle = ReceiptHandle.decode(receipt_handle)
        meta = self.live_meta(handle.seq)  # an expired message is gone, whatever the handle
        if meta is None:
            return None
        if meta.receive_count != handle.receive_count or meta.handle_tag != handle.tag:
            raise ReceiptHandleInvalid(ReceiptHandleInvalid.NOT_LATEST, field="receipt_handle")
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

    def advance(self, budget: WorkBudget) -> tuple[int, bool]:
        """Perform the transitions due at `now_ms`, as many as `budget` has left (it is spent
        by as many). Returns (transitions made, whether due work may remain: the budget ran
        out).

        Retention comes first: removing a message whose delay also ended costs one transition
        instead of two, and what is left over is then never expired work that could have been
        done. Each kind is done in due order, so a partly advanced queue has made exactly the
        earliest of its due transitions of that kind.

        Within one entry a queue already advanced to `now_ms` has nothing due, unless a command
        since made something due at once (a receive with visibility 0) or changed the queue's
        record: the `advanced` map says which, and lets group-committed commands skip the scans.
        """
        memo = self._advanced
        if memo is not None and memo.get(self.qnum) == self.now_ms:
            return 0, False
        done = 0
        steps: tuple[_Step, ...] = (
            self._expire_retention,
            self._end_delays,
            self._end_visibility,
            self._gc_records,
        )
        for step in steps:
            room = budget.left
            # islice stops asking once `room` are made, so the step never makes one more.
            made = sum(1 for _ in islice(step(), room))
            budget.spend(made)
            done += made
            if made == room:
                return done, True
        if memo is not None:
            memo[self.qnum] = self.now_ms
        return done, False

    def family_keys(self, prefix: bytes, until: bytes | None = None) -> Iterator[bytes]:
        """The keys of one family of this queue (below `until`), in order, for a caller that
        changes the queue as it goes. Read a chunk at a time, each after the last key read, so
        keys the caller deleted are not stepped over again (the entry's layer still holds them,
        as deletions)."""
        start = keys.family(prefix, self.qnum)
        if until is None:
            until = keys.prefix_end(start)
        while chunk := [key for key, _ in islice(self.txn.scan(start, until), _CHUNK)]:
            yield from chunk
            start = chunk[-1] + b"\x00"

    def _expire_retention(self) -> Iterator[None]:
        oldest_kept_ms = self.now_ms - self.record.attributes.retention_ms
        if oldest_kept_ms < 0:
            return
        until = keys.timed_until(keys.RETENTION, self.qnum, oldest_kept_ms)
        for key in self.family_keys(keys.RETENTION, until):
            self.remove(self._meta_or_corrupt(keys.seq_at_end(key)), RemovedAs.EXPIRED)
            yield None

    def _end_delays(self) -> Iterator[None]:
        until = keys.timed_until(keys.DELAYED, self.qnum, self.now_ms)
        for key in self.family_keys(keys.DELAYED, until):
            self.transition(self._meta_or_corrupt(keys.seq_at_end(key)), MessageState.VISIBLE)
            yield None

    def _end_visibility(self) -> Iterator[None]:
        until = keys.timed_until(keys.IN_FLIGHT, self.qnum, self.now_ms)
        for key in self.family_keys(keys.IN_FLIGHT, until):
            self.transition(self._meta_or_corrupt(keys.seq_at_end(key)), MessageState.VISIBLE)
            yield None

    def _gc_records(self) -> Iterator[None]:
        until = keys.timed_until(keys.EXPIRY, self.qnum, self.now_ms)
        for key in self.family_keys(keys.EXPIRY, until):
            self.txn.delete(key)
            expires_ms, kind, record_key = keys.split_expiry_key(key)
            raw = self.txn.get(record_key)
            # Delete the record only if it is the one this expiry entry was written for.
            if raw is not None and expiring_records.expires_at(kind, raw) == expires_ms:
                if kind == keys.EXPIRY_TASK:
                    task_records.forget(self, raw)
                else:
                    self.txn.delete(record_key)
            yield None

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
                if meta.task_type is not None:
                    self.txn.put(keys.task_running_key(q, meta.task_type, meta.seq), b"")
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
                if meta.task_type is not None:
                    self.txn.delete(keys.task_running_key(q, meta.task_type, meta.seq))
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

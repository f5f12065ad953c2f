"""Checks of a replica's raw store against the key layout of raftq/backend/keys.py.

`check_invariants(store)` reads every key once and asserts what the state machine promises to
keep true after every entry:
- every message (M) sits in exactly one state index, the one its `MessageMeta.state` names
  (V for a visible standard message, F for a visible FIFO message, D delayed, T in flight,
  O waiting for a remote DLQ), under the right priority, group and timer;
- no index entry (V F D T R O B I) names a message that is not stored, and every message has
  its body (B), its id lookup (I) and its retention entry (R);
- each queue's `Counters` equal the sizes of its index sets, and no sequence number is at or
  past `next_seq`;
- FIFO: a group sits in GROUP_READY (A) iff it has visible messages and none in flight, keyed by
  its lowest visible sequence; `GroupState.in_flight` equals its in-flight messages, and a
  group with neither has no GroupState;
- every dedup, attempt, status and accept record has the expiry entry (X) written for it;
- no key belongs to a queue number that no queue has (a dropped queue leaves nothing behind);
- an import session (N) exists exactly for each queue being imported (a move).

`store_contents(store)` returns every (key, value) pair, to compare replicas byte for byte.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from raftq.backend import keys
from raftq.backend.records import (
    AcceptRecord,
    AttemptRecord,
    Counters,
    DedupRecord,
    GroupState,
    MessageMeta,
    MessageState,
    QueueRecord,
    ReplicaStatus,
    StatusRecord,
)
from raftq.backend.store import ReadView

_QNUM_END = len(keys.QUEUE) + 4  # every per-queue family is prefix + u32 qnum
_SEQ_FAMILIES = (keys.MESSAGE, keys.BODY, keys.VISIBLE, keys.GROUP_VISIBLE, keys.DLQ_OUTBOX)
_TIMED_FAMILIES = (keys.DELAYED, keys.IN_FLIGHT, keys.RETENTION)


def store_contents(store: ReadView) -> list[tuple[bytes, bytes]]:
    """Every (key, value) pair of the store, in key order."""
    return list(store.scan(b"", b"\xff"))


@dataclass
class _QueueKeys:
    """One queue's keys, by family."""

    families: defaultdict[bytes, dict[bytes, bytes]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def family(self, prefix: bytes) -> dict[bytes, bytes]:
        return self.families.get(prefix, {})


def check_invariants(store: ReadView) -> None:
    queues: dict[int, QueueRecord] = {}
    per_queue: defaultdict[int, _QueueKeys] = defaultdict(_QueueKeys)
    importing: list[str] = []
    for key, value in store_contents(store):
        prefix = key[:1]
        if prefix == keys.META:
            continue
        if prefix == keys.IMPORT:
            importing.append(key[1:].decode())
            continue
        if prefix == keys.QUEUE:
            record = QueueRecord.unpack(value)
            assert keys.queue_key(record.queue_id) == key, key
            assert record.qnum not in queues, f"two queues share qnum {record.qnum}"
            queues[record.qnum] = record
            continue
        assert prefix in keys.QUEUE_FAMILIES, f"key of no known family: {key!r}"
        qnum = int.from_bytes(key[1:_QNUM_END], "big")
        per_queue[qnum].families[prefix][key] = value
    orphans = set(per_queue) - set(queues)
    assert not orphans, f"keys of queue numbers no queue has: {sorted(orphans)}"
    being_imported = {q.queue_id for q in queues.values() if q.status == ReplicaStatus.IMPORTING}
    assert set(importing) == being_imported, "an import session without its importing queue"
    for qnum, record in queues.items():
        if record.status != ReplicaStatus.IMPORTING:  # a copy in progress is not whole yet
            _check_queue(record, per_queue[qnum])


def _check_queue(queue: QueueRecord, stored: _QueueKeys) -> None:
    q, name = queue.qnum, queue.queue_id
    metas: dict[int, MessageMeta] = {}
    for key, raw in stored.family(keys.MESSAGE).items():
        meta = MessageMeta.unpack(raw)
        assert keys.message_key(q, meta.seq) == key, (name, key, meta)
        metas[meta.seq] = meta

    # No index entry names a missing message.
    for prefix in (*_SEQ_FAMILIES, *_TIMED_FAMILIES):
        for key in stored.family(prefix):
            assert keys.seq_at_end(key) in metas, (name, prefix, key, "names a missing message")
    by_id = stored.family(keys.BY_ID)
    for raw_seq in by_id.values():
        assert keys.read_u64(raw_seq, 0) in metas, (name, "id lookup names a missing message")

    # Every message is in exactly the index its state names, and has B, I and R entries.
    counters = _counters(queue, stored)
    expected_index: set[bytes] = set()
    for seq, meta in metas.items():
        expected_index.add(_state_index_key(queue, meta))
        assert keys.body_key(q, seq) in stored.family(keys.BODY), (name, seq, "no body")
        assert by_id.get(keys.by_id_key(q, meta.message_id)) == keys.u64(seq), (name, seq)
        retention = keys.timed_key(keys.RETENTION, q, meta.sent_at_ms, seq)
        assert retention in stored.family(keys.RETENTION), (name, seq, "no retention entry")
        assert seq < counters.next_seq, (name, seq, "seq at or past next_seq")
    actual_index = {
        key
        for prefix in (
            keys.VISIBLE,
            keys.GROUP_VISIBLE,
            keys.DELAYED,
            keys.IN_FLIGHT,
            keys.DLQ_OUTBOX,
        )
        for key in stored.family(prefix)
    }
    assert actual_index == expected_index, (
        name,
        "state index differs from message states",
        sorted(actual_index - expected_index),
        sorted(expected_index - actual_index),
    )
    for prefix in (keys.BODY, keys.BY_ID, keys.RETENTION):
        assert len(stored.family(prefix)) == len(metas), (name, prefix, "extra entries")

    # Counters are the sizes of the index sets.
    states = Counter(meta.state for meta in metas.values())
    sizes = {
        MessageState.VISIBLE: len(stored.family(keys.VISIBLE))
        + len(stored.family(keys.GROUP_VISIBLE)),
        MessageState.DELAYED: len(stored.family(keys.DELAYED)),
        MessageState.IN_FLIGHT: len(stored.family(keys.IN_FLIGHT)),
        MessageState.DEAD_LETTER_PENDING: len(stored.family(keys.DLQ_OUTBOX)),
    }
    counted = {
        MessageState.VISIBLE: counters.visible,
        MessageState.DELAYED: counters.delayed,
        MessageState.IN_FLIGHT: counters.in_flight,
        MessageState.DEAD_LETTER_PENDING: counters.dead_letter_pending,
    }
    for state in MessageState:
        assert counted[state] == sizes[state] == states[state], (name, state, counters)

    if queue.fifo:
        _check_groups(queue, stored, metas)
    else:
        assert not stored.family(keys.GROUP_READY), (name, "standard queue with ready groups")
        assert not stored.family(keys.GROUP_STATE), (name, "standard queue with group state")
    _check_expiring_records(queue, stored)


def _counters(queue: QueueRecord, stored: _QueueKeys) -> Counters:
    raw = stored.family(keys.COUNTERS).get(keys.counters_key(queue.qnum))
    assert raw is not None, (queue.queue_id, "no counters")
    return Counters.unpack(raw)


def _state_index_key(queue: QueueRecord, meta: MessageMeta) -> bytes:
    q, seq = queue.qnum, meta.seq
    match meta.state:
        case MessageState.VISIBLE:
            assert meta.timer_ms == 0, (queue.queue_id, meta)
            if queue.fifo:
                assert meta.group_id is not None, (queue.queue_id, meta)
                return keys.group_visible_key(q, meta.group_id, seq)
            return keys.visible_key(q, meta.priority, seq)
        case MessageState.DELAYED:
            return keys.timed_key(keys.DELAYED, q, meta.timer_ms, seq)
        case MessageState.IN_FLIGHT:
            assert meta.receive_count > 0 and meta.handle_tag, (queue.queue_id, meta)
            return keys.timed_key(keys.IN_FLIGHT, q, meta.timer_ms, seq)
        case MessageState.DEAD_LETTER_PENDING:
            assert meta.timer_ms == 0, (queue.queue_id, meta)
            return keys.outbox_key(q, seq)


def _check_groups(queue: QueueRecord, stored: _QueueKeys, metas: dict[int, MessageMeta]) -> None:
    name = queue.queue_id
    visible: defaultdict[str, list[int]] = defaultdict(list)
    in_flight: Counter[str] = Counter()
    for seq, meta in metas.items():
        assert meta.group_id is not None, (name, meta)
        if meta.state is MessageState.VISIBLE:
            visible[meta.group_id].append(seq)
        elif meta.state is MessageState.IN_FLIGHT:
            in_flight[meta.group_id] += 1

    expected_ready = {group: min(seqs) for group, seqs in visible.items() if in_flight[group] == 0}
    ready: dict[str, int] = {}
    for key in stored.family(keys.GROUP_READY):
        head_seq, group = keys.group_of_ready_key(key)
        assert group not in ready, (name, group, "ready twice")
        ready[group] = head_seq
    assert ready == expected_ready, (name, "ready groups", ready, expected_ready)

    expected_states = {
        keys.group_state_key(queue.qnum, group): GroupState(
            in_flight=in_flight[group], ready_head=expected_ready.get(group)
        )
        for group in set(visible) | set(in_flight)
        if in_flight[group] > 0 or group in expected_ready
    }
    states = {key: GroupState.unpack(raw) for key, raw in stored.family(keys.GROUP_STATE).items()}
    assert states == expected_states, (name, "group states", states, expected_states)


def _check_expiring_records(queue: QueueRecord, stored: _QueueKeys) -> None:
    expiry = stored.family(keys.EXPIRY)
    kinds: list[tuple[bytes, bytes, Callable[[bytes], int]]] = [
        (keys.DEDUP, keys.EXPIRY_DEDUP, lambda raw: DedupRecord.unpack(raw).expires_at_ms),
        (keys.ATTEMPT, keys.EXPIRY_ATTEMPT, lambda raw: AttemptRecord.unpack(raw).expires_at_ms),
        (keys.STATUS, keys.EXPIRY_STATUS, lambda raw: StatusRecord.unpack(raw).expires_at_ms),
        (keys.ACCEPTED, keys.EXPIRY_ACCEPTED, lambda raw: AcceptRecord.unpack(raw).expires_at_ms),
    ]
    for prefix, kind, expires_at in kinds:
        for key, raw in stored.family(prefix).items():
            entry = keys.expiry_key(queue.qnum, expires_at(raw), kind, key)
            assert entry in expiry, (queue.queue_id, key, "record without its expiry entry")

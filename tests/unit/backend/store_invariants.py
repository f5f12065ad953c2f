"""Checks of a replica's raw store against the rules of raftq/backend/keys.py and queue_state.py:
every message is indexed exactly once for its state, counters equal the index sets, FIFO groups
are ready exactly when they should be. Used after every step of the property tests."""

from __future__ import annotations

from collections import Counter, defaultdict

from raftq.backend import keys
from raftq.backend.records import Counters, GroupState, MessageMeta, MessageState, QueueRecord
from raftq.backend.store import ReadView


def _family(store: ReadView, prefix: bytes, qnum: int) -> list[bytes]:
    return [key for key, _ in store.scan(*keys.family_range(prefix, qnum))]


def check_invariants(store: ReadView) -> None:
    for _, raw in store.scan(keys.QUEUE, keys.prefix_end(keys.QUEUE)):
        _check_queue(store, QueueRecord.unpack(raw))


def _check_queue(store: ReadView, queue: QueueRecord) -> None:
    q = queue.qnum
    metas = {
        keys.seq_at_end(key): MessageMeta.unpack(raw)
        for key, raw in store.scan(*keys.family_range(keys.MESSAGE, q))
    }
    visible = {keys.seq_at_end(k) for k in _family(store, keys.VISIBLE, q)}
    fifo_visible = {keys.seq_at_end(k) for k in _family(store, keys.GROUP_VISIBLE, q)}
    delayed = {keys.seq_at_end(k): keys.read_u64(k, 5) for k in _family(store, keys.DELAYED, q)}
    in_flight = {keys.seq_at_end(k): keys.read_u64(k, 5) for k in _family(store, keys.IN_FLIGHT, q)}
    outbox = {keys.seq_at_end(k) for k in _family(store, keys.DLQ_OUTBOX, q)}
    index_entries = (
        len(_family(store, keys.VISIBLE, q))
        + len(_family(store, keys.GROUP_VISIBLE, q))
        + len(_family(store, keys.DELAYED, q))
        + len(_family(store, keys.IN_FLIGHT, q))
        + len(outbox)
    )
    # Every index entry names a stored message, and every message has exactly one entry.
    assert index_entries == len(metas), (queue.queue_id, index_entries, len(metas))
    for seq, meta in metas.items():
        where = {
            MessageState.VISIBLE: seq in (fifo_visible if queue.fifo else visible),
            MessageState.DELAYED: delayed.get(seq) == meta.timer_ms,
            MessageState.IN_FLIGHT: in_flight.get(seq) == meta.timer_ms,
            MessageState.DEAD_LETTER_PENDING: seq in outbox,
        }
        assert where[meta.state], (queue.queue_id, seq, meta.state)
        assert store.get(keys.body_key(q, seq)) is not None
        assert store.get(keys.by_id_key(q, meta.message_id)) == keys.u64(seq)
        assert store.get(keys.timed_key(keys.RETENTION, q, meta.sent_at_ms, seq)) is not None
    assert len(_family(store, keys.RETENTION, q)) == len(metas)
    assert len(_family(store, keys.BODY, q)) == len(metas)
    # Counters are the sizes of the index sets.
    raw_counters = store.get(keys.counters_key(q))
    counters = Counters.unpack(raw_counters) if raw_counters is not None else Counters()
    states = Counter(meta.state for meta in metas.values())
    assert counters.visible == states[MessageState.VISIBLE]
    assert counters.delayed == states[MessageState.DELAYED]
    assert counters.in_flight == states[MessageState.IN_FLIGHT]
    assert counters.dead_letter_pending == states[MessageState.DEAD_LETTER_PENDING]
    assert all(seq < counters.next_seq for seq in metas)
    if queue.fifo:
        _check_groups(store, q, metas)


def _check_groups(store: ReadView, q: int, metas: dict[int, MessageMeta]) -> None:
    visible_by_group: defaultdict[str, list[int]] = defaultdict(list)
    in_flight_by_group: Counter[str] = Counter()
    for seq, meta in metas.items():
        assert meta.group_id is not None
        if meta.state is MessageState.VISIBLE:
            visible_by_group[meta.group_id].append(seq)
        elif meta.state is MessageState.IN_FLIGHT:
            in_flight_by_group[meta.group_id] += 1
    ready = {
        keys.group_of_ready_key(key)[1]: keys.group_of_ready_key(key)[0]
        for key in _family(store, keys.GROUP_READY, q)
    }
    expected_ready = {
        group: min(seqs)
        for group, seqs in visible_by_group.items()
        if in_flight_by_group[group] == 0
    }
    assert ready == expected_ready
    for group in set(visible_by_group) | set(in_flight_by_group):
        raw = store.get(keys.group_state_key(q, group))
        assert raw is not None
        assert GroupState.unpack(raw).in_flight == in_flight_by_group[group]


def store_contents(store: ReadView) -> list[tuple[bytes, bytes]]:
    return list(store.scan(b"", b"\xff" * 8))

"""The backend half of a queue move (ops_move.py, queue_export.py), between two replicas that
stand for two clusters: what the source held is what the target serves (messages, in-flight
leases and their receipt handles, dedup and receive-attempt memory, statuses, FIFO groups), the
fenced source refuses everything and stays frozen, and only a whole session can finish."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftq.backend import keys
from raftq.backend.queue_export import export_chunk
from raftq.backend.records import QueueRecord, ReplicaStatus
from raftq.common.commands import (
    BeginImport,
    DeleteEntry,
    DeleteMessages,
    DropQueue,
    Expire,
    FenceQueue,
    FinishImport,
    GetQueueStats,
    ImportRecords,
    PurgeQueue,
    ReceiveMessages,
    SendEntry,
    SendMessages,
)
from raftq.common.errors import ConflictingState, QueueMoved, QueueNotFound
from raftq.common.node_api import ExportChunk, ExportRequest
from raftq.common.queue_attributes import RedrivePolicy
from raftq.common.results import (
    Done,
    Failure,
    QueueCreated,
    ReceiveResult,
    SendResult,
)
from tests.replica import Replica
from tests.unit.backend.invariants import check_invariants, store_contents

Q = "q-moving"


def fence(source: Replica, queue: str = Q, epoch: int = 2) -> None:
    assert isinstance(source.one(FenceQueue(now_ms=source.now_ms, queue=queue, epoch=epoch)), Done)


def copy(
    source: Replica,
    target: Replica,
    queue: str = Q,
    *,
    epoch: int = 2,
    session: str = "session-1",
    max_records: int = 3,
) -> int:
    """Copy a fenced queue in chunks of `max_records`; returns how many chunks it took."""
    begin = BeginImport(now_ms=target.now_ms, queue=queue, epoch=epoch, session=session)
    assert target.one(begin) == QueueCreated(created=True)
    after: bytes | None = None
    total = chunks = 0
    while True:
        chunk = export_chunk(
            source.store, ExportRequest(queue=queue, epoch=epoch, after=after), 1 << 20, max_records
        )
        if chunk.records:
            records = ImportRecords(
                now_ms=target.now_ms, queue=queue, session=session, records=chunk.records
            )
            assert isinstance(target.one(records), Done)
        total += len(chunk.records)
        chunks += 1
        if chunk.after is None:
            break
        after = chunk.after
    assert isinstance(target.one(finish(target, chunk, session, total, queue)), Done)
    return chunks


def finish(
    target: Replica, chunk: ExportChunk, session: str, total: int, queue: str = Q
) -> FinishImport:
    return FinishImport(
        now_ms=target.now_ms,
        queue=queue,
        session=session,
        records_total=total,
        fifo=chunk.fifo,
        attributes=chunk.attributes,
        created_at_ms=chunk.created_at_ms,
        created_index=chunk.created_index,
        last_purge_at_ms=chunk.last_purge_at_ms,
    )


def move(source: Replica, target: Replica, queue: str = Q, epoch: int = 2) -> None:
    fence(source, queue, epoch)
    copy(source, target, queue, epoch=epoch)


def record_of(replica: Replica, queue: str = Q) -> QueueRecord:
    raw = replica.store.get(keys.queue_key(queue))
    assert raw is not None
    return QueueRecord.unpack(raw)


def refusal(replica: Replica, command: object) -> Failure:
    result = replica.one(command)  # type: ignore[arg-type]
    assert isinstance(result, Failure), result
    return result


def pair() -> tuple[Replica, Replica]:
    """A source and a target whose clocks agree and whose logs are at different indexes."""
    source, target = Replica(), Replica()
    target.create("unrelated")  # the target's qnums and log indexes differ from the source's
    target.create("unrelated-2")
    return source, target


# --- what moves -------------------------------------------------------------------------------


def test_a_standard_queue_arrives_whole_and_serves_on_the_target() -> None:
    source, target = pair()
    source.create(Q, visibility_timeout_ms=30_000)
    source.send(Q, b"visible-1", b"visible-2", dedup_id=None)
    source.send(Q, b"urgent", priority=9)
    source.send(Q, b"later", delay_ms=60_000)
    sent_once = source.send(Q, b"deduplicated", dedup_id="d-1").sent[0]
    held = source.receive(Q, max_messages=1, attempt_id="attempt-1")
    assert source.bodies(held) == [b"urgent"]
    done = source.send(Q, b"done").sent[0]
    gone = source.receive(Q, max_messages=10)
    for message in gone.messages:
        if message.message_id == done.message_id:
            source.delete(Q, message.receipt_handle)
    for message in gone.messages:
        if message.body != b"done":
            source.change_visibility(Q, message.receipt_handle, 0)
    before = source.stats(Q)

    move(source, target)
    check_invariants(target.store)

    assert target.stats(Q) == before
    # The lease taken before the move still holds, and its receipt handle still works.
    assert target.delete(Q, held.messages[0].receipt_handle).succeeded == ("d0",)
    # The dedup memory moved: a retry of a send acknowledged by the source stores nothing.
    retried = target.send(Q, b"deduplicated", dedup_id="d-1").sent[0]
    assert (retried.duplicate, retried.message_id) == (True, sent_once.message_id)
    # So did the receive-attempt memory and the statuses of removed messages.
    assert target.status(Q, done.message_id).state == "deleted"
    # New messages get ids no moved message has.
    fresh = target.send(Q, b"after the move").sent[0]
    everything = target.receive(Q, max_messages=10)
    ids = [m.message_id for m in everything.messages]
    assert fresh.message_id in ids and len(set(ids)) == len(ids)
    assert sorted(target.bodies(everything)) == sorted(
        [b"after the move", b"deduplicated", b"visible-1", b"visible-2"]
    )
    target.delete(Q, *(m.receipt_handle for m in everything.messages))
    target.advance(60_000)
    assert target.bodies(target.receive(Q)) == [b"later"]
    check_invariants(target.store)


def test_a_retried_receive_attempt_returns_the_same_messages_after_the_move() -> None:
    source, target = pair()
    source.create(Q + ".fifo", fifo=True, content_based_dedup=True)
    queue = Q + ".fifo"
    source.send(queue, b"a1", group_id="a")
    first = source.receive(queue, max_messages=1, attempt_id="attempt-7")
    move(source, target, queue)
    again = target.receive(queue, max_messages=1, attempt_id="attempt-7")
    assert again.messages == first.messages


def test_fifo_groups_keep_their_order_and_their_lock_across_the_move() -> None:
    source, target = pair()
    queue = "orders.fifo"
    source.create(queue, fifo=True, content_based_dedup=True, visibility_timeout_ms=10_000)
    for body in (b"a1", b"a2", b"a3", b"b1", b"b2"):
        source.send(queue, body, group_id=body[:1].decode())
    held = source.receive(queue, max_messages=1)
    assert source.bodies(held) == [b"a1"]

    move(source, target, queue)
    check_invariants(target.store)

    # Group a is locked by the moved lease: only group b is delivered, in order.
    assert target.bodies(target.receive(queue, max_messages=10)) == [b"b1", b"b2"]
    target.delete(queue, held.messages[0].receipt_handle)
    assert target.bodies(target.receive(queue, max_messages=10)) == [b"a2", b"a3"]
    sequence = target.send(queue, b"a4", group_id="a").sent[0].sequence_number
    assert sequence > max(m.sequence_number for m in held.messages)  # numbers go on rising


def test_a_queue_copies_the_same_in_one_chunk_or_in_many() -> None:
    sources = []
    for max_records in (1, 7, 100_000):
        source, target = pair()
        source.create(Q)
        for i in range(20):
            source.send(Q, f"m{i}".encode(), dedup_id=f"d{i}")
        source.receive(Q, max_messages=5)
        fence(source)
        chunks = copy(source, target, max_records=max_records)
        sources.append((chunks, target))
    counts = [chunks for chunks, _ in sources]
    assert counts[0] > counts[1] > counts[2] == 1
    contents = [
        [kv for kv in store_contents(t.store) if kv[0][:1] not in (keys.QUEUE, keys.META)]
        for _, t in sources
    ]
    assert contents[0] == contents[1] == contents[2]


# --- the fenced source --------------------------------------------------------------------------


def test_the_fenced_source_refuses_every_request_and_changes_nothing() -> None:
    source, _ = pair()
    source.create(Q, visibility_timeout_ms=1_000)
    source.send(Q, b"m", b"n")
    source.receive(Q, max_messages=1)
    fence(source)
    frozen = store_contents(source.store)
    now = source.now_ms
    entry = SendEntry(entry_id="e", body=b"x")
    for command in (
        SendMessages(now_ms=now, queue=Q, entries=(entry,)),
        ReceiveMessages(now_ms=now, queue=Q, max_messages=1),
        PurgeQueue(now_ms=now, queue=Q),
        GetQueueStats(now_ms=now, queue=Q),
    ):
        assert refusal(source, command).code == QueueMoved.code
    source.advance(10_000)
    source.one(Expire(now_ms=source.now_ms))  # the sweep passes the fenced queue by
    after = [(k, v) for k, v in store_contents(source.store) if k[:1] != keys.META]
    assert after == [(k, v) for k, v in frozen if k[:1] != keys.META]


def test_a_delete_on_the_fenced_source_is_refused_whole() -> None:
    source, _ = pair()
    source.create(Q)
    source.send(Q, b"m")
    handle = source.receive(Q).messages[0].receipt_handle
    fence(source)
    command = DeleteMessages(
        now_ms=source.now_ms, queue=Q, entries=(DeleteEntry(entry_id="d", receipt_handle=handle),)
    )
    assert refusal(source, command).code == QueueMoved.code


def test_a_fence_needs_a_newer_epoch_and_repeats_harmlessly() -> None:
    source, _ = pair()
    source.create(Q)
    assert refusal(source, FenceQueue(now_ms=source.now_ms, queue=Q, epoch=1)).code == (
        ConflictingState.code
    )
    fence(source, epoch=3)
    fence(source, epoch=3)
    assert record_of(source).status == ReplicaStatus.FENCED and record_of(source).epoch == 3
    assert refusal(source, FenceQueue(now_ms=source.now_ms, queue=Q, epoch=2)).code == (
        ConflictingState.code
    )
    missing = FenceQueue(now_ms=source.now_ms, queue="nowhere", epoch=2)
    assert refusal(source, missing).code == QueueNotFound.code


def test_a_dead_letter_queue_being_moved_away_counts_as_remote() -> None:
    source, _ = pair()
    source.create("dlq")
    source.create(
        Q,
        visibility_timeout_ms=0,
        redrive=RedrivePolicy(dead_letter_queue="dlq", max_receive_count=1),
    )
    source.send(Q, b"poison")
    source.receive(Q)
    fence(source, "dlq")
    source.receive(Q)  # past maxReceiveCount: to the DLQ, which is leaving, so to the outbox
    assert source.stats(Q).dead_letter_pending == 1
    check_invariants(source.store)


def test_only_a_fenced_queue_under_the_asked_epoch_is_exported() -> None:
    source, _ = pair()
    source.create(Q)
    with pytest.raises(ConflictingState):
        export_chunk(source.store, ExportRequest(queue=Q, epoch=2))
    fence(source)
    with pytest.raises(ConflictingState):
        export_chunk(source.store, ExportRequest(queue=Q, epoch=3))
    with pytest.raises(QueueNotFound):
        export_chunk(source.store, ExportRequest(queue="nowhere", epoch=2))


def test_dropping_the_fenced_source_leaves_nothing() -> None:
    source, target = pair()
    source.create(Q)
    source.send(Q, b"m", dedup_id="d")
    move(source, target)
    assert isinstance(source.one(DropQueue(now_ms=source.now_ms, queue=Q)), Done)
    assert source.store.get(keys.queue_key(Q)) is None
    check_invariants(source.store)


# --- the target ---------------------------------------------------------------------------------


def test_an_importing_replica_refuses_clients_until_it_finishes() -> None:
    _, target = pair()
    target.one(BeginImport(now_ms=target.now_ms, queue=Q, epoch=2, session="session-1"))
    stats = GetQueueStats(now_ms=target.now_ms, queue=Q)
    assert refusal(target, stats).code == QueueMoved.code
    check_invariants(target.store)


def test_a_newer_session_discards_the_older_one_which_can_no_longer_finish() -> None:
    source, target = pair()
    source.create(Q)
    source.send(Q, b"m1", b"m2", b"m3")
    fence(source)
    chunk = export_chunk(source.store, ExportRequest(queue=Q, epoch=2))
    total = len(chunk.records)
    begin_old = BeginImport(now_ms=target.now_ms, queue=Q, epoch=2, session="session-old")
    target.one(begin_old)
    target.one(
        ImportRecords(now_ms=target.now_ms, queue=Q, session="session-old", records=chunk.records)
    )
    # A new mover (another metadata leader) starts over; the old one's next steps are refused.
    target.one(BeginImport(now_ms=target.now_ms, queue=Q, epoch=2, session="session-new"))
    late = ImportRecords(
        now_ms=target.now_ms, queue=Q, session="session-old", records=chunk.records
    )
    assert refusal(target, late).code == ConflictingState.code
    assert refusal(target, finish(target, chunk, "session-old", total)).code == (
        ConflictingState.code
    )
    # The new session has copied nothing yet, so it cannot finish with the old one's records.
    assert refusal(target, finish(target, chunk, "session-new", total)).code == (
        ConflictingState.code
    )
    target.one(
        ImportRecords(now_ms=target.now_ms, queue=Q, session="session-new", records=chunk.records)
    )
    assert isinstance(target.one(finish(target, chunk, "session-new", total)), Done)
    assert target.stats(Q).counts() == (3, 0, 0, 0)
    # Finishing again, or beginning the same epoch again, changes nothing.
    before = store_contents(target.store)
    assert isinstance(target.one(finish(target, chunk, "session-new", total)), Done)
    again = BeginImport(now_ms=target.now_ms, queue=Q, epoch=2, session="session-3")
    assert target.one(again) == QueueCreated(created=False)
    after = store_contents(target.store)
    assert [kv for kv in after if kv[0][:1] != keys.META] == [
        kv for kv in before if kv[0][:1] != keys.META
    ]


def test_records_that_are_not_portable_keys_are_refused_and_change_nothing() -> None:
    _, target = pair()
    target.one(BeginImport(now_ms=target.now_ms, queue=Q, epoch=2, session="session-1"))
    before = store_contents(target.store)
    for bad in (b"Q", b"\x00applied_index", b"z123", b"X\x00\x00"):
        command = ImportRecords(
            now_ms=target.now_ms, queue=Q, session="session-1", records=((b"C", b""), (bad, b""))
        )
        assert refusal(target, command).code == "InvalidParameterValue"
    assert [kv for kv in store_contents(target.store) if kv[0][:1] != keys.META] == [
        kv for kv in before if kv[0][:1] != keys.META
    ]


def test_an_import_over_a_queue_served_here_is_refused() -> None:
    _, target = pair()
    target.create(Q)
    begin = BeginImport(now_ms=target.now_ms, queue=Q, epoch=2, session="session-1")
    assert refusal(target, begin).code == "QueueAlreadyExists"
    assert record_of(target).status == ReplicaStatus.SERVING


def test_a_queue_can_move_back_to_a_cluster_it_left() -> None:
    a, b = pair()
    a.create(Q)
    a.send(Q, b"first")
    move(a, b, epoch=2)
    b.send(Q, b"second")
    move(b, a, epoch=3)  # a still holds its fenced copy of epoch 2: replaced
    assert record_of(a).epoch == 3
    result = a.receive(Q)
    assert isinstance(result, ReceiveResult)
    assert sorted(a.bodies(result)) == [b"first", b"second"]
    check_invariants(a.store)


def test_sends_after_a_move_are_not_mistaken_for_earlier_ones() -> None:
    source, target = pair()
    source.create(Q)
    ids = {m.message_id for m in source.send(Q, *[f"m{i}".encode() for i in range(10)]).sent}
    move(source, target)
    sent = target.send(Q, *[f"n{i}".encode() for i in range(10)])
    assert isinstance(sent, SendResult)
    assert not ids & {m.message_id for m in sent.sent}


# --- portable keys ------------------------------------------------------------------------------


@given(
    family=st.sampled_from(sorted(keys.QUEUE_FAMILIES)),
    suffix=st.binary(max_size=40),
    qnum=st.integers(0, 2**32 - 1),
    other=st.integers(0, 2**32 - 1),
)
def test_a_portable_key_files_under_any_qnum_and_back(
    family: bytes, suffix: bytes, qnum: int, other: int
) -> None:
    dedup_id = suffix.hex()
    if family == keys.EXPIRY:
        suffix = keys.u64(5) + keys.EXPIRY_DEDUP + keys.dedup_key(qnum, dedup_id)
    key = family + keys.u32(qnum) + suffix
    portable = keys.portable_key(key)
    assert keys.local_key(portable, qnum) == key
    moved = keys.local_key(portable, other)
    assert moved[1:5] == keys.u32(other)
    if family == keys.EXPIRY:
        assert keys.split_expiry_key(moved)[2] == keys.dedup_key(other, dedup_id)

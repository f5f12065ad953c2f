"""Reading a serving queue out for a backup (backup_reader.py) and filing it as a new queue on
another replica (the restore path: BeginImport, ImportRecords, FinishImport): the copy is the
queue as of the read, its in-flight messages come back visible with their receive counts, its
receipt handles and receive-attempt memory stay behind, and the source keeps serving."""

from __future__ import annotations

import pytest

from raftq.backend import keys
from raftq.backend.backup_reader import applied_index, backed_up_queues, backup_chunk
from raftq.common.commands import BeginImport, FinishImport, ImportRecords
from raftq.common.errors import QueueMoved, QueueNotFound
from raftq.common.results import Done, QueueCreated
from tests.replica import Replica
from tests.unit.backend.invariants import check_invariants
from tests.unit.backend.test_queue_move import fence

Q = "q-source"
RESTORED = "q-restored"


def restore(
    source: Replica, target: Replica, queue: str = Q, restored: str = RESTORED, max_records: int = 3
) -> int:
    """Read `queue` out of the source in chunks and file it as `restored`; the record count."""
    (replica,) = backed_up_queues(source.store, (queue,))
    assert target.one(
        BeginImport(now_ms=target.now_ms, queue=restored, epoch=1, session="session-1")
    ) == QueueCreated(created=True)
    after: bytes | None = None
    total = 0
    while True:
        chunk = backup_chunk(source.store, queue, after, 1 << 20, max_records)
        if chunk.records:
            filed = ImportRecords(
                now_ms=target.now_ms, queue=restored, session="session-1", records=chunk.records
            )
            assert isinstance(target.one(filed), Done)
        total += len(chunk.records)
        if chunk.after is None:
            break
        after = chunk.after
    finish = FinishImport(
        now_ms=target.now_ms,
        queue=restored,
        session="session-1",
        records_total=total,
        fifo=replica.fifo,
        attributes=replica.attributes,
        created_at_ms=replica.created_at_ms,
        created_index=replica.created_index,
        last_purge_at_ms=replica.last_purge_at_ms,
    )
    assert isinstance(target.one(finish), Done)
    return total


def test_a_restored_queue_holds_every_message_and_in_flight_ones_are_visible_again() -> None:
    source, target = Replica(), Replica()
    target.create("unrelated")  # other qnums and log indexes than the source's
    source.create(Q, visibility_timeout_ms=600_000)
    source.send(Q, b"one", b"two", b"three")
    source.send(Q, b"later", delay_ms=60_000)
    held = source.receive(Q, max_messages=2, attempt_id="attempt-1")
    assert len(held.messages) == 2

    restore(source, target)
    check_invariants(target.store)

    everything = target.receive(RESTORED, max_messages=10)
    assert sorted(target.bodies(everything)) == [b"one", b"three", b"two"]
    counts = {m.body: m.receive_count for m in everything.messages}
    assert sorted(counts.values()) == [1, 2, 2]  # the two leased ones keep their first receive
    # The old receipt handles do not delete anything on the restored queue.
    assert target.delete(RESTORED, held.messages[0].receipt_handle).succeeded == ()
    target.advance(60_000)
    assert target.bodies(target.receive(RESTORED)) == [b"later"]
    # The source still serves, its lease untouched.
    assert source.delete(Q, held.messages[0].receipt_handle).succeeded == ("d0",)
    check_invariants(target.store)


def test_a_fifo_group_leased_at_backup_time_delivers_from_its_head_after_restore() -> None:
    source, target = Replica(), Replica()
    source.create("q-source.fifo", fifo=True, visibility_timeout_ms=600_000)
    for number, (body, group) in enumerate([(b"a1", "a"), (b"a2", "a"), (b"b1", "b")]):
        source.send("q-source.fifo", body, group_id=group, dedup_id=f"d-{number}")
    held = source.receive("q-source.fifo", max_messages=1)
    assert source.bodies(held) == [b"a1"]  # group a is locked by this lease

    restore(source, target, "q-source.fifo", "q-restored.fifo")
    check_invariants(target.store)

    delivered = target.bodies(target.receive("q-restored.fifo", max_messages=10))
    # a1 was released: group a delivers from its head again, in order
    assert [body for body in delivered if body.startswith(b"a")] == [b"a1", b"a2"]
    assert sorted(delivered) == [b"a1", b"a2", b"b1"]
    check_invariants(target.store)


def test_dedup_memory_is_kept_and_receive_attempts_are_not() -> None:
    source, target = Replica(), Replica()
    source.create(Q)
    first = source.send(Q, b"once", dedup_id="d-1").sent[0]
    source.receive(Q, max_messages=1, attempt_id="attempt-1")

    restore(source, target)

    retried = target.send(RESTORED, b"once", dedup_id="d-1").sent[0]
    assert (retried.duplicate, retried.message_id) == (True, first.message_id)
    assert not any(
        key[:1] == keys.ATTEMPT
        for key, _ in target.store.scan(keys.ATTEMPT, keys.prefix_end(keys.ATTEMPT))
    )


def test_the_backup_names_its_applied_index_and_refuses_missing_or_moving_queues() -> None:
    source = Replica()
    source.create(Q)
    source.create("q-leaving")
    fence(source, "q-leaving")
    assert applied_index(source.store) > 0
    assert [q.queue_id for q in backed_up_queues(source.store, None)] == [Q]
    with pytest.raises(QueueNotFound, match="q-none"):
        backed_up_queues(source.store, ("q-none",))
    with pytest.raises(QueueMoved, match="q-leaving"):
        backed_up_queues(source.store, ("q-leaving",))

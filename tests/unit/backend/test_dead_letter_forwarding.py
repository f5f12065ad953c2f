"""The backend half of forwarding dead letters to a dead-letter queue (DLQ) on another cluster
(ops_dead_letters.py): `ReadDeadLetters` and `ReleaseDeadLetters` on the source's cluster,
`AcceptDeadLetters` on the DLQ's. Each cluster is two replicas on RocksDB that apply the same
entries; every test ends with both clusters' replicas agreeing byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from raftq.backend import keys
from raftq.backend.rocks_store import RocksStore
from raftq.common import limits
from raftq.common.commands import (
    AcceptDeadLetters,
    DeadLetter,
    Expire,
    ReadDeadLetters,
    ReleaseDeadLetters,
    SetQueueAttributes,
)
from raftq.common.errors import QueueMoved
from raftq.common.queue_attributes import QueueAttributeChanges, RedrivePolicy
from raftq.common.results import (
    DeadLetters,
    DeadLettersAccepted,
    DeadLettersReleased,
    Failure,
    QueueStats,
)
from raftq.common.settings import StoreSettings
from raftq.common.wire import WireModel
from tests.replica import ReplicaGroup
from tests.unit.backend.invariants import check_invariants, store_contents
from tests.unit.backend.test_queue_move import move

VISIBILITY_MS = 10_000
SOURCE, DLQ = "q-source", "q-dlq"


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[dict[str, ReplicaGroup]]:
    """Clusters c1, c2 and c3 of two RocksDB replicas each."""
    stores: list[RocksStore] = []

    def group(name: str) -> ReplicaGroup:
        made = [RocksStore(StoreSettings(path=tmp_path / f"{name}-{i}")) for i in range(2)]
        stores.extend(made)
        return ReplicaGroup(made)

    made = {name: group(name) for name in ("c1", "c2", "c3")}
    try:
        yield made
        for cluster in made.values():
            cluster.assert_replicas_agree()
            check_invariants(cluster.store)
    finally:
        for store in stores:
            store.close()


@pytest.fixture
def source(clusters: dict[str, ReplicaGroup]) -> ReplicaGroup:
    return clusters["c1"]


@pytest.fixture
def dlq(clusters: dict[str, ReplicaGroup]) -> ReplicaGroup:
    return clusters["c2"]


def counts(stats: QueueStats) -> tuple[int, int, int, int]:
    return (stats.visible, stats.in_flight, stats.delayed, stats.dead_letter_pending)


def make_queues(source: ReplicaGroup, dlq: ReplicaGroup, *, fifo: bool = False) -> None:
    """SOURCE on c1 redrives after one receive to DLQ, which lives on c2."""
    dlq.create(DLQ, fifo=fifo)
    redrive = {"dead_letter_queue": DLQ, "max_receive_count": 1}
    source.create(SOURCE, fifo=fifo, visibility_timeout_ms=VISIBILITY_MS, redrive=redrive)


def dead_letter(source: ReplicaGroup, body: bytes = b"poison", **fields: object) -> str:
    """Send `body` to SOURCE, receive it once, let the lease run out, and receive again: it then
    waits in the outbox. Returns its message id."""
    message_id = source.send(SOURCE, body, **fields).sent[0].message_id
    assert [m.message_id for m in source.receive(SOURCE).messages] == [message_id]
    source.advance(VISIBILITY_MS)
    assert source.receive(SOURCE).messages == ()
    assert source.status(SOURCE, message_id).state == "dead_letter_pending"
    return message_id


def read(source: ReplicaGroup, **fields: object) -> DeadLetters:
    command = ReadDeadLetters.model_validate({"now_ms": source.now_ms, "queue": SOURCE, **fields})
    return source.expect(command, DeadLetters)


def accept(dlq: ReplicaGroup, letters: DeadLetters, queue: str = DLQ) -> DeadLettersAccepted:
    command = AcceptDeadLetters(
        now_ms=dlq.now_ms,
        queue=queue,
        source=SOURCE,
        source_fifo=letters.fifo,
        entries=letters.entries,
    )
    return dlq.expect(command, DeadLettersAccepted)


def release(
    source: ReplicaGroup, *message_ids: str, return_to_queue: bool = False
) -> DeadLettersReleased | Failure:
    command = ReleaseDeadLetters(
        now_ms=source.now_ms,
        queue=SOURCE,
        message_ids=message_ids,
        return_to_queue=return_to_queue,
    )
    result = source.one(command)
    assert isinstance(result, DeadLettersReleased | Failure), result
    return result


# --- reading the outbox -----------------------------------------------------------------------


def test_a_read_returns_each_waiting_dead_letter_as_stored_with_the_redrive_target(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given a dead letter waiting in SOURCE's outbox
    make_queues(source, dlq)
    sent_at_ms = source.now_ms
    message_id = dead_letter(source, b"poison", attributes=b"sealed-attrs", priority=7)
    # When the outbox is read
    letters = read(source)
    # Then it comes back whole, as stored, with the DLQ the queue names now
    (letter,) = letters.entries
    assert letter == DeadLetter(
        message_id=message_id,
        body=b"poison",
        attributes=b"sealed-attrs",
        group_id=None,
        dedup_id=None,
        sent_at_ms=sent_at_ms,
        receive_count=1,
        first_received_at_ms=sent_at_ms,
        size_bytes=len(b"poison") + len(b"sealed-attrs"),
        priority=7,
    )
    assert (letters.more, letters.fifo, letters.dead_letter_queue) == (False, False, DLQ)
    # And reading changed nothing
    assert counts(source.stats(SOURCE)) == (0, 0, 0, 1)


def test_a_read_returns_the_oldest_first_within_its_count_and_byte_limits(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given three dead letters of 100 bytes each
    make_queues(source, dlq)
    ids = [dead_letter(source, bytes([i]) * 100) for i in range(3)]
    # When read two at a time, or 150 bytes at a time, or 10 bytes at a time
    by_count = read(source, limit=2)
    by_bytes = read(source, max_bytes=250)
    oversized = read(source, max_bytes=10)
    # Then each answer starts with the oldest and says more are waiting
    assert [e.message_id for e in by_count.entries] == ids[:2] and by_count.more
    assert [e.message_id for e in by_bytes.entries] == ids[:2] and by_bytes.more
    # And one message larger than the byte limit still comes alone
    assert [e.message_id for e in oversized.entries] == ids[:1] and oversized.more
    assert not read(source).more


# --- accepting in the DLQ ---------------------------------------------------------------------


def test_a_dead_letter_accepted_twice_is_stored_once(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given a dead letter read from SOURCE
    make_queues(source, dlq)
    sent_at_ms = source.now_ms
    message_id = dead_letter(source, b"poison", attributes=b"attrs")
    letters = read(source)
    # When the DLQ accepts it
    first = accept(dlq, letters)
    # Then it is a visible message of the DLQ, with its id, bytes and send time, naming SOURCE
    assert (first.accepted, first.duplicates) == ((message_id,), ())
    assert counts(dlq.stats(DLQ)) == (1, 0, 0, 0)
    (moved,) = dlq.receive(DLQ).messages
    assert (moved.message_id, moved.body, moved.attributes) == (message_id, b"poison", b"attrs")
    assert (moved.dead_letter_source, moved.sent_at_ms) == (SOURCE, sent_at_ms)
    assert moved.receive_count == 2  # its one receive in SOURCE, and this one
    # And accepting it again (a forward repeated after a crash) stores nothing
    again = accept(dlq, letters)
    assert (again.accepted, again.duplicates) == ((), (message_id,))
    assert counts(dlq.stats(DLQ)) == (0, 1, 0, 0)
    # Even once the DLQ's consumer deleted it
    dlq.delete(DLQ, moved.receipt_handle)
    assert accept(dlq, letters).duplicates == (message_id,)
    assert counts(dlq.stats(DLQ)) == (0, 0, 0, 0)


def test_the_memory_of_an_accepted_dead_letter_lasts_the_longest_retention_after_its_send(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given a dead letter sent an hour later by the source's clock than the DLQ's clock shows
    # (clusters' clocks differ), accepted by the DLQ and consumed there
    make_queues(source, dlq)
    source.advance(limits.HOUR_MS)
    dead_letter(source)
    letters = read(source)
    accept(dlq, letters)
    dlq.delete(DLQ, dlq.receive(DLQ).messages[0].receipt_handle)
    # When the longest retention after its send has nearly passed, the DLQ still knows it: the
    # source may hold it until then, so a forward may still come
    last_forward_ms = letters.entries[0].sent_at_ms + limits.RETENTION_MAX_MS - 1
    dlq.advance(last_forward_ms - dlq.now_ms)
    assert accept(dlq, letters).duplicates == (letters.entries[0].message_id,)
    # Then after it, the expiry sweep forgets it
    dlq.advance(1)
    dlq.one(Expire(now_ms=dlq.now_ms))
    remembered = [k for k, _ in store_contents(dlq.store) if k[:1] in (keys.ACCEPTED, keys.EXPIRY)]
    assert remembered == []


def test_a_fifo_dead_letter_keeps_its_group_and_restarts_its_send_time_in_the_dlq(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given a FIFO dead letter
    make_queues(source, dlq, fifo=True)
    message_id = dead_letter(source, b"poison", group_id="g", dedup_id="d")
    letters = read(source)
    assert letters.fifo and letters.entries[0].group_id == "g"
    # When the FIFO DLQ accepts it a minute later
    dlq.advance(60_000)
    accepted_at_ms = dlq.now_ms
    accept(dlq, letters)
    # Then it keeps its group and dedup id, and its send time is the accept (SQS: FIFO DLQs
    # count retention from the move)
    (moved,) = dlq.receive(DLQ).messages
    assert (moved.message_id, moved.group_id, moved.dedup_id) == (message_id, "g", "d")
    assert moved.sent_at_ms == accepted_at_ms


@pytest.mark.parametrize("dlq_fifo", [True, False], ids=["fifo-dlq", "standard-dlq"])
def test_a_dead_letter_of_the_other_queue_type_is_refused_and_stores_nothing(
    source: ReplicaGroup, dlq: ReplicaGroup, dlq_fifo: bool
) -> None:
    # Given a DLQ of the other type than the source
    dlq.create(DLQ, fifo=dlq_fifo)
    redrive = {"dead_letter_queue": DLQ, "max_receive_count": 1}
    fields: dict[str, object] = {"group_id": "g", "dedup_id": "d"} if not dlq_fifo else {}
    source.create(SOURCE, fifo=not dlq_fifo, visibility_timeout_ms=VISIBILITY_MS, redrive=redrive)
    dead_letter(source, b"poison", **fields)
    letters = read(source)
    before = [kv for kv in store_contents(dlq.store) if kv[0][:1] != keys.META]
    # When the DLQ is asked to accept it
    command = AcceptDeadLetters(
        now_ms=dlq.now_ms,
        queue=DLQ,
        source=SOURCE,
        source_fifo=letters.fifo,
        entries=letters.entries,
    )
    result = dlq.one(command)
    # Then it is refused, naming the field, and the DLQ is unchanged
    assert isinstance(result, Failure)
    assert (result.code, result.field) == ("InvalidDeadLetterQueue", "source_fifo")
    assert [kv for kv in store_contents(dlq.store) if kv[0][:1] != keys.META] == before


def test_a_queue_cannot_accept_its_own_dead_letters(source: ReplicaGroup) -> None:
    source.create(SOURCE)
    letter = DeadLetter(
        message_id="m",
        body=b"x",
        sent_at_ms=0,
        receive_count=1,
        first_received_at_ms=0,
        size_bytes=1,
    )
    result = source.one(
        AcceptDeadLetters(
            now_ms=source.now_ms, queue=SOURCE, source=SOURCE, source_fifo=False, entries=(letter,)
        )
    )
    assert isinstance(result, Failure)
    assert (result.code, result.field) == ("InvalidDeadLetterQueue", "source")


# --- releasing from the source ----------------------------------------------------------------


def test_releasing_removes_waiting_dead_letters_once_and_skips_the_others(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given two dead letters waiting, and a message that is not one
    make_queues(source, dlq)
    first, second = dead_letter(source, b"a"), dead_letter(source, b"b")
    visible = source.send(SOURCE, b"fine").sent[0].message_id
    # When the first is released, with the visible one and an unknown id
    released = release(source, first, visible, "no-such-message")
    # Then only the waiting one left the outbox, as dead-lettered
    assert isinstance(released, DeadLettersReleased) and released.released == (first,)
    assert source.status(SOURCE, first).state == "dead_lettered"
    assert counts(source.stats(SOURCE)) == (1, 0, 0, 1)
    # And releasing it again (a repeated forward) changes nothing
    again = release(source, first, second)
    assert isinstance(again, DeadLettersReleased) and again.released == (second,)
    repeated = release(source, first, second)
    assert isinstance(repeated, DeadLettersReleased) and repeated.released == ()
    assert counts(source.stats(SOURCE)) == (1, 0, 0, 0)


def test_returning_dead_letters_to_a_queue_without_redrive_makes_them_visible_afresh(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given a dead letter, then the queue's redrive policy removed
    make_queues(source, dlq)
    message_id = dead_letter(source, b"poison")
    clear = QueueAttributeChanges(clear_redrive=True)
    source.one(SetQueueAttributes(now_ms=source.now_ms, queue=SOURCE, changes=clear))
    assert read(source).dead_letter_queue is None
    # When it is returned to the queue
    returned = release(source, message_id, return_to_queue=True)
    # Then it is visible again, with its receive count reset: a redrive policy set again gives
    # it its full number of receives (with its old count it would be dead-lettered at once)
    assert isinstance(returned, DeadLettersReleased) and returned.released == (message_id,)
    assert counts(source.stats(SOURCE)) == (1, 0, 0, 0)
    redrive = RedrivePolicy(dead_letter_queue=DLQ, max_receive_count=1)
    again = QueueAttributeChanges(redrive=redrive)
    source.one(SetQueueAttributes(now_ms=source.now_ms, queue=SOURCE, changes=again))
    (delivered,) = source.receive(SOURCE).messages
    assert (delivered.message_id, delivered.body, delivered.receive_count) == (
        message_id,
        b"poison",
        1,
    )


def test_returning_dead_letters_is_refused_while_the_queue_has_a_redrive_policy(
    source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    make_queues(source, dlq)
    message_id = dead_letter(source)
    refused = release(source, message_id, return_to_queue=True)
    assert isinstance(refused, Failure)
    assert (refused.code, refused.field) == ("ConflictingState", "return_to_queue")
    assert source.status(SOURCE, message_id).state == "dead_letter_pending"


# --- moves ------------------------------------------------------------------------------------


def test_the_commands_answer_queue_moved_for_a_fenced_queue_and_the_memory_moves_along(
    clusters: dict[str, ReplicaGroup], source: ReplicaGroup, dlq: ReplicaGroup
) -> None:
    # Given a dead letter accepted by the DLQ on c2, still waiting in SOURCE
    make_queues(source, dlq)
    message_id = dead_letter(source)
    letters = read(source)
    accept(dlq, letters)
    # When the DLQ moves from c2 to c3
    move(dlq, clusters["c3"], DLQ)
    # Then c2 answers QueueMoved, and c3 knows the dead letter was accepted
    command = AcceptDeadLetters(
        now_ms=dlq.now_ms, queue=DLQ, source=SOURCE, source_fifo=False, entries=letters.entries
    )
    moved_away = dlq.one(command)
    assert isinstance(moved_away, Failure) and moved_away.code == QueueMoved.code
    assert accept(clusters["c3"], letters).duplicates == (message_id,)
    assert counts(clusters["c3"].stats(DLQ)) == (1, 0, 0, 0)
    # And when SOURCE moves to c3 as well, its dead letter waits there and c1 answers QueueMoved
    move(source, clusters["c3"], SOURCE)
    for refused in (
        source.one(ReadDeadLetters(now_ms=source.now_ms, queue=SOURCE)),
        release(source, message_id),
    ):
        assert isinstance(refused, Failure) and refused.code == QueueMoved.code
    assert counts(clusters["c3"].stats(SOURCE)) == (0, 0, 0, 1)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        {"kind": "read_dead_letters", "queue": SOURCE, "limit": 0},
        {"kind": "read_dead_letters", "queue": SOURCE, "limit": limits.DEAD_LETTER_BATCH_MAX + 1},
        {"kind": "read_dead_letters", "queue": SOURCE, "max_bytes": 0},
        {"kind": "accept_dead_letters", "queue": DLQ, "source": SOURCE, "source_fifo": False,
         "entries": []},
        {"kind": "release_dead_letters", "queue": SOURCE, "message_ids": []},
        {"kind": "release_dead_letters", "queue": SOURCE,
         "message_ids": [f"m{i}" for i in range(limits.DEAD_LETTER_BATCH_MAX + 1)]},
    ],
)  # fmt: skip
def test_commands_out_of_their_limits_do_not_validate(command: dict[str, object]) -> None:
    fields = dict(command)
    models: dict[str, type[WireModel]] = {
        "read_dead_letters": ReadDeadLetters,
        "accept_dead_letters": AcceptDeadLetters,
        "release_dead_letters": ReleaseDeadLetters,
    }
    model = models[str(fields.pop("kind"))]
    with pytest.raises(ValidationError):
        model.model_validate({"now_ms": 0, **fields})


def test_a_message_id_listed_twice_is_refused(source: ReplicaGroup, dlq: ReplicaGroup) -> None:
    make_queues(source, dlq)
    message_id = dead_letter(source)
    letters = read(source)
    doubled = AcceptDeadLetters(
        now_ms=dlq.now_ms,
        queue=DLQ,
        source=SOURCE,
        source_fifo=False,
        entries=letters.entries * 2,
    )
    for result in (dlq.one(doubled), release(source, message_id, message_id)):
        assert isinstance(result, Failure)
        assert result.code == "InvalidParameterValue"
    assert counts(dlq.stats(DLQ)) == (0, 0, 0, 0)
    assert counts(source.stats(SOURCE)) == (0, 0, 0, 1)

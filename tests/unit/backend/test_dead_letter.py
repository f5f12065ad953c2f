"""Redrive to a dead-letter queue (DLQ) on one replica: after `max_receive_count` receives, the
next receive moves the message; a worker may move one it holds; a DLQ stored elsewhere makes the
message wait in the outbox. SQS semantics: ../shared/notes/sqs.md §1.2 and §1.5."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from raftq.common.commands import (
    CreateQueue,
    DeadLetterEntry,
    MoveToDeadLetter,
    SetQueueAttributes,
)
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes, RedrivePolicy
from raftq.common.results import BatchResult, Failure, QueueStats
from tests.replica import Replica
from tests.unit.backend.invariants import check_invariants

VISIBILITY_MS = 10_000
RETENTION_MIN_MS = 60_000


@pytest.fixture
def replica() -> Iterator[Replica]:
    replica = Replica()
    yield replica
    check_invariants(replica.store)


def redrive(dead_letter_queue: str, max_receive_count: int) -> dict[str, object]:
    return {"dead_letter_queue": dead_letter_queue, "max_receive_count": max_receive_count}


def counts(stats: QueueStats) -> tuple[int, int, int, int]:
    return (stats.visible, stats.in_flight, stats.delayed, stats.dead_letter_pending)


def move_to_dead_letter(replica: Replica, queue: str, *handles: str) -> BatchResult | Failure:
    entries = tuple(
        DeadLetterEntry(entry_id=f"m{i}", receipt_handle=handle) for i, handle in enumerate(handles)
    )
    result = replica.one(MoveToDeadLetter(now_ms=replica.now_ms, queue=queue, entries=entries))
    assert isinstance(result, BatchResult | Failure), result
    return result


def receive_times(replica: Replica, queue: str, times: int) -> None:
    """Receive the queue's one message `times` times, letting each lease run out."""
    for _ in range(times):
        assert len(replica.receive(queue).messages) == 1
        replica.advance(VISIBILITY_MS)


# --- redrive after max_receive_count --------------------------------------------------------------


def test_the_receive_after_max_receive_count_moves_the_message_to_the_dead_letter_queue(
    replica: Replica,
) -> None:
    # Given a standard queue whose DLQ (on this replica) takes messages after 2 receives
    replica.create("dlq")
    replica.create("q", visibility_timeout_ms=VISIBILITY_MS, redrive=redrive("dlq", 2))
    message_id = replica.send("q", b"poison", attributes=b"attrs").sent[0].message_id
    # And the message received twice, each lease run out
    receive_times(replica, "q", 2)
    assert counts(replica.stats("q")) == (1, 0, 0, 0)
    assert counts(replica.stats("dlq")) == (0, 0, 0, 0)
    # When it is received a third time
    received = replica.receive("q")
    # Then nothing is delivered, and in that one entry the source lost it and the DLQ gained it
    assert received.messages == ()
    assert counts(replica.stats("q")) == (0, 0, 0, 0)
    assert counts(replica.stats("dlq")) == (1, 0, 0, 0)
    assert replica.status("q", message_id).state == "dead_lettered"
    # And the DLQ delivers it with the same id, body and attributes, naming its source
    (moved,) = replica.receive("dlq").messages
    assert (moved.message_id, moved.body, moved.attributes) == (message_id, b"poison", b"attrs")
    assert moved.dead_letter_source == "q"


def test_a_receive_that_moves_a_message_still_delivers_the_next_ones(replica: Replica) -> None:
    # Given a queue with redrive after 1 receive, one message received once and one fresh
    replica.create("dlq")
    replica.create("q", visibility_timeout_ms=VISIBILITY_MS, redrive=redrive("dlq", 1))
    replica.send("q", b"poison")
    receive_times(replica, "q", 1)
    replica.send("q", b"fresh")
    # When one receive meets both
    received = replica.receive("q", 10)
    # Then it moves the first and delivers the second
    assert replica.bodies(received) == [b"fresh"]
    assert replica.bodies(replica.receive("dlq")) == [b"poison"]


def test_fifo_redrive_moves_the_head_of_a_group_and_delivers_the_next_in_order(
    replica: Replica,
) -> None:
    # Given a FIFO queue with a FIFO DLQ after 1 receive, and a group of two messages
    replica.create("dlq.fifo", fifo=True)
    replica.create(
        "q.fifo", fifo=True, visibility_timeout_ms=VISIBILITY_MS, redrive=redrive("dlq.fifo", 1)
    )
    for body in (b"g1", b"g2"):
        replica.send("q.fifo", body, group_id="g", dedup_id=body.decode())
    # And g1 received once, its lease run out
    assert replica.bodies(replica.receive("q.fifo", 1)) == [b"g1"]
    replica.advance(VISIBILITY_MS)
    # When the group is received again
    received = replica.receive("q.fifo", 10)
    # Then g1 went to the DLQ, keeping its group, and g2 is delivered
    assert replica.bodies(received) == [b"g2"]
    (moved,) = replica.receive("dlq.fifo").messages
    assert (moved.body, moved.group_id, moved.dead_letter_source) == (b"g1", "g", "q.fifo")


# --- the send time in the DLQ ---------------------------------------------------------------------


def test_a_standard_dead_letter_queue_keeps_the_original_send_time(replica: Replica) -> None:
    # Given a standard DLQ with a 60 s retention and a message sent at t0
    replica.create("dlq", retention_ms=RETENTION_MIN_MS)
    replica.create("q", visibility_timeout_ms=VISIBILITY_MS, redrive=redrive("dlq", 1))
    sent_at_ms = replica.now_ms
    message_id = replica.send("q", b"poison").sent[0].message_id
    # When it moves to the DLQ at t0 + 10 s
    receive_times(replica, "q", 1)
    assert replica.receive("q").messages == ()
    # Then in the DLQ its retention counts from t0: it is there at t0 + 60 s - 1 ms ...
    replica.advance(sent_at_ms + RETENTION_MIN_MS - 1 - replica.now_ms)
    assert replica.status("dlq", message_id).state == "pending"
    # ... and expired at t0 + 60 s
    replica.advance(1)
    assert replica.status("dlq", message_id).state == "expired"
    assert counts(replica.stats("dlq")) == (0, 0, 0, 0)


def test_a_fifo_dead_letter_queue_restarts_the_send_time_at_the_move(replica: Replica) -> None:
    # Given a FIFO DLQ with a 60 s retention and a message sent at t0
    replica.create("dlq.fifo", fifo=True, retention_ms=RETENTION_MIN_MS)
    replica.create(
        "q.fifo", fifo=True, visibility_timeout_ms=VISIBILITY_MS, redrive=redrive("dlq.fifo", 1)
    )
    message_id = replica.send("q.fifo", b"poison", group_id="g", dedup_id="d").sent[0].message_id
    # When it moves to the DLQ at t0 + 10 s
    receive_times(replica, "q.fifo", 1)
    moved_at_ms = replica.now_ms
    assert replica.receive("q.fifo").messages == ()
    # Then in the DLQ its send time is the move, so retention counts from there
    replica.advance(RETENTION_MIN_MS - 1)
    (moved,) = replica.receive("dlq.fifo", visibility_timeout_ms=0).messages
    assert moved.sent_at_ms == moved_at_ms
    replica.advance(1)
    assert replica.status("dlq.fifo", message_id).state == "expired"


# --- a DLQ that is not on this replica ------------------------------------------------------------


def test_a_dead_letter_queue_missing_from_the_replica_leaves_the_message_pending_forever(
    replica: Replica,
) -> None:
    # Given a queue whose DLQ is not stored on this replica
    replica.create("q", visibility_timeout_ms=VISIBILITY_MS, redrive=redrive("elsewhere", 1))
    message_id = replica.send("q", b"poison").sent[0].message_id
    receive_times(replica, "q", 1)
    # When the next receive finds it over the limit
    assert replica.receive("q").messages == ()
    # Then it waits in the outbox: counted as pending a dead-letter move, never delivered
    assert counts(replica.stats("q")) == (0, 0, 0, 1)
    assert replica.status("q", message_id).state == "dead_letter_pending"
    replica.advance(VISIBILITY_MS * 100)
    assert replica.receive("q", 10).messages == ()
    assert counts(replica.stats("q")) == (0, 0, 0, 1)


# --- a worker moving a message it holds -----------------------------------------------------------


def test_a_worker_moves_a_message_it_holds_by_its_receipt_handle(replica: Replica) -> None:
    # Given a message received once from a queue that would redrive only after 5 receives
    replica.create("dlq")
    replica.create("q", redrive=redrive("dlq", 5))
    message_id = replica.send("q", b"cannot process").sent[0].message_id
    (held,) = replica.receive("q").messages
    # When the worker moves it to the DLQ by its receipt handle
    result = move_to_dead_letter(replica, "q", held.receipt_handle)
    # Then it left the source at once and the DLQ delivers it
    assert isinstance(result, BatchResult) and result.succeeded == ("m0",)
    assert counts(replica.stats("q")) == (0, 0, 0, 0)
    assert replica.status("q", message_id).state == "dead_lettered"
    (moved,) = replica.receive("dlq").messages
    assert (moved.message_id, moved.dead_letter_source) == (message_id, "q")
    # And moving it again with the same handle is a harmless success
    again = move_to_dead_letter(replica, "q", held.receipt_handle)
    assert isinstance(again, BatchResult) and again.succeeded == ("m0",)
    assert counts(replica.stats("dlq")) == (0, 1, 0, 0)


def test_moving_with_a_stale_receipt_handle_is_refused(replica: Replica) -> None:
    # Given a message received twice: the first handle is stale
    replica.create("dlq")
    replica.create("q", visibility_timeout_ms=0, redrive=redrive("dlq", 5))
    replica.send("q", b"job")
    (stale,) = replica.receive("q").messages
    (latest,) = replica.receive("q").messages
    # When a worker moves it with the stale handle
    result = move_to_dead_letter(replica, "q", stale.receipt_handle)
    # Then that entry fails and the message stays
    assert isinstance(result, BatchResult)
    assert [f.code for f in result.failed] == ["ReceiptHandleIsInvalid"]
    assert replica.stats("dlq").visible == 0
    assert latest.receive_count == 2


def test_moving_an_in_flight_fifo_message_releases_its_group(replica: Replica) -> None:
    # Given a FIFO group of two with its head in flight
    replica.create("dlq.fifo", fifo=True)
    replica.create("q.fifo", fifo=True, redrive=redrive("dlq.fifo", 5))
    for body in (b"g1", b"g2"):
        replica.send("q.fifo", body, group_id="g", dedup_id=body.decode())
    (head,) = replica.receive("q.fifo", 1).messages
    assert replica.receive("q.fifo", 10).messages == ()
    # When the worker moves the head to the DLQ
    move_to_dead_letter(replica, "q.fifo", head.receipt_handle)
    # Then the group is released and g2 is delivered
    assert replica.bodies(replica.receive("q.fifo", 10)) == [b"g2"]


def test_a_worker_move_to_a_dead_letter_queue_elsewhere_leaves_the_message_pending(
    replica: Replica,
) -> None:
    # Given a message held from a queue whose DLQ is not on this replica
    replica.create("q", redrive=redrive("elsewhere", 5))
    message_id = replica.send("q", b"job").sent[0].message_id
    (held,) = replica.receive("q").messages
    # When the worker moves it
    move_to_dead_letter(replica, "q", held.receipt_handle)
    # Then it waits in the outbox
    assert counts(replica.stats("q")) == (0, 0, 0, 1)
    assert replica.status("q", message_id).state == "dead_letter_pending"


def test_moving_from_a_queue_without_redrive_is_refused_and_changes_nothing(
    replica: Replica,
) -> None:
    # Given a message held from a queue without a redrive policy
    replica.create("q")
    replica.send("q", b"job")
    (held,) = replica.receive("q").messages
    # When a worker asks to move it to the dead-letter queue
    result = move_to_dead_letter(replica, "q", held.receipt_handle)
    # Then the whole command fails as an invalid dead-letter queue and the message stays in flight
    assert isinstance(result, Failure) and result.code == "InvalidDeadLetterQueue"
    assert counts(replica.stats("q")) == (0, 1, 0, 0)


# --- which dead-letter queues are allowed ---------------------------------------------------------


def create(replica: Replica, queue: str, *, fifo: bool, dead_letter_queue: str) -> object:
    attributes = QueueAttributes(redrive=RedrivePolicy(dead_letter_queue=dead_letter_queue))
    return replica.one(
        CreateQueue(now_ms=replica.now_ms, queue=queue, fifo=fifo, attributes=attributes)
    )


@pytest.mark.parametrize("fifo", [False, True])
def test_a_queue_cannot_be_its_own_dead_letter_queue(replica: Replica, fifo: bool) -> None:
    # When a queue is created naming itself as its DLQ
    result = create(replica, "q", fifo=fifo, dead_letter_queue="q")
    # Then creation is refused and no queue exists
    assert isinstance(result, Failure) and result.code == "InvalidDeadLetterQueue"
    assert replica.machine.store.get(b"Qq") is None


@pytest.mark.parametrize(
    ("source_fifo", "dead_letter_fifo"), [(True, False), (False, True)], ids=["fifo", "standard"]
)
def test_a_dead_letter_queue_of_the_other_type_is_refused(
    replica: Replica, source_fifo: bool, dead_letter_fifo: bool
) -> None:
    # Given a DLQ on this replica of the other type
    replica.create("dlq", fifo=dead_letter_fifo)
    # When a queue naming it is created
    result = create(replica, "q", fifo=source_fifo, dead_letter_queue="dlq")
    # Then creation is refused
    assert isinstance(result, Failure) and result.code == "InvalidDeadLetterQueue"


def test_setting_a_redrive_to_a_dead_letter_queue_of_the_other_type_is_refused(
    replica: Replica,
) -> None:
    # Given a standard queue and a FIFO queue on this replica
    replica.create("q")
    replica.create("dlq.fifo", fifo=True)
    # When the standard queue is given the FIFO queue as its DLQ
    changes = QueueAttributeChanges(redrive=RedrivePolicy(dead_letter_queue="dlq.fifo"))
    result = replica.one(SetQueueAttributes(now_ms=replica.now_ms, queue="q", changes=changes))
    # Then the change is refused
    assert isinstance(result, Failure) and result.code == "InvalidDeadLetterQueue"


@pytest.mark.parametrize("fifo", [False, True])
def test_a_dead_letter_queue_not_on_this_replica_is_allowed(replica: Replica, fifo: bool) -> None:
    # When a queue names a DLQ this replica does not store (it may live on another cluster)
    result = create(replica, "q", fifo=fifo, dead_letter_queue="elsewhere")
    # Then creation succeeds
    assert not isinstance(result, Failure), result

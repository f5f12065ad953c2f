"""FIFO queues on one replica: what a send must carry, and delivery in order, one group at a
time (SQS semantics, ../shared/notes/sqs.md §1.3 and §1.5)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from raftq.common.commands import SendEntry, SendMessages
from raftq.common.results import ReceivedMessage, ReceiveResult, SendResult
from tests.replica import Replica
from tests.unit.backend.invariants import check_invariants

QUEUE = "orders.fifo"
VISIBILITY_MS = 30_000


@pytest.fixture
def replica() -> Iterator[Replica]:
    replica = Replica()
    replica.create(QUEUE, fifo=True, visibility_timeout_ms=VISIBILITY_MS)
    yield replica
    check_invariants(replica.store)


def send(replica: Replica, group: str, *bodies: bytes) -> list[int]:
    """Send each body to `group` (dedup id = the body); returns the sequence numbers."""
    numbers = []
    for body in bodies:
        result = replica.send(QUEUE, body, group_id=group, dedup_id=body.decode())
        assert not result.failed, result
        numbers.append(result.sent[0].sequence_number)
    return numbers


def bodies(messages: ReceiveResult | tuple[ReceivedMessage, ...]) -> list[bytes]:
    if isinstance(messages, ReceiveResult):
        messages = messages.messages
    return [message.body for message in messages]


# --- what a FIFO send must carry ------------------------------------------------------------------


def test_send_without_a_group_id_is_refused_as_a_missing_parameter(replica: Replica) -> None:
    # When a message is sent to a FIFO queue without a group id
    result = replica.send(QUEUE, b"job", dedup_id="d1")
    # Then that entry fails, naming the missing field, and nothing is stored
    assert result.sent == ()
    assert [(f.code, f.field) for f in result.failed] == [("MissingParameter", "group_id")]
    assert replica.stats(QUEUE).visible == 0


def test_send_without_a_dedup_id_is_refused_when_content_based_dedup_is_off(
    replica: Replica,
) -> None:
    # When a message is sent without a dedup id to a queue without content-based dedup
    result = replica.send(QUEUE, b"job", group_id="g")
    # Then the entry fails as a missing parameter
    assert [(f.code, f.field) for f in result.failed] == [("MissingParameter", "dedup_id")]
    assert replica.stats(QUEUE).visible == 0


def test_content_based_dedup_makes_the_body_hash_the_dedup_id() -> None:
    # Given a FIFO queue with content-based deduplication
    replica = Replica()
    replica.create(QUEUE, fifo=True, content_based_dedup=True)
    # When the same body is sent twice without a dedup id, and another body once
    first = replica.send(QUEUE, b"job", group_id="g").sent[0]
    again = replica.send(QUEUE, b"job", group_id="g").sent[0]
    other = replica.send(QUEUE, b"other job", group_id="g").sent[0]
    # Then the repeat is a duplicate of the first, and only two messages are stored
    assert not first.duplicate and again.duplicate and not other.duplicate
    assert (again.message_id, again.sequence_number) == (first.message_id, first.sequence_number)
    assert bodies(replica.receive(QUEUE)) == [b"job", b"other job"]
    check_invariants(replica.store)


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"delay_ms": 0}, "delay_ms"),
        ({"delay_ms": 5_000}, "delay_ms"),
        ({"deliver_at_ms": 1_800_000_000_000}, "deliver_at_ms"),
    ],
)
def test_per_message_delay_is_refused(
    replica: Replica, schedule: dict[str, object], field: str
) -> None:
    # When a FIFO message asks for its own delay (even of zero) or delivery time
    result = replica.send(QUEUE, b"job", group_id="g", dedup_id="d1", **schedule)
    # Then the entry is refused as an invalid parameter
    assert [(f.code, f.field) for f in result.failed] == [("InvalidParameterValue", field)]
    assert replica.stats(QUEUE).visible == 0


def test_priority_is_refused(replica: Replica) -> None:
    # When a FIFO message carries a priority
    result = replica.send(QUEUE, b"job", group_id="g", dedup_id="d1", priority=5)
    # Then the entry is refused: priorities are for standard queues
    assert [(f.code, f.field) for f in result.failed] == [("InvalidParameterValue", "priority")]
    assert replica.stats(QUEUE).visible == 0


def test_one_bad_entry_of_a_batch_does_not_stop_the_others(replica: Replica) -> None:
    # When a batch holds a good entry and one without a group
    entries = (
        SendEntry(entry_id="good", body=b"good", group_id="g", dedup_id="d1"),
        SendEntry(entry_id="bad", body=b"bad", dedup_id="d2"),
    )
    result = replica.expect(
        SendMessages(now_ms=replica.now_ms, queue=QUEUE, entries=entries), SendResult
    )
    # Then the good one is stored and only the bad one fails
    assert [s.entry_id for s in result.sent] == ["good"]
    assert [f.entry_id for f in result.failed] == ["bad"]
    assert bodies(replica.receive(QUEUE)) == [b"good"]


# --- order and group locking ----------------------------------------------------------------------


def test_sequence_numbers_increase_with_every_send_across_groups(replica: Replica) -> None:
    # When messages are sent to two groups, interleaved
    numbers = [
        *send(replica, "a", b"a1"),
        *send(replica, "b", b"b1"),
        *send(replica, "a", b"a2"),
        *send(replica, "b", b"b2"),
    ]
    # Then each send got a larger sequence number than the one before
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    # And received messages carry the number their send returned
    received = replica.receive(QUEUE).messages
    assert {m.body: m.sequence_number for m in received} == dict(
        zip([b"a1", b"b1", b"a2", b"b2"], numbers, strict=True)
    )


def test_messages_of_one_group_are_delivered_in_the_order_they_were_sent(
    replica: Replica,
) -> None:
    # Given two groups whose messages were sent interleaved
    for index in range(5):
        send(replica, "a", f"a{index}".encode())
        send(replica, "b", f"b{index}".encode())
    # When a consumer receives one message at a time and deletes it
    delivered: list[bytes] = []
    while messages := replica.receive(QUEUE, 1).messages:
        delivered.extend(bodies(messages))
        replica.delete(QUEUE, messages[0].receipt_handle)
    # Then each group's messages came in send order, and all of them came
    assert [b for b in delivered if b.startswith(b"a")] == [f"a{i}".encode() for i in range(5)]
    assert [b for b in delivered if b.startswith(b"b")] == [f"b{i}".encode() for i in range(5)]


def test_no_later_message_of_a_group_is_returned_while_one_is_in_flight(
    replica: Replica,
) -> None:
    # Given group a with two messages and group b with one
    send(replica, "a", b"a1", b"a2")
    send(replica, "b", b"b1")
    # When a1 is received
    assert bodies(replica.receive(QUEUE, 1)) == [b"a1"]
    # Then further receives, by other consumers with their own attempt ids, get b1 and then
    # nothing: a2 waits while a1 is in flight
    assert bodies(replica.receive(QUEUE, 10, attempt_id="other")) == [b"b1"]
    assert bodies(replica.receive(QUEUE, 10, attempt_id="third")) == []
    assert bodies(replica.receive(QUEUE, 10)) == []
    assert replica.stats(QUEUE).visible == 1


def test_a_receive_takes_several_messages_of_a_group_in_order_then_the_next_ready_group(
    replica: Replica,
) -> None:
    # Given groups a and b, each with messages sent interleaved with the other's
    send(replica, "a", b"a1")
    send(replica, "b", b"b1")
    send(replica, "a", b"a2")
    send(replica, "b", b"b2")
    send(replica, "a", b"a3")
    # When one receive asks for four messages
    received = replica.receive(QUEUE, 4)
    # Then it takes group a in order, then continues with group b
    assert bodies(received) == [b"a1", b"a2", b"a3", b"b1"]
    # And b2 waits while b1 is in flight
    assert bodies(replica.receive(QUEUE, 10)) == []


def test_deleting_every_in_flight_message_of_a_group_releases_it(replica: Replica) -> None:
    # Given a group with three messages, the first two in flight
    send(replica, "g", b"g1", b"g2", b"g3")
    first, second = replica.receive(QUEUE, 2).messages
    # When only the first is deleted, the group stays locked
    assert replica.delete(QUEUE, first.receipt_handle).succeeded
    assert bodies(replica.receive(QUEUE, 10)) == []
    # Then deleting the second releases it, and the third is delivered
    assert replica.delete(QUEUE, second.receipt_handle).succeeded
    assert bodies(replica.receive(QUEUE, 10)) == [b"g3"]


def test_visibility_timeout_releases_the_group_and_the_same_messages_come_back_first(
    replica: Replica,
) -> None:
    # Given group g with three messages, two of them received, and a later group h
    send(replica, "g", b"g1", b"g2", b"g3")
    assert bodies(replica.receive(QUEUE, 2)) == [b"g1", b"g2"]
    send(replica, "h", b"h1")
    # When the clock reaches one millisecond before the deadline, g is still locked
    replica.advance(VISIBILITY_MS - 1)
    assert bodies(replica.receive(QUEUE, 10, visibility_timeout_ms=1)) == [b"h1"]
    # Then at the deadline g1 and g2 come back first, in order, received a second time, then
    # g3, then h1 (whose 1 ms lease has passed: g's head is older)
    replica.advance(1)
    received = replica.receive(QUEUE, 10).messages
    assert bodies(received) == [b"g1", b"g2", b"g3", b"h1"]
    assert [m.receive_count for m in received] == [2, 2, 1, 2]


def test_change_visibility_to_zero_releases_the_group_once_nothing_of_it_is_in_flight(
    replica: Replica,
) -> None:
    # Given group g with three messages, the first two in flight
    send(replica, "g", b"g1", b"g2", b"g3")
    first, second = replica.receive(QUEUE, 2).messages
    # When the second is made visible at once, the first still holds the group
    assert replica.change_visibility(QUEUE, second.receipt_handle, 0).succeeded
    assert bodies(replica.receive(QUEUE, 10)) == []
    # Then making the first visible too releases the group, in order
    assert replica.change_visibility(QUEUE, first.receipt_handle, 0).succeeded
    received = replica.receive(QUEUE, 10).messages
    assert bodies(received) == [b"g1", b"g2", b"g3"]
    assert [m.receive_count for m in received] == [2, 2, 1]


def test_ready_groups_are_served_by_their_oldest_visible_message(replica: Replica) -> None:
    # Given messages a1, b1, a2 (in that send order) in groups a and b
    send(replica, "a", b"a1")
    send(replica, "b", b"b1")
    send(replica, "a", b"a2")
    # When a1 is received and deleted, group a's oldest visible message is a2
    (a1,) = replica.receive(QUEUE, 1).messages
    replica.delete(QUEUE, a1.receipt_handle)
    # Then group b, whose oldest visible message b1 is older than a2, is served first
    assert bodies(replica.receive(QUEUE, 1)) == [b"b1"]
    assert bodies(replica.receive(QUEUE, 1)) == [b"a2"]


def test_a_retried_receive_with_its_attempt_id_returns_the_same_messages_and_locks_no_more(
    replica: Replica,
) -> None:
    # Given two groups with messages
    send(replica, "a", b"a1", b"a2")
    send(replica, "b", b"b1")
    # When a receive of two is retried with the same attempt id
    first = replica.receive(QUEUE, 2, attempt_id="attempt-1")
    retried = replica.receive(QUEUE, 2, attempt_id="attempt-1")
    # Then the retry returns the same messages and handles, and group b is still deliverable
    assert bodies(first) == [b"a1", b"a2"]
    assert retried.messages == first.messages
    assert bodies(replica.receive(QUEUE, 10)) == [b"b1"]


def test_queue_delay_holds_back_every_group_without_breaking_their_order() -> None:
    # Given a FIFO queue with a 10 s delay and two messages of one group
    replica = Replica()
    replica.create(QUEUE, fifo=True, delay_ms=10_000)
    send(replica, "g", b"g1", b"g2")
    # When the delay has not passed, nothing is delivered
    replica.advance(9_999)
    assert bodies(replica.receive(QUEUE, 10)) == []
    assert replica.stats(QUEUE).delayed == 2
    # Then at the end of the delay both come, in order
    replica.advance(1)
    assert bodies(replica.receive(QUEUE, 10)) == [b"g1", b"g2"]
    check_invariants(replica.store)

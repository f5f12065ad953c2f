"""The edges issue 3 names, one test each, on a single replica with a fake clock."""

from __future__ import annotations

import hashlib

import pytest

from raftq.backend.reads import message_status
from raftq.common import limits
from raftq.common.commands import (
    CreateQueue,
    DeadLetterEntry,
    DeleteEntry,
    DeleteMessages,
    Expire,
    GetQueueStats,
    MoveToDeadLetter,
    PurgeQueue,
    ReceiveMessages,
    SendEntry,
    SendMessages,
    SetQueueAttributes,
)
from raftq.common.errors import MessageNotFound, MessageNotInflight, ReceiptHandleInvalid
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes, RedrivePolicy
from raftq.common.results import (
    BatchResult,
    ExpireResult,
    Failure,
    PurgeResult,
    QueueCreated,
    QueueStats,
    SendResult,
)
from tests.replica import Replica
from tests.unit.backend.store_invariants import check_invariants, store_contents


@pytest.fixture
def replica() -> Replica:
    r = Replica()
    r.create("q", visibility_timeout_ms=30_000)
    return r


def test_message_stays_in_flight_until_the_exact_millisecond_of_its_deadline(
    replica: Replica,
) -> None:
    # Given a message received with a 30 s visibility timeout
    replica.send("q", b"job")
    assert len(replica.receive("q").messages) == 1
    # When the clock reaches one millisecond before the deadline, nothing is visible
    replica.advance(29_999)
    assert replica.receive("q").messages == ()
    # Then at the deadline itself the message is delivered again, counted as a second receive
    replica.advance(1)
    again = replica.receive("q").messages
    assert [m.body for m in again] == [b"job"] and again[0].receive_count == 2


def test_visibility_timeout_zero_makes_the_message_visible_at_once(replica: Replica) -> None:
    replica.send("q", b"job")
    replica.receive("q", visibility_timeout_ms=0)
    assert replica.stats("q").visible == 1
    assert replica.bodies(replica.receive("q")) == [b"job"]


def test_stale_receipt_handle_is_refused_and_the_latest_one_deletes(replica: Replica) -> None:
    # Given a message received twice (the first lease expired)
    replica.send("q", b"job")
    old = replica.receive("q").messages[0].receipt_handle
    replica.advance(30_000)
    new = replica.receive("q").messages[0].receipt_handle
    # When the first receiver deletes with its stale handle, it is refused
    refused = replica.delete("q", old)
    assert refused.succeeded == () and refused.failed[0].code == "ReceiptHandleIsInvalid"
    assert replica.stats("q").in_flight == 1
    # Then the latest handle deletes it, and deleting again is an idempotent success
    assert replica.delete("q", new).succeeded == ("d0",)
    assert replica.delete("q", new).succeeded == ("d0",)
    assert replica.stats("q") == QueueStats(
        visible=0, in_flight=0, delayed=0, dead_letter_pending=0
    )


def test_refusals_name_their_case_for_the_sqs_edge(replica: Replica) -> None:
    """The SQS API answers an old handle, a lease run out and a message gone differently, so
    each refusal carries its case (raftq/frontend/sqs/entry_outcomes.py reads them)."""
    replica.send("q", b"job")
    old = replica.receive("q", visibility_timeout_ms=0).messages[0].receipt_handle
    # A lease run out: the latest handle, the message visible again
    not_leased = replica.change_visibility("q", old, 10_000).failed[0]
    assert (not_leased.code, not_leased.message) == (
        MessageNotInflight.code,
        MessageNotInflight.NOT_LEASED,
    )
    # An old handle: the message was received again since
    new = replica.receive("q").messages[0].receipt_handle
    for refused in (replica.delete("q", old), replica.change_visibility("q", old, 10_000)):
        assert refused.failed[0].message == ReceiptHandleInvalid.NOT_LATEST
    # A message gone
    assert replica.delete("q", new).succeeded == ("d0",)
    gone = replica.change_visibility("q", new, 10_000).failed[0]
    assert (gone.code, gone.message) == (MessageNotInflight.code, MessageNotInflight.GONE)


@pytest.mark.parametrize("handle", ["", "not base64 at all!", "AAAA", "A" * 1000])
def test_malformed_receipt_handles_are_refused(replica: Replica, handle: str) -> None:
    replica.send("q", b"job")
    replica.receive("q")
    if handle == "":
        with pytest.raises(ValueError):
            DeleteEntry(entry_id="d", receipt_handle=handle)
        return
    result = replica.delete("q", handle)
    assert result.failed[0].code == "ReceiptHandleIsInvalid"
    assert replica.stats("q").in_flight == 1


def test_dedup_window_ends_exactly_at_its_boundary(replica: Replica) -> None:
    # Given a send with a dedup id (window 300 s by default)
    first = replica.send("q", b"pay", dedup_id="invoice-1").sent[0]
    # When the same id comes back 1 ms before the window ends, it is a duplicate: nothing stored
    replica.advance(limits.DEDUP_WINDOW_DEFAULT_MS - 1)
    repeat = replica.send("q", b"pay", dedup_id="invoice-1").sent[0]
    assert repeat.duplicate and repeat.message_id == first.message_id
    assert replica.stats("q").visible == 1
    # Then at the boundary itself a new message is stored
    replica.advance(1)
    fresh = replica.send("q", b"pay", dedup_id="invoice-1").sent[0]
    assert not fresh.duplicate and fresh.message_id != first.message_id
    assert replica.stats("q").visible == 2


def test_content_based_dedup_uses_the_body_hash_and_survives_deletion() -> None:
    replica = Replica()
    replica.create("q", content_based_dedup=True)
    first = replica.send("q", b"same body").sent[0]
    handle = replica.receive("q").messages[0].receipt_handle
    replica.delete("q", handle)
    again = replica.send("q", b"same body").sent[0]
    assert again.duplicate and again.message_id == first.message_id
    assert replica.stats("q").visible == 0
    other = replica.send("q", b"other body").sent[0]
    assert not other.duplicate
    received = replica.receive("q").messages[0]
    assert received.dedup_id == hashlib.sha256(b"other body").hexdigest()


def test_a_batch_that_repeats_a_dedup_id_stores_it_once(replica: Replica) -> None:
    result = replica.send("q", b"a", b"a", dedup_id="same")
    assert [s.duplicate for s in result.sent] == [False, True]
    assert replica.stats("q").visible == 1


def test_receive_retried_with_its_attempt_id_returns_the_same_messages_and_handles(
    replica: Replica,
) -> None:
    # Given three messages and a receive of two with an attempt id
    replica.send("q", b"1", b"2", b"3")
    first = replica.receive("q", 2, attempt_id="attempt-1")
    before = store_contents(replica.store)
    # When the receive is retried with the same attempt id
    retry = replica.receive("q", 2, attempt_id="attempt-1")
    # Then the same messages and handles come back, and no state but the meta keys changed
    assert retry.messages == first.messages
    after = store_contents(replica.store)
    assert [kv for kv in after if not kv[0].startswith(b"\x00")] == [
        kv for kv in before if not kv[0].startswith(b"\x00")
    ]
    # And after a delete the replay omits the deleted message
    replica.delete("q", first.messages[0].receipt_handle)
    assert replica.receive("q", 2, attempt_id="attempt-1").messages == first.messages[1:]
    # And after its 5-minute window the attempt id starts a new receive
    replica.advance(limits.RECEIVE_ATTEMPT_WINDOW_MS)
    fresh = replica.receive("q", 10, attempt_id="attempt-1")
    assert {m.body for m in fresh.messages} == {b"2", b"3"}  # leases expired after 30 s


def test_priorities_are_served_highest_first_and_in_commit_order_within_a_level(
    replica: Replica,
) -> None:
    for body, priority in [
        (b"low-1", 0),
        (b"high-1", 9),
        (b"mid", 5),
        (b"high-2", 9),
        (b"low-2", 0),
    ]:
        replica.send("q", body, priority=priority)
    assert replica.bodies(replica.receive("q", 10)) == [
        b"high-1",
        b"high-2",
        b"mid",
        b"low-1",
        b"low-2",
    ]


def test_delays_per_queue_per_message_and_deliver_at_beyond_15_minutes() -> None:
    replica = Replica()
    replica.create("q", delay_ms=1_000)
    start = replica.now_ms
    replica.send("q", b"queue-delay")
    replica.send("q", b"message-delay", delay_ms=5_000)
    replica.send("q", b"scheduled", deliver_at_ms=start + 3_600_000)
    assert replica.stats("q").delayed == 3
    replica.advance(1_000)
    _take(replica, b"queue-delay")
    replica.advance(4_000)
    _take(replica, b"message-delay")
    replica.advance(3_600_000 - 5_001)
    assert replica.receive("q").messages == ()
    replica.advance(1)
    assert replica.bodies(replica.receive("q")) == [b"scheduled"]


def _take(replica: Replica, body: bytes) -> None:
    received = replica.receive("q").messages
    assert [m.body for m in received] == [body]
    replica.delete("q", received[0].receipt_handle)


def test_deliver_at_beyond_retention_is_refused() -> None:
    replica = Replica()
    replica.create("q", retention_ms=60_000)
    result = replica.send("q", b"too late", deliver_at_ms=replica.now_ms + 60_000)
    assert result.failed[0].code == "InvalidParameterValue"
    assert result.failed[0].field == "deliver_at_ms"
    assert replica.stats("q").delayed == 0


def test_retention_expires_messages_at_exactly_sent_plus_retention() -> None:
    replica = Replica()
    replica.create("q", retention_ms=60_000)
    message_id = replica.send("q", b"old").sent[0].message_id
    replica.receive("q", visibility_timeout_ms=0)  # in any state, retention applies
    replica.advance(59_999)
    assert replica.stats("q").visible == 1
    replica.advance(1)
    assert replica.stats("q").visible == 0
    assert replica.receive("q").messages == ()
    assert replica.status("q", message_id).state == "expired"


def test_lowering_retention_expires_stored_messages_at_once() -> None:
    replica = Replica()
    replica.create("q")  # 4 days
    replica.send("q", b"a")
    replica.advance(120_000)
    replica.one(
        SetQueueAttributes(
            now_ms=replica.now_ms, queue="q", changes=QueueAttributeChanges(retention_ms=60_000)
        )
    )
    assert replica.stats("q").visible == 0


def test_purge_with_messages_in_flight_removes_everything_for_good(replica: Replica) -> None:
    # Given visible, in-flight and delayed messages
    replica.send("q", b"visible")
    replica.send("q", b"in flight")
    handle = replica.receive("q", 1).messages[0].receipt_handle
    replica.send("q", b"delayed", delay_ms=10_000)
    # When the queue is purged
    purged = replica.expect(PurgeQueue(now_ms=replica.now_ms, queue="q"), PurgeResult)
    # Then all three are gone, an old handle resurrects nothing, and new sends work
    assert purged.purged == 3
    assert replica.delete("q", handle).succeeded == ("d0",)
    replica.advance(60_000)
    assert replica.receive("q").messages == ()
    replica.send("q", b"after")
    assert replica.bodies(replica.receive("q")) == [b"after"]
    check_invariants(replica.store)


def test_a_second_purge_within_60_s_is_refused(replica: Replica) -> None:
    replica.one(PurgeQueue(now_ms=replica.now_ms, queue="q"))
    replica.advance(59_999)
    again = replica.one(PurgeQueue(now_ms=replica.now_ms, queue="q"))
    assert isinstance(again, Failure) and again.code == "PurgeQueueInProgress"
    replica.advance(1)
    assert isinstance(replica.one(PurgeQueue(now_ms=replica.now_ms, queue="q")), PurgeResult)


def test_receive_after_max_receive_count_moves_the_message_to_the_dead_letter_queue() -> None:
    # Given a queue whose DLQ (on the same replica) takes messages after 2 receives
    replica = Replica()
    replica.create("dlq")
    replica.create(
        "q",
        visibility_timeout_ms=1_000,
        redrive={"dead_letter_queue": "dlq", "max_receive_count": 2},
    )
    message_id = replica.send("q", b"poison").sent[0].message_id
    for _ in range(2):
        assert replica.bodies(replica.receive("q")) == [b"poison"]
        replica.advance(1_000)
    # When it is received a third time
    assert replica.receive("q").messages == ()
    # Then it moved, atomically, with its id and body, to the DLQ
    assert replica.stats("q").visible == 0 and replica.stats("dlq").visible == 1
    moved = replica.receive("dlq").messages[0]
    assert (moved.message_id, moved.body, moved.dead_letter_source) == (message_id, b"poison", "q")
    assert replica.status("q", message_id).state == "dead_lettered"
    check_invariants(replica.store)


def test_fifo_group_is_blocked_while_a_message_is_in_flight_and_released_after() -> None:
    replica = Replica()
    replica.create("f.fifo", fifo=True, visibility_timeout_ms=1_000)
    for body, group in [(b"a1", "a"), (b"a2", "a"), (b"b1", "b")]:
        replica.send("f.fifo", body, group_id=group, dedup_id=body.decode())
    # One receive takes group a's head; group a is then locked, group b still flows
    assert replica.bodies(replica.receive("f.fifo", 1)) == [b"a1"]
    assert replica.bodies(replica.receive("f.fifo", 10)) == [b"b1"]
    assert replica.receive("f.fifo", 10).messages == ()
    # When a1's lease expires, a1 comes back before a2 (order within the group)
    replica.advance(1_000)
    first = replica.receive("f.fifo", 1).messages[0]
    assert first.body == b"a1"
    # And once a1 is deleted, a2 is released (b1's lease expired as well, so it follows)
    replica.delete("f.fifo", first.receipt_handle)
    assert replica.bodies(replica.receive("f.fifo", 10)) == [b"a2", b"b1"]
    check_invariants(replica.store)


def test_a_command_that_fails_changes_nothing_but_the_log_position(replica: Replica) -> None:
    # Given some state
    replica.send("q", b"job")
    before = [kv for kv in store_contents(replica.store) if not kv[0].startswith(b"\x00")]
    index = replica.machine.applied_index
    # When commands fail: an unknown queue, duplicate entry ids, a bad payload
    bad_queue = replica.one(
        SendMessages(
            now_ms=replica.now_ms, queue="nope", entries=(SendEntry(entry_id="e", body=b"x"),)
        )
    )
    dup_ids = replica.one(
        DeleteMessages(
            now_ms=replica.now_ms,
            queue="q",
            entries=(
                DeleteEntry(entry_id="x", receipt_handle="AAAA"),
                DeleteEntry(entry_id="x", receipt_handle="AAAA"),
            ),
        )
    )
    garbage = replica.apply_payload(b"\x92\x01\x02")
    # Then each is a typed failure, the data is untouched, and the log index advanced
    assert isinstance(bad_queue, Failure) and bad_queue.code == "QueueDoesNotExist"
    assert isinstance(dup_ids, Failure) and dup_ids.code == "BatchEntryIdsNotDistinct"
    assert isinstance(garbage[0], Failure) and garbage[0].code == "DecodeError"
    after = [kv for kv in store_contents(replica.store) if not kv[0].startswith(b"\x00")]
    assert after == before
    assert replica.machine.applied_index == index + 3


def test_entry_already_applied_is_skipped(replica: Replica) -> None:
    index, payload = replica.payloads[-1]
    digest = replica.machine.digest
    assert replica.machine.apply(index, payload) is None
    assert replica.machine.digest == digest


def test_state_time_never_moves_back_when_a_command_is_stamped_earlier(
    replica: Replica,
) -> None:
    # Given a message in flight until now + 30 s
    replica.send("q", b"job")
    replica.receive("q")
    replica.advance(31_000)
    replica.one(Expire(now_ms=replica.now_ms))  # the state clock is now past the deadline
    # When a new leader with a lagging clock stamps a receive 40 s in the past
    stale = ReceiveMessages(now_ms=replica.now_ms - 40_000, queue="q")
    result = replica.one(stale)
    # Then it is applied at state time: the message is delivered, not considered in flight
    assert isinstance(result, type(replica.receive("q"))) and len(result.messages) == 1
    assert replica.machine.clock_ms == replica.now_ms


def test_create_queue_is_idempotent_for_identical_attributes_only(replica: Replica) -> None:
    same = replica.one(
        CreateQueue(
            now_ms=replica.now_ms,
            queue="q",
            attributes=QueueAttributes(visibility_timeout_ms=30_000),
        )
    )
    assert same == QueueCreated(created=False)
    other = replica.one(
        CreateQueue(
            now_ms=replica.now_ms,
            queue="q",
            attributes=QueueAttributes(visibility_timeout_ms=1_000),
        )
    )
    assert isinstance(other, Failure) and other.code == "QueueAlreadyExists"


def test_a_queue_cannot_be_its_own_dead_letter_queue() -> None:
    replica = Replica()
    result = replica.one(
        CreateQueue(
            now_ms=replica.now_ms,
            queue="q",
            attributes=QueueAttributes(
                redrive=RedrivePolicy(dead_letter_queue="q", max_receive_count=3)
            ),
        )
    )
    assert isinstance(result, Failure) and result.code == "InvalidDeadLetterQueue"


def test_message_status_follows_a_message_and_keeps_the_delete_result(replica: Replica) -> None:
    message_id = replica.send("q", b"job").sent[0].message_id
    assert replica.status("q", message_id).state == "pending"
    handle = replica.receive("q").messages[0].receipt_handle
    status = replica.status("q", message_id)
    assert (status.state, status.receive_count) == ("in_flight", 1)
    replica.expect(
        DeleteMessages(
            now_ms=replica.now_ms,
            queue="q",
            entries=(DeleteEntry(entry_id="d", receipt_handle=handle, result=b'{"ok": true}'),),
        ),
        BatchResult,
    )
    done = replica.status("q", message_id)
    assert (done.state, done.result) == ("deleted", b'{"ok": true}')
    # The status is kept for status_retention_ms (5 min by default), then forgotten
    replica.advance(limits.STATUS_RETENTION_DEFAULT_MS)
    with pytest.raises(MessageNotFound):
        message_status(replica.machine, "q", message_id, replica.now_ms)


def test_counts_are_exact_and_read_through_the_log_too(replica: Replica) -> None:
    first_sent_ms = replica.now_ms
    replica.send("q", b"1", b"2", b"3")
    replica.advance(5_000)
    replica.send("q", b"later", delay_ms=1_000)
    replica.receive("q", 1)
    expected = QueueStats(
        visible=2, in_flight=1, delayed=1, dead_letter_pending=0, oldest_sent_at_ms=first_sent_ms
    )
    assert replica.stats("q") == expected
    assert replica.one(GetQueueStats(now_ms=replica.now_ms, queue="q")) == expected


def test_the_oldest_message_is_the_oldest_still_held_in_any_state(replica: Replica) -> None:
    # Given an empty queue: no oldest message
    assert replica.stats("q").oldest_sent_at_ms is None
    # When a message is sent, then a second one later, and the first is received
    replica.send("q", b"first")
    first_sent_ms = replica.now_ms
    replica.advance(2_000)
    replica.send("q", b"second")
    second_sent_ms = replica.now_ms
    [handle] = [m.receipt_handle for m in replica.receive("q", 1).messages]
    # Then the oldest is the first even while it is in flight
    assert replica.stats("q").oldest_sent_at_ms == first_sent_ms
    # And once it is deleted, the second
    replica.delete("q", handle)
    assert replica.stats("q").oldest_sent_at_ms == second_sent_ms


def test_expire_sweeps_every_queue_and_says_when_it_stopped_early() -> None:
    replica = Replica()
    for name in ("a", "b"):
        replica.create(name, retention_ms=60_000)
        replica.send(name, *[f"{name}{i}".encode() for i in range(5)])
    replica.advance(60_000)
    partial = replica.expect(Expire(now_ms=replica.now_ms, max_transitions=1), ExpireResult)
    assert partial.more
    rest = replica.expect(Expire(now_ms=replica.now_ms), ExpireResult)
    assert not rest.more
    assert replica.stats("a").visible == replica.stats("b").visible == 0
    check_invariants(replica.store)


def test_fifo_sends_need_a_group_and_a_dedup_id_and_refuse_per_message_options() -> None:
    replica = Replica()
    replica.create("f.fifo", fifo=True)
    cases: dict[str, dict[str, object]] = {
        "group_id": {"dedup_id": "d"},
        "dedup_id": {"group_id": "g"},
        "delay_ms": {"group_id": "g", "dedup_id": "d", "delay_ms": 5},
        "priority": {"group_id": "g", "dedup_id": "d", "priority": 3},
    }
    for field, fields in cases.items():
        failed = replica.send("f.fifo", b"x", **fields).failed
        assert failed and failed[0].field == field, (field, failed)
    assert replica.stats("f.fifo").visible == 0


def test_fifo_sequence_numbers_increase_and_groups_keep_order() -> None:
    replica = Replica()
    replica.create("f.fifo", fifo=True, content_based_dedup=True)
    sent = replica.send("f.fifo", b"1", b"2", b"3", group_id="g").sent
    numbers = [s.sequence_number for s in sent]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    received = replica.receive("f.fifo", 10).messages
    assert [m.body for m in received] == [b"1", b"2", b"3"]
    assert [m.sequence_number for m in received] == numbers


def test_dead_letter_queue_on_another_replica_holds_messages_in_the_outbox() -> None:
    # Given a redrive target that is not stored on this replica
    replica = Replica()
    replica.create(
        "q",
        visibility_timeout_ms=0,
        redrive={"dead_letter_queue": "elsewhere", "max_receive_count": 1},
    )
    message_id = replica.send("q", b"poison").sent[0].message_id
    replica.receive("q")
    # When the next receive finds it over the limit
    assert replica.receive("q").messages == ()
    # Then it waits for a remote move: counted, never delivered
    assert replica.stats("q").dead_letter_pending == 1
    assert replica.status("q", message_id).state == "dead_letter_pending"
    assert replica.receive("q").messages == ()
    check_invariants(replica.store)


def test_a_worker_can_dead_letter_a_message_it_holds() -> None:
    replica = Replica()
    replica.create("dlq")
    replica.create("q", redrive={"dead_letter_queue": "dlq", "max_receive_count": 5})
    replica.send("q", b"cannot process")
    handle = replica.receive("q").messages[0].receipt_handle
    moved = replica.expect(
        MoveToDeadLetter(
            now_ms=replica.now_ms,
            queue="q",
            entries=(DeadLetterEntry(entry_id="x", receipt_handle=handle),),
        ),
        BatchResult,
    )
    assert moved.succeeded == ("x",)
    assert replica.bodies(replica.receive("dlq")) == [b"cannot process"]
    no_dlq = Replica()
    no_dlq.create("q")
    no_dlq.send("q", b"m")
    handle = no_dlq.receive("q").messages[0].receipt_handle
    refused = no_dlq.one(
        MoveToDeadLetter(
            now_ms=no_dlq.now_ms,
            queue="q",
            entries=(DeadLetterEntry(entry_id="x", receipt_handle=handle),),
        )
    )
    assert isinstance(refused, Failure) and refused.code == "InvalidDeadLetterQueue"


def test_change_visibility_cannot_pass_12_hours_from_the_receive(replica: Replica) -> None:
    replica.send("q", b"long job")
    handle = replica.receive("q", visibility_timeout_ms=120_000).messages[0].receipt_handle
    replica.advance(60_000)
    too_far = replica.change_visibility("q", handle, limits.VISIBILITY_TIMEOUT_MAX_MS)
    assert too_far.failed[0].code == "InvalidParameterValue"
    within = replica.change_visibility("q", handle, limits.VISIBILITY_TIMEOUT_MAX_MS - 60_000)
    assert within.succeeded
    replica.advance(limits.VISIBILITY_TIMEOUT_MAX_MS - 60_001)
    assert replica.receive("q").messages == ()
    replica.advance(1)
    assert replica.bodies(replica.receive("q")) == [b"long job"]


def test_change_visibility_of_a_visible_message_is_refused(replica: Replica) -> None:
    replica.send("q", b"job")
    handle = replica.receive("q", visibility_timeout_ms=1_000).messages[0].receipt_handle
    replica.advance(1_000)
    assert replica.change_visibility("q", handle, 5_000).failed[0].code == "MessageNotInflight"


def test_standard_queue_over_its_in_flight_limit_answers_over_limit(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "INFLIGHT_MAX", 2)
    replica.send("q", b"1", b"2", b"3")
    assert len(replica.receive("q", 10).messages) == 2
    refused = replica.one(ReceiveMessages(now_ms=replica.now_ms, queue="q"))
    assert isinstance(refused, Failure) and refused.code == "OverLimit"


def test_a_batch_keeps_its_good_entries_when_one_is_too_large() -> None:
    replica = Replica()
    replica.create("q", max_message_bytes=1_024)
    entries = (
        SendEntry(entry_id="ok", body=b"small"),
        SendEntry(entry_id="big", body=b"x" * (1_024 + limits.STORED_OVERHEAD_ALLOWANCE_BYTES + 1)),
    )
    result = replica.expect(
        SendMessages(now_ms=replica.now_ms, queue="q", entries=entries), SendResult
    )
    assert [s.entry_id for s in result.sent] == ["ok"]
    assert [(f.entry_id, f.code) for f in result.failed] == [("big", "MessageTooLarge")]

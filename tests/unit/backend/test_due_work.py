"""Due work (delays and leases ending, retention, record expiry) inside one Raft entry: what it
costs, and that it is bounded (raftq/backend/work_budget.py, queue_state.py `advance`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftq.backend.reads import next_due_ms
from raftq.backend.rocks_store import RocksStore
from raftq.backend.store import MemoryStore, WriteSet
from raftq.common import limits
from raftq.common.commands import (
    Expire,
    GetMessageStatus,
    GetQueueStats,
    ReadDeadLetters,
    SendEntry,
    SendMessages,
)
from raftq.common.results import (
    DeadLetters,
    ExpireResult,
    MessageStatus,
    QueueStats,
    ReceivedMessage,
)
from raftq.common.settings import StoreSettings
from tests.replica import Replica, ReplicaGroup
from tests.unit.backend.invariants import check_invariants


class CountingStore:
    """A `MemoryStore` that counts the keys its scans hand out."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.keys_read = 0

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for pair in self.inner.scan(start, stop):
            self.keys_read += 1
            yield pair

    def commit(self, changes: WriteSet) -> None:
        self.inner.commit(changes)

    def close(self) -> None:
        pass


def test_expiring_a_whole_fifo_group_in_one_entry_reads_each_key_a_few_times_at_most() -> None:
    # Given one FIFO group of 600 messages whose retention ends at the same moment
    store = CountingStore()
    replica = Replica(store)
    replica.create("f.fifo", fifo=True, retention_ms=limits.RETENTION_MIN_MS)
    for start in range(0, 600, 100):
        bodies = [b"m%d" % i for i in range(start, start + 100)]
        for body in bodies:
            replica.send("f.fifo", body, group_id="g", dedup_id=body.decode())
    replica.advance(limits.RETENTION_MIN_MS)
    store.keys_read = 0
    # When one sweep expires them all
    swept = replica.expect(Expire(now_ms=replica.now_ms, max_transitions=1_000), ExpireResult)
    # Then the entry read a few keys per message, not the group's deleted keys again for each
    # (which was 600 * 600 / 2 reads: the group's head was searched from its start each time)
    assert swept.transitions == 600 and not swept.more
    assert store.keys_read < 10 * 600
    check_invariants(store)


# --- the budget of one entry ----------------------------------------------------------------------


@pytest.fixture
def rocks(tmp_path: Path) -> Iterator[list[RocksStore]]:
    stores = [RocksStore(StoreSettings(path=tmp_path / f"replica-{i}")) for i in range(3)]
    yield stores
    for store in stores:
        store.close()


def _counts(stats: QueueStats) -> tuple[int, int, int]:
    return stats.visible, stats.in_flight, stats.delayed


def test_one_entry_makes_at_most_its_budget_of_due_transitions_for_all_its_commands(
    rocks: list[RocksStore],
) -> None:
    # Given three replicas with a budget of 10 due transitions per entry, and 35 messages whose
    # delays end at the same moment
    group = ReplicaGroup(rocks, due_transitions_per_entry=10)
    group.create("q")
    group.send("q", *[b"m%d" % i for i in range(35)], delay_ms=1_000)
    group.advance(1_000)
    # When one entry holds three commands on the queue
    now = group.now_ms
    send = SendMessages(now_ms=now, queue="q", entries=(SendEntry(entry_id="e", body=b"new"),))
    stats = GetQueueStats(now_ms=now, queue="q")
    results = group.run(send, stats, stats)
    # Then they made 10 transitions between them, and the reads counted the queue as advanced
    assert _counts(group.stored_stats("q")) == (11, 0, 25)
    assert [_counts(r) for r in results[1:] if isinstance(r, QueueStats)] == [(11, 0, 25)] * 2
    # And the next entry makes 10 more
    group.one(stats)
    assert _counts(group.stored_stats("q")) == (21, 0, 15)
    check_invariants(group.store)
    group.assert_replicas_agree()


def test_the_leaders_sweeps_finish_what_commands_left_over_each_in_its_own_entry(
    rocks: list[RocksStore],
) -> None:
    # Given a queue with 35 due transitions on replicas with a budget of 10 per entry, after one
    # command made 10 of them
    group = ReplicaGroup(rocks, due_transitions_per_entry=10)
    group.create("q")
    group.send("q", *[b"m%d" % i for i in range(35)], delay_ms=1_000)
    group.advance(1_000)
    group.one(GetQueueStats(now_ms=group.now_ms, queue="q"))
    # Then the leader sees due work (it proposes sweeps when this time has come)
    due_ms = next_due_ms(group.machine)
    assert due_ms is not None and due_ms <= group.now_ms
    # When it proposes sweeps until one says it finished (as BackendNode._expire_loop does)
    swept: list[ExpireResult] = []
    while not swept or swept[-1].more:
        sweep = Expire(now_ms=group.now_ms, max_transitions=1_000)
        swept.append(group.expect(sweep, ExpireResult))
    # Then each made at most the entry's budget, whatever it asked for, and together the rest
    assert [s.transitions for s in swept] == [10, 10, 5]
    assert _counts(group.stored_stats("q")) == (35, 0, 0)
    due_ms = next_due_ms(group.machine)
    assert due_ms is None or due_ms > group.now_ms
    check_invariants(group.store)
    group.assert_replicas_agree()


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_a_receive_never_returns_a_message_past_its_retention_when_its_expiry_is_left_over(
    rocks: list[RocksStore], fifo: bool
) -> None:
    # Given 12 messages past their retention, with 3 sent later behind them (one group on a
    # FIFO queue), on replicas with a budget of 5 per entry
    group = ReplicaGroup(rocks, due_transitions_per_entry=5)
    queue = "q.fifo" if fifo else "q"
    group.create(queue, fifo=fifo, retention_ms=limits.RETENTION_MIN_MS)
    fields: dict[str, object] = {"group_id": "g"} if fifo else {}
    old_ids = []
    for body in [b"old%d" % i for i in range(12)]:
        dedup = {"dedup_id": body.decode()} if fifo else {}
        old_ids.append(group.send(queue, body, **fields, **dedup).sent[0].message_id)
    group.advance(limits.RETENTION_MIN_MS // 2)
    fresh = [b"fresh%d" % i for i in range(3)]
    for body in fresh:
        dedup = {"dedup_id": body.decode()} if fifo else {}
        group.send(queue, body, **fields, **dedup)
    group.advance(limits.RETENTION_MIN_MS // 2)
    # When receives are made until the fresh ones are delivered
    received: list[bytes] = []
    for _ in range(5):
        result = group.receive(queue, 10, visibility_timeout_ms=60_000)
        # Then no receive returned a message past its retention
        for message in result.messages:
            assert message.sent_at_ms + limits.RETENTION_MIN_MS > group.now_ms, message.body
        received += group.bodies(result)
        if received:
            break
        # (and while they waited, the old ones were expired 5 per entry, not all at once)
        assert group.stored_stats(queue).visible > len(fresh)
    assert received == fresh
    assert {group.status(queue, message_id).state for message_id in old_ids} == {"expired"}
    check_invariants(group.store)
    group.assert_replicas_agree()


def _received_behind_ten_in_retention_order(replica: Replica) -> ReceivedMessage:
    """A message received with attempt id "a" (lease 10 min), 10 messages ahead of it in
    retention order, on a queue whose retention then passes for all of them."""
    replica.create("q", retention_ms=limits.RETENTION_MIN_MS)
    replica.send("q", *[b"filler%d" % i for i in range(10)])
    replica.send("q", b"target", priority=9)
    received = replica.receive("q", 1, attempt_id="a", visibility_timeout_ms=600_000)
    assert replica.bodies(received) == [b"target"]
    replica.advance(limits.RETENTION_MIN_MS)
    return received.messages[0]


def test_a_retried_receive_attempt_does_not_return_a_message_past_its_retention() -> None:
    # Given a received message past its retention, whose expiry a budget of 5 leaves over
    replica = Replica(due_transitions_per_entry=5)
    target = _received_behind_ten_in_retention_order(replica)
    # When the receive is retried within the attempt window
    retried = replica.receive("q", 1, attempt_id="a")
    # Then the message is not returned again, and reads as expired
    assert retried.messages == ()
    assert replica.status("q", target.message_id).state == "expired"
    check_invariants(replica.store)


def test_a_delete_of_a_message_past_its_retention_finds_it_expired() -> None:
    # Given a received message past its retention, whose expiry a budget of 5 leaves over
    replica = Replica(due_transitions_per_entry=5)
    target = _received_behind_ten_in_retention_order(replica)
    # When it is deleted with its receipt handle
    deleted = replica.delete("q", target.receipt_handle)
    # Then the delete succeeds, as for any message gone, and the message expired: it was not
    # deleted (as if the queue had been advanced whole)
    assert deleted.succeeded == ("d0",)
    assert replica.status("q", target.message_id).state == "expired"
    check_invariants(replica.store)


def test_a_lease_that_ended_cannot_be_extended_while_its_end_is_left_over() -> None:
    # Given 10 leases that end at the same moment, on a replica with a budget of 3 per entry
    replica = Replica(due_transitions_per_entry=3)
    replica.create("q", visibility_timeout_ms=1_000)
    replica.send("q", *[b"m%d" % i for i in range(10)])
    leased = replica.receive("q", 10).messages
    replica.advance(1_000)
    # When the last one's visibility is changed, while its lease's end is still left over
    last = leased[-1]
    changed = replica.change_visibility("q", last.receipt_handle, 60_000)
    # Then it is refused: the lease ended, as its status says
    assert [f.code for f in changed.failed] == ["MessageNotInflight"]
    assert replica.stored_stats("q").in_flight > 0  # (the end of some leases is left over)
    status = replica.expect(
        GetMessageStatus(now_ms=replica.now_ms, queue="q", message_id=last.message_id),
        MessageStatus,
    )
    assert status.state == "pending"
    check_invariants(replica.store)


def test_a_receive_moves_at_most_the_budget_of_messages_to_the_dead_letter_queue() -> None:
    # Given 12 visible messages over their max receive count, on a budget of 5 per entry
    replica = Replica(due_transitions_per_entry=5)
    replica.create("dlq")
    replica.create("q", redrive={"dead_letter_queue": "dlq", "max_receive_count": 1})
    replica.send("q", *[b"m%d" % i for i in range(12)])
    for max_messages in (10, 2):
        replica.receive("q", max_messages, visibility_timeout_ms=1_000)
    replica.advance(1_000)
    while replica.expect(Expire(now_ms=replica.now_ms), ExpireResult).more:
        pass  # the leases' ends, 5 per entry
    assert replica.stored_stats("q").visible == 12
    # When a receive meets them
    assert replica.receive("q", 1).messages == ()
    # Then it moved 5 to the dead-letter queue, and the next receive moves the next 5
    assert (replica.stored_stats("q").visible, replica.stored_stats("dlq").visible) == (7, 5)
    assert replica.receive("q", 1).messages == ()
    assert (replica.stored_stats("q").visible, replica.stored_stats("dlq").visible) == (2, 10)
    check_invariants(replica.store)


def test_a_local_count_read_makes_at_most_one_entrys_budget_of_transitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 12 due transitions and a budget of 5 (metrics and load reports read every queue's
    # counts this way, under the lock that apply takes)
    monkeypatch.setattr(limits, "DUE_TRANSITIONS_PER_ENTRY", 5)
    replica = Replica()
    replica.create("q")
    replica.send("q", *[b"m%d" % i for i in range(12)], delay_ms=1_000)
    replica.advance(1_000)
    # When the counts are read, then 5 of the 12 were made, in a layer thrown away
    assert _counts(replica.stats("q")) == (5, 0, 7)
    assert _counts(replica.stored_stats("q")) == (0, 0, 12)


def test_a_status_read_through_the_log_is_exact_where_the_queue_is_partly_advanced() -> None:
    # Given 11 messages past their retention, and one whose delay has ended, on a budget of 5
    replica = Replica(due_transitions_per_entry=5)
    replica.create("q", retention_ms=limits.RETENTION_MIN_MS)
    expired = [m.message_id for m in replica.send("q", *[b"m%d" % i for i in range(11)]).sent]
    replica.advance(limits.RETENTION_MIN_MS - 1_000)
    late = replica.send("q", b"late", delay_ms=1_000).sent[0].message_id
    replica.advance(1_000)

    def state(message_id: str) -> str:
        read = GetMessageStatus(now_ms=replica.now_ms, queue="q", message_id=message_id)
        return replica.expect(read, MessageStatus).state

    # When their status is read through the log, then each reads as at the queue's time,
    # though the entries' budgets left those transitions over
    assert state(expired[-1]) == "expired"
    assert state(late) == "pending"
    assert replica.stored_stats("q").delayed == 1
    check_invariants(replica.store)


def test_a_dead_letter_past_its_retention_is_not_forwarded_while_its_expiry_is_left_over() -> None:
    # Given 8 dead letters waiting for a DLQ on another cluster, all past their retention, on a
    # budget of 5 per entry
    replica = Replica(due_transitions_per_entry=5)
    replica.create(
        "q",
        retention_ms=limits.RETENTION_MIN_MS,
        redrive={"dead_letter_queue": "elsewhere", "max_receive_count": 1},
    )
    replica.send("q", *[b"m%d" % i for i in range(8)])
    replica.receive("q", 10, visibility_timeout_ms=1_000)
    replica.advance(1_000)
    while replica.expect(Expire(now_ms=replica.now_ms), ExpireResult).more:
        pass
    while replica.stored_stats("q").visible:
        replica.receive("q", 1)  # each moves up to 5 to the outbox
    assert replica.stored_stats("q").dead_letter_pending == 8
    replica.advance(limits.RETENTION_MIN_MS)
    # When the forwarder reads them, then none is handed out, and the read says more may wait
    read = replica.expect(ReadDeadLetters(now_ms=replica.now_ms, queue="q"), DeadLetters)
    assert (read.entries, read.more) == ((), True)
    # And once the rest expired, nothing waits
    read = replica.expect(ReadDeadLetters(now_ms=replica.now_ms, queue="q"), DeadLetters)
    assert (read.entries, read.more) == ((), False)
    assert replica.stored_stats("q").dead_letter_pending == 0
    check_invariants(replica.store)

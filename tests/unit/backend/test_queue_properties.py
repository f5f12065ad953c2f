"""Property tests: random command sequences against one replica, checked against a model.

After every step the raw store satisfies `check_invariants` (every message indexed exactly once,
counts equal to the index sets, FIFO readiness). Across the run:
- a receive never hands out a message whose previous lease has not expired (no overlapping
  leases), and never a second message of a FIFO group that has one in flight;
- a message whose delete succeeded is never delivered again (deletes are final);
- at the end, draining each queue returns exactly the messages sent and not deleted or purged
  (nothing lost, nothing unexpected);
- replaying the same log on a fresh MemoryStore, on a RocksStore, and on a RocksStore that is
  closed and reopened half-way gives the same digest and the same bytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from raftq.backend.rocks_store import RocksStore
from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.store import MemoryStore
from raftq.common.commands import Expire, PurgeQueue, ReceiveMessages, SendEntry, SendMessages
from raftq.common.results import BatchResult, Failure, PurgeResult, ReceiveResult, SendResult
from raftq.common.settings import StoreSettings
from tests.replica import Replica
from tests.unit.backend.store_invariants import check_invariants, store_contents

QUEUES = {"std": False, "fifo": True}
HOUR_MS = 3_600_000


class QueueModel(RuleBasedStateMachine):
    @initialize()
    def create_queues(self) -> None:
        self.replica = Replica()
        for name, fifo in QUEUES.items():
            self.replica.create(name, fifo=fifo, visibility_timeout_ms=5_000)
        self.alive: dict[str, set[str]] = {name: set() for name in QUEUES}
        self.deleted: dict[str, set[str]] = {name: set() for name in QUEUES}
        self.lease_until: dict[str, dict[str, int]] = {name: {} for name in QUEUES}
        self.group_of: dict[str, dict[str, str | None]] = {name: {} for name in QUEUES}
        self.handles: list[tuple[str, str, str]] = []  # (queue, message id, handle)
        self.counter = 0

    @rule(
        queue=st.sampled_from(sorted(QUEUES)),
        dedup=st.one_of(st.none(), st.sampled_from(["d1", "d2", "d3"])),
        group=st.sampled_from(["g1", "g2"]),
        priority=st.integers(0, 9),
        delay_ms=st.sampled_from([None, 0, 1, 1_000]),
    )
    def send(
        self, queue: str, dedup: str | None, group: str, priority: int, delay_ms: int | None
    ) -> None:
        self.counter += 1
        fields: dict[str, object] = {"group_id": group}
        if QUEUES[queue]:
            fields["dedup_id"] = dedup or f"u{self.counter}"
        else:
            fields.update(dedup_id=dedup, priority=priority, delay_ms=delay_ms)
        result = self.replica.send(queue, f"body-{self.counter}".encode(), **fields)
        assert not result.failed, result
        for sent in result.sent:
            if not sent.duplicate:
                self.alive[queue].add(sent.message_id)
                self.group_of[queue][sent.message_id] = group

    @rule(
        queue=st.sampled_from(sorted(QUEUES)),
        max_messages=st.integers(1, 4),
        visibility_ms=st.sampled_from([None, 0, 1, 2_000]),
        attempt=st.one_of(st.none(), st.sampled_from(["a1", "a2"])),
    )
    def receive(
        self, queue: str, max_messages: int, visibility_ms: int | None, attempt: str | None
    ) -> None:
        result = self.replica.receive(
            queue, max_messages, visibility_timeout_ms=visibility_ms, attempt_id=attempt
        )
        self._record_receive(queue, result, visibility_ms)

    @rule(
        queue=st.sampled_from(sorted(QUEUES)),
        visibility_ms=st.sampled_from([0, 0, 1_000]),
        group=st.sampled_from(["g1", "g2"]),
    )
    def several_commands_in_one_entry(self, queue: str, visibility_ms: int, group: str) -> None:
        # Group commit: a send, a receive and another receive applied as one Raft entry, so
        # that a message received with visibility 0 must be visible to the second receive.
        self.counter += 1
        fields: dict[str, object] = {
            "entry_id": "e",
            "body": f"burst-{self.counter}".encode(),
            "group_id": group,
        }
        if QUEUES[queue]:
            fields["dedup_id"] = f"u{self.counter}"
        now = self.replica.now_ms
        sent, first, second = self.replica.run(
            SendMessages(now_ms=now, queue=queue, entries=(SendEntry.model_validate(fields),)),
            ReceiveMessages(
                now_ms=now, queue=queue, max_messages=2, visibility_timeout_ms=visibility_ms
            ),
            ReceiveMessages(
                now_ms=now, queue=queue, max_messages=2, visibility_timeout_ms=visibility_ms
            ),
        )
        assert isinstance(sent, SendResult) and sent.sent
        self.alive[queue].add(sent.sent[0].message_id)
        self.group_of[queue][sent.sent[0].message_id] = group
        assert isinstance(first, ReceiveResult) and isinstance(second, ReceiveResult)
        for result in (first, second):
            self._record_receive(queue, result, visibility_ms)
        if visibility_ms == 0 and first.messages and not QUEUES[queue]:
            # what the first receive leased for 0 ms is visible again to the second
            assert second.messages

    def _record_receive(self, queue: str, result: ReceiveResult, visibility_ms: int | None) -> None:
        now = self.replica.now_ms
        known_handles = {handle for _, _, handle in self.handles}
        fresh = [m for m in result.messages if m.receipt_handle not in known_handles]
        leases = self.lease_until[queue]
        for message in fresh:
            assert message.message_id not in self.deleted[queue], "a deleted message came back"
            assert message.message_id in self.alive[queue], "a message from nowhere"
            assert leases.get(message.message_id, 0) <= now, "two leases overlap"
        if QUEUES[queue]:
            returned = {m.message_id for m in fresh}
            for message in fresh:
                group = self.group_of[queue][message.message_id]
                locked = [
                    other
                    for other, until in leases.items()
                    if until > now
                    and other not in returned
                    and self.group_of[queue].get(other) == group
                ]
                assert not locked, f"group {group} delivered while {locked} in flight"
        timeout = 5_000 if visibility_ms is None else visibility_ms
        for message in fresh:
            leases[message.message_id] = now + timeout
            self.handles.append((queue, message.message_id, message.receipt_handle))

    @precondition(lambda self: bool(self.handles))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        queue, message_id, handle = data.draw(st.sampled_from(self.handles))
        result = self.replica.delete(queue, handle)
        if result.succeeded:
            self.alive[queue].discard(message_id)
            self.deleted[queue].add(message_id)
            self.lease_until[queue].pop(message_id, None)
        else:
            assert result.failed[0].code == "ReceiptHandleIsInvalid", result

    @precondition(lambda self: bool(self.handles))
    @rule(data=st.data(), timeout_ms=st.sampled_from([0, 1, 3_000]))
    def change_visibility(self, data: st.DataObject, timeout_ms: int) -> None:
        queue, message_id, handle = data.draw(st.sampled_from(self.handles))
        result = self.replica.change_visibility(queue, handle, timeout_ms)
        if result.succeeded:
            self.lease_until[queue][message_id] = self.replica.now_ms + timeout_ms

    @rule(queue=st.sampled_from(sorted(QUEUES)))
    def purge(self, queue: str) -> None:
        result = self.replica.one(PurgeQueue(now_ms=self.replica.now_ms, queue=queue))
        if isinstance(result, PurgeResult):
            self.alive[queue].clear()
            self.lease_until[queue].clear()
        else:
            assert isinstance(result, Failure) and result.code == "PurgeQueueInProgress"

    @rule(max_transitions=st.sampled_from([1, 10_000]))
    def expire(self, max_transitions: int) -> None:
        self.replica.one(Expire(now_ms=self.replica.now_ms, max_transitions=max_transitions))

    @rule(delta_ms=st.sampled_from([0, 1, 999, 1_000, 2_000, 5_000, 61_000]))
    def advance(self, delta_ms: int) -> None:
        self.replica.advance(delta_ms)

    @invariant()
    def store_is_consistent(self) -> None:
        check_invariants(self.replica.store)

    def teardown(self) -> None:
        if not hasattr(self, "replica"):
            return
        # Nothing lost, nothing unexpected: past every lease and delay, a drain returns exactly
        # the messages that were sent and neither deleted nor purged.
        self.replica.advance(13 * HOUR_MS)
        for queue in QUEUES:
            drained: set[str] = set()
            while True:
                result = self.replica.receive(queue, 10, visibility_timeout_ms=12 * HOUR_MS)
                assert isinstance(result, ReceiveResult)
                if not result.messages:
                    break
                drained.update(m.message_id for m in result.messages)
                handles = [m.receipt_handle for m in result.messages]
                deleted = self.replica.delete(queue, *handles)
                assert isinstance(deleted, BatchResult) and not deleted.failed
            assert drained == self.alive[queue]
            assert not drained & self.deleted[queue]
        check_invariants(self.replica.store)
        self._check_replay_is_deterministic()

    def _check_replay_is_deterministic(self) -> None:
        log = self.replica.payloads
        expected = store_contents(self.replica.store)
        fresh = QueueStateMachine(MemoryStore())
        for index, payload in log:
            fresh.apply(index, payload)
        assert fresh.digest == self.replica.machine.digest
        assert store_contents(fresh.store) == expected
        with tempfile.TemporaryDirectory() as scratch:
            settings_ = StoreSettings(path=Path(scratch) / "db")
            half = len(log) // 2
            first = QueueStateMachine(RocksStore(settings_))
            for index, payload in log[:half]:
                first.apply(index, payload)
            first.store.close()
            reopened = QueueStateMachine(RocksStore(settings_))
            for index, payload in log[max(0, half - 3) : half]:
                assert reopened.apply(index, payload) is None  # already applied: skipped
            for index, payload in log[half:]:
                reopened.apply(index, payload)
            assert reopened.digest == self.replica.machine.digest
            assert store_contents(reopened.store) == expected
            reopened.store.close()


QueueModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_command_sequences_keep_every_promise = QueueModel.TestCase

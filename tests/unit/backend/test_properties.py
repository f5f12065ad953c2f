"""Property tests: random command sequences on one replica, checked against a reference model.

Six queues live on the replica: a standard and a FIFO queue that redrive to DLQs stored here, a
standard queue whose DLQ is elsewhere (messages wait in the outbox), a FIFO queue with a delay
and content-based dedup, and the two DLQs. Each step applies one Raft entry of one to three
random commands (sends with dedup ids, groups, priorities and delays from small pools; receives
with random sizes, visibility timeouts and attempt ids; deletes, visibility changes and
dead-letter moves with handles of earlier receives, stale ones included; purges; expiry sweeps;
reads through the log), or moves the clock by a random amount, 0 and exactly-a-deadline
included.

The model predicts every result exactly (which messages a receive returns and in what order,
which it moves to a DLQ, every entry failure), and after every step:
- `check_invariants` holds on the raw store (each message indexed once for its state, so none
  is both visible and in flight; counters equal the index sets; FIFO readiness);
- every message's status and each queue's counts equal the model's.
Across the run: a receive never returns a message whose lease is live, a FIFO group while one
of its messages is in flight, or a message whose delete succeeded (deletes are final).
At the end (at least once): after advancing past every lease and delay and draining, every
message sent and not a duplicate was deleted, dead-lettered (and then met one of these fates in
its DLQ), expired, purged, is waiting for a remote DLQ, or was delivered by the drain.
Replaying the log on a fresh MemoryStore, on a RocksStore, and on a RocksStore closed and
reopened half-way (re-applied entries return None) gives the same digest and the same bytes.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from raftq.backend.queue_state import QueueState
from raftq.backend.rocks_store import RocksStore
from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.store import MemoryStore
from raftq.backend.txn import Txn
from raftq.backend.views import stats_of, status_of
from raftq.backend.work_budget import WorkBudget
from raftq.common import limits
from raftq.common.commands import (
    AnyCommand,
    ChangeVisibility,
    CreateQueue,
    DeadLetterEntry,
    DeleteEntry,
    DeleteMessages,
    Expire,
    GetMessageStatus,
    GetQueueStats,
    MoveToDeadLetter,
    PurgeQueue,
    ReceiveMessages,
    SendEntry,
    SendMessages,
    VisibilityEntry,
)
from raftq.common.errors import MessageNotFound
from raftq.common.queue_attributes import QueueAttributes, RedrivePolicy
from raftq.common.results import (
    BatchResult,
    CommandResult,
    ExpireResult,
    Failure,
    MessageStatus,
    PurgeResult,
    QueueCreated,
    QueueStats,
    ReceivedMessage,
    ReceiveResult,
    SendResult,
)
from raftq.common.settings import StoreSettings
from tests.replica import Replica
from tests.unit.backend.invariants import check_invariants, store_contents

DEDUP_WINDOW_MS = 10_000
DEFAULT_VISIBILITY_MS = 5_000
DRAIN_VISIBILITY_MS = 60_000
EVERYTHING_DUE = 1 << 62  # a budget no test run reaches: advance all the way


@dataclass(frozen=True)
class QueueSpec:
    name: str
    fifo: bool
    retention_ms: int = 600_000
    delay_ms: int = 0
    content_based_dedup: bool = False
    dead_letter_queue: str | None = None
    max_receive_count: int = 0

    def create(self, now_ms: int) -> CreateQueue:
        redrive = None
        if self.dead_letter_queue is not None:
            redrive = RedrivePolicy(
                dead_letter_queue=self.dead_letter_queue, max_receive_count=self.max_receive_count
            )
        attributes = QueueAttributes(
            visibility_timeout_ms=DEFAULT_VISIBILITY_MS,
            retention_ms=self.retention_ms,
            delay_ms=self.delay_ms,
            dedup_window_ms=DEDUP_WINDOW_MS,
            content_based_dedup=self.content_based_dedup,
            status_retention_ms=limits.STATUS_RETENTION_MAX_MS,  # every fate stays readable
            redrive=redrive,
        )
        return CreateQueue(now_ms=now_ms, queue=self.name, fifo=self.fifo, attributes=attributes)


# DLQs first: a redrive names a queue that already exists (or, for "orphan", one that never will).
SPECS = (
    QueueSpec("std-dlq", fifo=False, retention_ms=limits.RETENTION_MIN_MS),
    QueueSpec("dlq.fifo", fifo=True, retention_ms=limits.RETENTION_MIN_MS),
    QueueSpec("std", fifo=False, dead_letter_queue="std-dlq", max_receive_count=2),
    QueueSpec("orphan", fifo=False, dead_letter_queue="elsewhere", max_receive_count=1),
    QueueSpec("q.fifo", fifo=True, dead_letter_queue="dlq.fifo", max_receive_count=2),
    QueueSpec("slow.fifo", fifo=True, delay_ms=1_000, content_based_dedup=True),
)
DEAD_LETTER_QUEUES = ("std-dlq", "dlq.fifo")
SOURCES = tuple(spec.name for spec in SPECS if spec.name not in DEAD_LETTER_QUEUES)
QUEUE_NAMES = tuple(spec.name for spec in SPECS)
# The queues with redrive take most commands; the others still see every kind.
QUEUE_CHOICES = st.sampled_from(["std", "std", "q.fifo", "q.fifo", *QUEUE_NAMES])


# --- the model ------------------------------------------------------------------------------------


@dataclass
class Tracked:
    """What the model knows of one message in one queue."""

    message_id: str
    seq: int
    body: bytes
    attributes: bytes
    group: str | None
    priority: int
    dedup_id: str | None
    sent_at_ms: int
    visible_at_ms: int
    dead_letter_source: str | None = None
    receive_count: int = 0
    first_received_at_ms: int = 0
    received_at_ms: int = 0
    lease_until_ms: int = 0
    handle: str | None = None
    pending_dead_letter: bool = False
    removed_as: str | None = None  # deleted | expired | dead_lettered | purged
    removed_at_ms: int = 0

    @property
    def live(self) -> bool:
        return self.removed_as is None

    def state(self, now_ms: int) -> str:
        if self.removed_as is not None:
            return self.removed_as
        if self.pending_dead_letter:
            return "dead_letter_pending"
        if now_ms < self.visible_at_ms:
            return "delayed"
        if self.lease_until_ms > now_ms:
            return "in_flight"
        return "pending"

    def remove(self, removed_as: str, now_ms: int) -> None:
        self.removed_as, self.removed_at_ms = removed_as, now_ms


@dataclass
class ModelQueue:
    spec: QueueSpec
    messages: dict[str, Tracked] = field(default_factory=dict)
    next_seq: int = 1
    dedup: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # id, seq, expires
    attempts: dict[str, tuple[int, list[tuple[str, str]]]] = field(default_factory=dict)
    last_purge_at_ms: int | None = None

    def live(self) -> list[Tracked]:
        return [t for t in self.messages.values() if t.live]

    def settle(self, now_ms: int) -> None:
        """Retention: a message expires once `sent_at + retention <= now`, whatever its state."""
        for tracked in self.live():
            if tracked.sent_at_ms + self.spec.retention_ms <= now_ms:
                tracked.remove("expired", now_ms)

    def counts(self, now_ms: int) -> tuple[int, int, int, int]:
        states = [t.state(now_ms) for t in self.live()]
        return (
            states.count("pending"),
            states.count("in_flight"),
            states.count("delayed"),
            states.count("dead_letter_pending"),
        )

    def allocate_seq(self) -> int:
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        return seq


def _codes(result: BatchResult) -> dict[str, str]:
    return {**{entry_id: "ok" for entry_id in result.succeeded}, **_failures(result)}


def _failures(result: BatchResult | SendResult) -> dict[str, str]:
    return {failure.entry_id: failure.code for failure in result.failed}


class Model:
    def __init__(self) -> None:
        self.queues = {spec.name: ModelQueue(spec) for spec in SPECS}
        self.handles: dict[str, tuple[str, str]] = {}  # handle -> (queue, message id)
        self.deleted: set[tuple[str, str]] = set()  # (queue, message id) of successful deletes
        self.drained: set[tuple[str, str]] = set()

    def check(self, command: AnyCommand, result: CommandResult) -> None:
        """Check one command's result against the model, and apply it to the model."""
        match command:
            case SendMessages():
                assert isinstance(result, SendResult), result
                self._send(command, result)
            case ReceiveMessages():
                self._receive(command, result)
            case DeleteMessages():
                self._delete(command, result)
            case ChangeVisibility():
                self._change(command, result)
            case MoveToDeadLetter():
                self._move(command, result)
            case PurgeQueue():
                self._purge(command, result)
            case Expire():
                assert isinstance(result, ExpireResult), result
                for queue in self.queues.values():
                    queue.settle(command.now_ms)
            case GetQueueStats():
                self._stats(command, result)
            case GetMessageStatus():
                self._status(command, result)
            case _:
                raise AssertionError(f"the model does not know {command!r}")

    # --- sends ---

    def _send(self, command: SendMessages, result: SendResult) -> None:
        queue, now = self.queues[command.queue], command.now_ms
        queue.settle(now)
        sent = {s.entry_id: s for s in result.sent}
        failed = _failures(result)
        for entry in command.entries:
            refusal = _send_refusal(queue.spec, entry)
            if refusal is not None:
                assert failed.get(entry.entry_id) == refusal, (entry, result)
                continue
            answer = sent[entry.entry_id]
            dedup_id = entry.dedup_id
            if dedup_id is None and queue.spec.content_based_dedup:
                dedup_id = hashlib.sha256(entry.body).hexdigest()
            earlier = queue.dedup.get(dedup_id) if dedup_id is not None else None
            if earlier is not None and earlier[2] > now:
                assert answer.duplicate, (entry, answer)
                assert (answer.message_id, answer.sequence_number) == earlier[:2]
                continue
            assert not answer.duplicate, (entry, answer)
            assert answer.sequence_number == queue.allocate_seq()
            assert answer.message_id not in queue.messages
            delay_ms = entry.delay_ms if entry.delay_ms is not None else queue.spec.delay_ms
            queue.messages[answer.message_id] = Tracked(
                message_id=answer.message_id,
                seq=answer.sequence_number,
                body=entry.body,
                attributes=entry.attributes,
                group=entry.group_id,
                priority=entry.priority,
                dedup_id=dedup_id,
                sent_at_ms=now,
                visible_at_ms=now + delay_ms,
            )
            if dedup_id is not None:
                queue.dedup[dedup_id] = (
                    answer.message_id,
                    answer.sequence_number,
                    now + DEDUP_WINDOW_MS,
                )

    # --- receives ---

    def _receive(self, command: ReceiveMessages, result: CommandResult) -> None:
        assert isinstance(result, ReceiveResult), result
        queue, now = self.queues[command.queue], command.now_ms
        queue.settle(now)
        attempt = queue.attempts.get(command.attempt_id) if command.attempt_id else None
        if attempt is not None and attempt[0] > now:
            replayed = [
                (message_id, handle)
                for message_id, handle in attempt[1]
                if queue.messages[message_id].handle == handle
                and queue.messages[message_id].state(now) == "in_flight"
            ]
            got = [(m.message_id, m.receipt_handle) for m in result.messages]
            assert got == replayed, ("attempt replay", got, replayed)
            self._check_received(queue, result.messages)
            return

        visibility_ms = command.visibility_timeout_ms
        if visibility_ms is None:
            visibility_ms = DEFAULT_VISIBILITY_MS
        delivered = self._simulate_receive(queue, command.max_messages, now)
        got_ids = [m.message_id for m in result.messages]
        assert got_ids == [t.message_id for t in delivered], ("receive", got_ids, delivered)
        for tracked, message in zip(delivered, result.messages, strict=True):
            assert (queue.spec.name, tracked.message_id) not in self.deleted, "deleted came back"
            assert tracked.lease_until_ms <= now, "two leases overlap"
            tracked.receive_count += 1
            tracked.first_received_at_ms = tracked.first_received_at_ms or now
            tracked.received_at_ms = now
            tracked.lease_until_ms = now + visibility_ms
            tracked.handle = message.receipt_handle
            assert message.receipt_handle not in self.handles, "a handle was issued twice"
            self.handles[message.receipt_handle] = (queue.spec.name, tracked.message_id)
        self._check_received(queue, result.messages)
        if command.attempt_id is not None and delivered:
            queue.attempts[command.attempt_id] = (
                now + limits.RECEIVE_ATTEMPT_WINDOW_MS,
                [(m.message_id, m.receipt_handle) for m in result.messages],
            )
        timers = [t.visible_at_ms for t in queue.live() if t.state(now) == "delayed"]
        timers += [t.lease_until_ms for t in queue.live() if t.state(now) == "in_flight"]
        timers += [now for t in delivered if visibility_ms == 0]
        assert result.next_visible_at_ms == min(timers, default=None)

    def _simulate_receive(self, queue: ModelQueue, max_messages: int, now: int) -> list[Tracked]:
        """What the receive must do: walk visible messages in delivery order, moving those
        received `max_receive_count` times to the DLQ and taking the others, up to the max."""
        delivered: list[Tracked] = []
        taken: set[str] = set()

        def visible() -> list[Tracked]:
            return [
                t for t in queue.live() if t.state(now) == "pending" and t.message_id not in taken
            ]

        def take(tracked: Tracked) -> None:
            spec = queue.spec
            if spec.dead_letter_queue and tracked.receive_count >= spec.max_receive_count:
                self._move_to_dead_letter(queue, tracked, now)
            else:
                delivered.append(tracked)
                taken.add(tracked.message_id)

        if not queue.spec.fifo:
            for tracked in sorted(visible(), key=lambda t: (-t.priority, t.seq)):
                if len(delivered) == max_messages:
                    break
                take(tracked)
            return delivered
        locked = {t.group for t in queue.live() if t.state(now) == "in_flight"}
        while len(delivered) < max_messages:
            ready: dict[str | None, list[Tracked]] = {}
            for tracked in sorted(visible(), key=lambda t: t.seq):
                if tracked.group not in locked:
                    ready.setdefault(tracked.group, []).append(tracked)
            if not ready:
                break
            group = min(ready, key=lambda g: ready[g][0].seq)
            for tracked in ready[group][: max_messages - len(delivered)]:
                take(tracked)
                if tracked.message_id in taken:
                    locked.add(group)
        return delivered

    def _move_to_dead_letter(self, queue: ModelQueue, tracked: Tracked, now: int) -> None:
        target = self.queues.get(queue.spec.dead_letter_queue or "")
        if target is None:
            tracked.pending_dead_letter = True
            return
        tracked.remove("dead_lettered", now)
        target.messages[tracked.message_id] = Tracked(
            message_id=tracked.message_id,
            seq=target.allocate_seq(),
            body=tracked.body,
            attributes=tracked.attributes,
            group=tracked.group,
            priority=tracked.priority,
            dedup_id=tracked.dedup_id,
            sent_at_ms=now if target.spec.fifo else tracked.sent_at_ms,
            visible_at_ms=0,
            dead_letter_source=queue.spec.name,
            receive_count=tracked.receive_count,
            first_received_at_ms=tracked.first_received_at_ms,
        )

    def _check_received(self, queue: ModelQueue, messages: tuple[ReceivedMessage, ...]) -> None:
        for message in messages:
            t = queue.messages[message.message_id]
            assert (
                message.body,
                message.attributes,
                message.sequence_number,
                message.group_id,
                message.dedup_id,
                message.priority,
                message.sent_at_ms,
                message.first_received_at_ms,
                message.receive_count,
                message.dead_letter_source,
            ) == (
                t.body,
                t.attributes,
                t.seq,
                t.group,
                t.dedup_id,
                t.priority,
                t.sent_at_ms,
                t.first_received_at_ms,
                t.receive_count,
                t.dead_letter_source,
            ), (message, t)

    # --- commands by receipt handle ---

    def _by_handle(self, handle: str, now: int) -> tuple[ModelQueue, Tracked]:
        queue_name, message_id = self.handles[handle]
        queue = self.queues[queue_name]
        queue.settle(now)
        return queue, queue.messages[message_id]

    def _delete(self, command: DeleteMessages, result: CommandResult) -> None:
        assert isinstance(result, BatchResult), result
        codes = _codes(result)
        for entry in command.entries:
            queue, tracked = self._by_handle(entry.receipt_handle, command.now_ms)
            if tracked.live and tracked.handle != entry.receipt_handle:
                assert codes[entry.entry_id] == "ReceiptHandleIsInvalid", (entry, result)
                continue
            assert codes[entry.entry_id] == "ok", (entry, tracked, result)
            if tracked.live:
                tracked.remove("deleted", command.now_ms)
            self.deleted.add((queue.spec.name, tracked.message_id))

    def _change(self, command: ChangeVisibility, result: CommandResult) -> None:
        assert isinstance(result, BatchResult), result
        codes, now = _codes(result), command.now_ms
        for entry in command.entries:
            _, tracked = self._by_handle(entry.receipt_handle, now)
            deadline_ms = now + entry.visibility_timeout_ms
            if not tracked.live:
                expected = "MessageNotInflight"
            elif tracked.handle != entry.receipt_handle:
                expected = "ReceiptHandleIsInvalid"
            elif tracked.state(now) != "in_flight":
                expected = "MessageNotInflight"
            elif deadline_ms - tracked.received_at_ms > limits.VISIBILITY_TIMEOUT_MAX_MS:
                expected = "InvalidParameterValue"
            else:
                expected = "ok"
                tracked.lease_until_ms = deadline_ms
            assert codes[entry.entry_id] == expected, (entry, tracked, result)

    def _move(self, command: MoveToDeadLetter, result: CommandResult) -> None:
        queue, now = self.queues[command.queue], command.now_ms
        queue.settle(now)
        if queue.spec.dead_letter_queue is None:
            assert isinstance(result, Failure) and result.code == "InvalidDeadLetterQueue"
            return
        assert isinstance(result, BatchResult), result
        codes = _codes(result)
        for entry in command.entries:
            _, tracked = self._by_handle(entry.receipt_handle, now)
            if tracked.live and tracked.handle != entry.receipt_handle:
                assert codes[entry.entry_id] == "ReceiptHandleIsInvalid", (entry, result)
                continue
            assert codes[entry.entry_id] == "ok", (entry, tracked, result)
            if tracked.live and not tracked.pending_dead_letter:
                self._move_to_dead_letter(queue, tracked, now)

    # --- queue-wide commands and reads ---

    def _purge(self, command: PurgeQueue, result: CommandResult) -> None:
        queue, now = self.queues[command.queue], command.now_ms
        queue.settle(now)
        last = queue.last_purge_at_ms
        if last is not None and now - last < limits.PURGE_COOLDOWN_MS:
            assert isinstance(result, Failure) and result.code == "PurgeQueueInProgress", result
            return
        assert isinstance(result, PurgeResult), result
        live = queue.live()
        assert result.purged == len(live), (result, live)
        for tracked in live:
            tracked.remove("purged", now)
        queue.attempts.clear()
        queue.last_purge_at_ms = now

    def _stats(self, command: GetQueueStats, result: CommandResult) -> None:
        queue, now = self.queues[command.queue], command.now_ms
        queue.settle(now)
        assert isinstance(result, QueueStats), result
        got = (result.visible, result.in_flight, result.delayed, result.dead_letter_pending)
        assert got == queue.counts(now), (command.queue, got, queue.counts(now))

    def _status(self, command: GetMessageStatus, result: CommandResult) -> None:
        queue, now = self.queues[command.queue], command.now_ms
        queue.settle(now)
        tracked = queue.messages.get(command.message_id)
        if tracked is None or tracked.removed_as == "purged":
            assert isinstance(result, Failure) and result.code == "MessageNotFound", result
            return
        assert isinstance(result, MessageStatus), result
        check_status(tracked, result, now, queue.spec)


def _send_refusal(spec: QueueSpec, entry: SendEntry) -> str | None:
    if not spec.fifo:
        return None
    if entry.priority != 0 or entry.delay_ms is not None:
        return "InvalidParameterValue"
    if entry.dedup_id is None and not spec.content_based_dedup:
        return "MissingParameter"
    return None


def check_status(tracked: Tracked, status: MessageStatus, now: int, spec: QueueSpec) -> None:
    state = tracked.state(now)
    assert status.state == state, (spec.name, tracked, status)
    assert status.receive_count == tracked.receive_count, (spec.name, tracked, status)
    if state == "expired":
        # removed lazily, by the first command or read at or after the due time
        assert status.at_ms >= tracked.sent_at_ms + spec.retention_ms, (tracked, status)
    elif tracked.removed_as is not None:
        assert status.at_ms == tracked.removed_at_ms, (tracked, status)
    elif state == "in_flight":
        assert status.at_ms == tracked.received_at_ms, (tracked, status)
    else:
        assert status.at_ms == tracked.sent_at_ms, (tracked, status)


# --- the state machine under test -----------------------------------------------------------------

DEDUP_IDS = st.sampled_from([None, "d1", "d2", "d3"])
GROUPS = st.sampled_from(["g1", "g2", "g3"])
COMMAND_KINDS = st.sampled_from(
    ["send"] * 4
    + ["receive"] * 4
    + ["delete"] * 2
    + ["change_visibility"] * 2
    + ["move", "purge", "expire", "stats", "status"]
)


class QueueReplicaMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.replica = Replica()
        self.model = Model()
        self.bodies = 0
        self.issued: list[str] = []  # every receipt handle, in issue order
        # Set while a step's checks run: if one fails, the model no longer matches the replica
        # and teardown's end-of-run checks would only report that again.
        self.checking = False
        for spec in SPECS:
            created = self.replica.one(spec.create(self.replica.now_ms))
            assert isinstance(created, QueueCreated) and created.created, created

    # --- steps ---

    @rule(data=st.data(), size=st.sampled_from([1, 1, 1, 2, 3]), spliced=st.booleans())
    def apply_one_entry(self, data: st.DataObject, size: int, spliced: bool) -> None:
        # Entries of both formats, mixed in one log as after an upgrade (v1 then v2).
        commands = [self._draw_command(data) for _ in range(size)]
        self.checking = True
        results = self.replica.run(*commands, spliced=spliced)
        assert len(results) == len(commands)
        for command, result in zip(commands, results, strict=True):
            self.model.check(command, result)
            if isinstance(result, ReceiveResult):
                self.issued.extend(
                    m.receipt_handle for m in result.messages if m.receipt_handle not in self.issued
                )
        self.checking = False

    @rule(data=st.data(), to_a_deadline=st.booleans())
    def advance_clock(self, data: st.DataObject, to_a_deadline: bool) -> None:
        deadlines = sorted(self._deadlines())
        if to_a_deadline and deadlines:
            # exactly at a deadline, or a millisecond either side of it
            target = data.draw(st.sampled_from(deadlines)) + data.draw(st.sampled_from([-1, 0, 1]))
            delta_ms = max(0, target - self.replica.now_ms)
        else:
            delta_ms = data.draw(
                st.sampled_from([0, 0, 1, 999, 1_000, 4_999, 5_000, 30_000, 61_000])
            )
        self.replica.advance(delta_ms)

    def _deadlines(self) -> set[int]:
        """Every future time at which something is due: delays, leases, retention, dedup and
        attempt windows, purge cooldowns."""
        now = self.replica.now_ms
        times: set[int] = set()
        for queue in self.model.queues.values():
            for t in queue.live():
                times |= {t.visible_at_ms, t.lease_until_ms, t.sent_at_ms + queue.spec.retention_ms}
            times |= {expires for _, _, expires in queue.dedup.values()}
            times |= {expires for expires, _ in queue.attempts.values()}
            if queue.last_purge_at_ms is not None:
                times.add(queue.last_purge_at_ms + limits.PURGE_COOLDOWN_MS)
        return {time for time in times if time > now}

    # --- command generation ---

    def _draw_command(self, data: st.DataObject) -> AnyCommand:
        now = self.replica.now_ms
        kind = data.draw(COMMAND_KINDS)
        if kind in ("delete", "change_visibility", "move") and not self.issued:
            kind = "receive"
        queue = data.draw(QUEUE_CHOICES)
        if kind == "send":
            size = data.draw(st.integers(1, 3))
            entries = tuple(self._draw_send_entry(data, queue, i) for i in range(size))
            return SendMessages(now_ms=now, queue=queue, entries=entries)
        if kind == "receive":
            return ReceiveMessages(
                now_ms=now,
                queue=queue,
                max_messages=data.draw(st.sampled_from([1, 2, 3, 10])),
                visibility_timeout_ms=data.draw(st.sampled_from([None, 0, 1, 2_000])),
                attempt_id=data.draw(st.sampled_from([None, None, "a1", "a2"])),
            )
        if kind == "purge":
            return PurgeQueue(now_ms=now, queue=queue)
        if kind == "expire":
            return Expire(now_ms=now, max_transitions=data.draw(st.sampled_from([1, 3, 10_000])))
        if kind == "stats":
            return GetQueueStats(now_ms=now, queue=queue)
        if kind == "status":
            known = sorted(self.model.queues[queue].messages) or ["no-such-message"]
            message_id = data.draw(st.sampled_from(known))
            return GetMessageStatus(now_ms=now, queue=queue, message_id=message_id)
        # by receipt handle: recent handles are likelier, stale ones stay possible
        recent = data.draw(st.sampled_from([True, True, False]))
        handles = [data.draw(st.sampled_from(self.issued[-3:] if recent else self.issued))]
        if data.draw(st.booleans()):
            handles.append(data.draw(st.sampled_from(self.issued)))
        queue = self.model.handles[handles[0]][0]
        handles = [h for h in handles if self.model.handles[h][0] == queue]
        if kind == "delete":
            deletes = tuple(
                DeleteEntry(entry_id=f"d{i}", receipt_handle=h) for i, h in enumerate(handles)
            )
            return DeleteMessages(now_ms=now, queue=queue, entries=deletes)
        if kind == "change_visibility":
            timeout_ms = data.draw(st.sampled_from([0, 1, 3_000, limits.VISIBILITY_TIMEOUT_MAX_MS]))
            changes = tuple(
                VisibilityEntry(
                    entry_id=f"v{i}", receipt_handle=h, visibility_timeout_ms=timeout_ms
                )
                for i, h in enumerate(handles)
            )
            return ChangeVisibility(now_ms=now, queue=queue, entries=changes)
        moves = tuple(
            DeadLetterEntry(entry_id=f"m{i}", receipt_handle=h) for i, h in enumerate(handles)
        )
        return MoveToDeadLetter(now_ms=now, queue=queue, entries=moves)

    def _draw_send_entry(self, data: st.DataObject, queue: str, position: int) -> SendEntry:
        spec = self.model.queues[queue].spec
        self.bodies += 1
        body = f"body-{self.bodies}".encode()
        if spec.content_based_dedup and data.draw(st.booleans()):
            body = b"repeated body"
        fields: dict[str, object] = {
            "entry_id": f"e{position}",
            "body": body,
            "attributes": data.draw(st.sampled_from([b"", b"attrs"])),
            "dedup_id": data.draw(DEDUP_IDS),
        }
        if spec.fifo:
            fields["group_id"] = data.draw(GROUPS)
            fields["priority"] = data.draw(st.sampled_from([0, 0, 0, 0, 3]))
        else:
            fields["group_id"] = data.draw(st.one_of(st.none(), GROUPS))
            fields["priority"] = data.draw(st.sampled_from([0, 0, 5, 9]))
            fields["delay_ms"] = data.draw(st.sampled_from([None, None, 0, 1, 1_000]))
        return SendEntry.model_validate(fields)

    # --- checks after every step ---

    @invariant()
    def store_keeps_its_invariants(self) -> None:
        self.checking = True
        check_invariants(self.replica.store)
        self.checking = False

    @invariant()
    def every_status_and_count_is_the_models(self) -> None:
        self.checking = True
        now = max(self.replica.now_ms, self.replica.machine.clock_ms)
        for name, queue in self.model.queues.items():
            queue.settle(now)
            state = QueueState.load(Txn(self.replica.store), name, now)
            state.advance(WorkBudget(EVERYTHING_DUE))
            stats = stats_of(state)
            got = (stats.visible, stats.in_flight, stats.delayed, stats.dead_letter_pending)
            assert got == queue.counts(now), (name, got, queue.counts(now))
            for message_id, tracked in queue.messages.items():
                if tracked.removed_as == "purged":
                    try:
                        status_of(state, message_id)
                    except MessageNotFound:
                        continue
                    raise AssertionError(f"purged message {message_id} still has a status")
                check_status(tracked, status_of(state, message_id), now, queue.spec)
        self.checking = False

    # --- at the end ---

    def teardown(self) -> None:
        if self.checking:
            return  # a step failed: that failure is the report
        self._every_message_meets_a_fate()
        check_invariants(self.replica.store)
        self._replays_reach_the_same_state()

    def _every_message_meets_a_fate(self) -> None:
        # Given every lease and delay run out
        live = [
            t for q in self.model.queues.values() for t in q.live() if not t.pending_dead_letter
        ]
        end = max([t.visible_at_ms for t in live] + [t.lease_until_ms for t in live], default=0)
        self.replica.advance(max(0, end - self.replica.now_ms))
        # When each queue is drained (sources first: draining one may fill its DLQ)
        for name in (*SOURCES, *DEAD_LETTER_QUEUES):
            self._drain(name)
        # Then every message sent and not a duplicate met a fate, in its DLQ if it moved there
        for name, queue in self.model.queues.items():
            for tracked in queue.messages.values():
                if tracked.dead_letter_source is not None:
                    continue  # followed from its source queue
                assert self._fate(name, tracked) in {
                    "deleted",
                    "expired",
                    "purged",
                    "waiting for a remote dead-letter queue",
                }, (name, tracked)

    def _fate(self, name: str, tracked: Tracked) -> str | None:
        spec = self.model.queues[name].spec
        if tracked.removed_as == "dead_lettered":
            moved = self.model.queues[spec.dead_letter_queue or ""].messages[tracked.message_id]
            return self._fate(spec.dead_letter_queue or "", moved)
        if tracked.live and tracked.pending_dead_letter:
            assert spec.dead_letter_queue == "elsewhere", (name, tracked)
            return "waiting for a remote dead-letter queue"
        return tracked.removed_as

    def _drain(self, name: str) -> None:
        while True:
            now = self.replica.now_ms
            receive = ReceiveMessages(
                now_ms=now, queue=name, max_messages=10, visibility_timeout_ms=DRAIN_VISIBILITY_MS
            )
            received = self.replica.one(receive)
            self.model.check(receive, received)
            assert isinstance(received, ReceiveResult)
            if not received.messages:
                assert not [t for t in self.model.queues[name].live() if t.state(now) == "pending"]
                return
            self.model.drained |= {(name, m.message_id) for m in received.messages}
            entries = tuple(
                DeleteEntry(entry_id=f"d{i}", receipt_handle=m.receipt_handle)
                for i, m in enumerate(received.messages)
            )
            delete = DeleteMessages(now_ms=now, queue=name, entries=entries)
            deleted = self.replica.one(delete)
            self.model.check(delete, deleted)
            assert isinstance(deleted, BatchResult) and not deleted.failed, deleted

    def _replays_reach_the_same_state(self) -> None:
        log, digest = self.replica.payloads, self.replica.machine.digest
        expected = store_contents(self.replica.store)
        # Replay on a fresh MemoryStore
        fresh = QueueStateMachine(MemoryStore())
        for index, payload in log:
            fresh.apply(index, payload)
        assert fresh.digest == digest
        assert store_contents(fresh.store) == expected
        with tempfile.TemporaryDirectory() as scratch:
            # Replay on a RocksStore in one go
            whole = RocksStore(StoreSettings(path=Path(scratch) / "whole"))
            replayed = QueueStateMachine(whole)
            for index, payload in log:
                replayed.apply(index, payload)
            assert replayed.digest == digest
            assert store_contents(whole) == expected
            whole.close()
            # And with a restart half-way, re-applying a few entries already applied
            restarted = StoreSettings(path=Path(scratch) / "restarted")
            half = len(log) // 2
            first_run = QueueStateMachine(RocksStore(restarted))
            for index, payload in log[:half]:
                first_run.apply(index, payload)
            first_run.store.close()
            second_run = QueueStateMachine(RocksStore(restarted))
            assert second_run.applied_index == log[half - 1][0]
            for index, payload in log[max(0, half - 3) : half]:
                assert second_run.apply(index, payload) is None
            for index, payload in log[half:]:
                second_run.apply(index, payload)
            assert second_run.digest == digest
            assert store_contents(second_run.store) == expected
            second_run.store.close()


QueueReplicaMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_commands_keep_every_promise_of_the_queue_state_machine = QueueReplicaMachine.TestCase


# --- regressions the properties above found -------------------------------------------------------


def test_purge_does_not_count_a_message_whose_retention_already_ran_out() -> None:
    # Given a message whose retention runs out at the moment of the purge, and a newer one
    replica = Replica()
    replica.create("q", retention_ms=limits.RETENTION_MIN_MS)
    expired_id = replica.send("q", b"old").sent[0].message_id
    replica.advance(limits.RETENTION_MIN_MS // 2)
    replica.send("q", b"new")
    replica.advance(limits.RETENTION_MIN_MS // 2)
    # When the queue is purged, with no other command in between
    purged = replica.expect(PurgeQueue(now_ms=replica.now_ms, queue="q"), PurgeResult)
    # Then only the newer message was purged: the old one had expired, and reads so
    assert purged.purged == 1
    assert replica.status("q", expired_id).state == "expired"
    check_invariants(replica.store)

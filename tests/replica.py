"""A test harness around one state machine replica: apply commands at increasing log indexes
with a fake clock, and read results back typed. Pure and fast; no threads, no sleeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from raftq.backend.queue_state import QueueState
from raftq.backend.reads import message_status, queue_stats
from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.store import MemoryStore, Store
from raftq.backend.txn import Txn
from raftq.backend.views import stats_of
from raftq.common import codec
from raftq.common.clock import FakeClock
from raftq.common.commands import (
    AnyCommand,
    ChangeVisibility,
    CommandBatch,
    CreateQueue,
    DeleteEntry,
    DeleteMessages,
    ReceiveMessages,
    SendEntry,
    SendMessages,
    VisibilityEntry,
)
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import (
    BatchResult,
    CommandResult,
    Failure,
    MessageStatus,
    QueueStats,
    ReceiveResult,
    SendResult,
)

ResultT = TypeVar("ResultT")

START_MS = 1_700_000_000_000


class Replica:
    def __init__(
        self,
        store: Store | None = None,
        clock: FakeClock | None = None,
        due_transitions_per_entry: int | None = None,
    ) -> None:
        """`due_transitions_per_entry`: the entry budget of work_budget.py (default: the
        replicas' constant); small ones exercise partly advanced queues."""
        self.store = store if store is not None else MemoryStore()
        self.budget = due_transitions_per_entry
        self.machine = QueueStateMachine(self.store, due_transitions_per_entry)
        self.clock = clock if clock is not None else FakeClock(START_MS)
        self.payloads: list[tuple[int, bytes]] = []  # every entry applied, for replay

    @property
    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance(self, delta_ms: int) -> None:
        self.clock.advance(delta_ms)

    def apply_payload(self, payload: bytes) -> list[CommandResult]:
        index = self.machine.applied_index + 1
        self.payloads.append((index, payload))
        results = self.machine.apply(index, payload)
        assert results is not None
        return results

    def run(self, *commands: AnyCommand, spliced: bool = False) -> list[CommandResult]:
        """Apply `commands` as one entry: v1, or with `spliced` v2 as the leader writes it (each
        command encoded alone, the entry stamped with the latest of their times)."""
        if spliced:
            now_ms = max(command.now_ms for command in commands)
            encoded = [codec.encode(command) for command in commands]
            return self.apply_payload(codec.encode_entry(now_ms, encoded))
        return self.apply_payload(codec.encode_batch(CommandBatch(commands=commands)))

    def one(self, command: AnyCommand) -> CommandResult:
        return self.run(command)[0]

    def expect(self, command: AnyCommand, kind: type[ResultT]) -> ResultT:
        result = self.one(command)
        assert isinstance(result, kind), f"expected {kind.__name__}, got {result!r}"
        return result

    # --- shorthands -------------------------------------------------------------------------

    def create(self, queue: str = "q", *, fifo: bool = False, **attributes: object) -> None:
        command = CreateQueue(
            now_ms=self.now_ms,
            queue=queue,
            fifo=fifo,
            attributes=QueueAttributes.model_validate(attributes),
        )
        result = self.one(command)
        assert not isinstance(result, Failure), result

    def send(self, queue: str, *bodies: bytes, **entry_fields: object) -> SendResult:
        entries = tuple(
            SendEntry.model_validate({"entry_id": f"e{i}", "body": body, **entry_fields})
            for i, body in enumerate(bodies)
        )
        return self.expect(
            SendMessages(now_ms=self.now_ms, queue=queue, entries=entries), SendResult
        )

    def receive(self, queue: str, max_messages: int = 10, **fields: object) -> ReceiveResult:
        command = ReceiveMessages.model_validate(
            {"now_ms": self.now_ms, "queue": queue, "max_messages": max_messages, **fields}
        )
        return self.expect(command, ReceiveResult)

    def delete(self, queue: str, *handles: str) -> BatchResult:
        entries = tuple(
            DeleteEntry(entry_id=f"d{i}", receipt_handle=handle) for i, handle in enumerate(handles)
        )
        return self.expect(
            DeleteMessages(now_ms=self.now_ms, queue=queue, entries=entries), BatchResult
        )

    def change_visibility(self, queue: str, handle: str, timeout_ms: int) -> BatchResult:
        entry = VisibilityEntry(
            entry_id="v", receipt_handle=handle, visibility_timeout_ms=timeout_ms
        )
        return self.expect(
            ChangeVisibility(now_ms=self.now_ms, queue=queue, entries=(entry,)), BatchResult
        )

    def stats(self, queue: str = "q") -> QueueStats:
        return queue_stats(self.machine, queue, self.now_ms)

    def stored_stats(self, queue: str = "q") -> QueueStats:
        """Counts as the replica stores them, not advanced to the clock: where an entry's budget
        of due work ran out (work_budget.py), the lag shows here."""
        return stats_of(QueueState.load(Txn(self.store), queue, self.machine.clock_ms))

    def status(self, queue: str, message_id: str) -> MessageStatus:
        return message_status(self.machine, queue, message_id, self.now_ms)

    def bodies(self, result: ReceiveResult) -> list[bytes]:
        return [message.body for message in result.messages]


class ReplicaGroup(Replica):
    """The replicas of one backend cluster: the first is the one tests read from, and every
    entry applied to it is applied to the others at the same index, with the same results (as
    Raft would apply it everywhere). `assert_replicas_agree` compares digests and bytes."""

    def __init__(
        self,
        stores: Sequence[Store],
        clock: FakeClock | None = None,
        due_transitions_per_entry: int | None = None,
    ) -> None:
        super().__init__(stores[0], clock, due_transitions_per_entry)
        self.followers = [
            QueueStateMachine(store, due_transitions_per_entry) for store in stores[1:]
        ]

    def apply_payload(self, payload: bytes) -> list[CommandResult]:
        results = super().apply_payload(payload)
        for follower in self.followers:
            assert follower.apply(self.machine.applied_index, payload) == results
        return results

    def assert_replicas_agree(self) -> None:
        contents = list(self.store.scan(b"", b"\xff"))
        for follower in self.followers:
            assert follower.digest == self.machine.digest
            assert list(follower.store.scan(b"", b"\xff")) == contents

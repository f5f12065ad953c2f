"""The W1 workload end to end on an in-memory queue with a fake clock: what it records, how the
drain ends, and that the checker finds what a faulty queue does wrong."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.chaos.checker import check
from tests.chaos.history import Delivery, History
from tests.chaos.workload import DefiniteFailure, TotalQueueConfig, TotalQueueWorkload

MS = 1_000_000


class FakeClock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> tuple[int, float]:
        return self.ns, 1_700_000_000 + self.ns / 1e9


@dataclass
class _Stored:
    value: str
    message_id: str
    visible_at_ns: int = 0
    handle: str = ""
    receive_count: int = 0


@dataclass
class FakeQueue:
    """A queue with visibility timeouts on a fake clock. Faults, by the 1-based count of sends:
    `time_out_after_storing` (unknown outcome, applied), `refuse` (definite, not applied),
    `drop_after_ack` (acknowledged, never stored: a bug); and `resurrect_deleted` (a confirmed
    delete leaves the message visible: a bug)."""

    clock: FakeClock
    time_out_after_storing: int = 0
    refuse: int = 0
    drop_after_ack: int = 0
    resurrect_deleted: bool = False
    ignore_dedup: bool = False  # store a repeated dedup id again (a bug)
    messages: dict[str, _Stored] = field(default_factory=dict)
    dedup: dict[str, str] = field(default_factory=dict)  # dedup id -> message id
    sends: int = 0
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def _tick(self, ns: int = MS) -> None:
        self.clock.ns += ns

    async def send(
        self, queue: str, body: str, *, dedup_id: str | None = None, group: str | None = None
    ) -> str:
        await asyncio.sleep(0)
        self._tick()
        self.sends += 1
        if self.refuse and self.sends % self.refuse == 0:
            raise DefiniteFailure("400 refused")
        if dedup_id in self.dedup and not self.ignore_dedup:
            return self.dedup[dedup_id]
        message_id = f"m{next(self.ids)}"
        if dedup_id is not None:
            self.dedup[dedup_id] = message_id
        if not (self.drop_after_ack and self.sends % self.drop_after_ack == 0):
            self.messages[message_id] = _Stored(body, message_id, self.clock.ns)
        if self.time_out_after_storing and self.sends % self.time_out_after_storing == 0:
            raise TimeoutError
        return message_id

    async def receive(
        self, queue: str, *, max_messages: int, wait_s: int, visibility_timeout_s: int
    ) -> Sequence[Delivery]:
        await asyncio.sleep(0)
        self._tick()
        visible = [m for m in self.messages.values() if m.visible_at_ns <= self.clock.ns]
        if not visible:
            self._tick(wait_s * 1_000_000_000)  # the long poll ran out
            return []
        deliveries = []
        for stored in visible[:max_messages]:
            stored.visible_at_ns = self.clock.ns + visibility_timeout_s * 1_000_000_000
            stored.receive_count += 1
            stored.handle = f"{stored.message_id}/{stored.receive_count}"
            deliveries.append(
                Delivery(
                    value=stored.value,
                    message_id=stored.message_id,
                    receipt_handle=stored.handle,
                    receive_count=stored.receive_count,
                )
            )
        return deliveries

    async def delete(self, queue: str, receipt_handle: str) -> None:
        await asyncio.sleep(0)
        self._tick()
        message_id, _, _ = receipt_handle.partition("/")
        stored = self.messages.get(message_id)
        if stored is None or stored.handle != receipt_handle:
            return
        if self.resurrect_deleted:
            stored.visible_at_ns = self.clock.ns + 2_000_000_000
            stored.handle = ""
        else:
            del self.messages[message_id]


def run_workload(
    queue: FakeQueue, sends_per_producer: int = 30, *, fifo_groups: int = 0
) -> tuple[History, bool]:
    history = History()
    config = TotalQueueConfig(
        queue="q",
        producers=3,
        consumers=2,
        sends_per_producer=sends_per_producer,
        fifo_groups=fifo_groups,
        retry_unknown_s=60.0 if fifo_groups else 0.0,
    )

    async def sleep(seconds: float) -> None:
        queue.clock.ns += int(seconds * 1e9)
        await asyncio.sleep(0)

    workload = TotalQueueWorkload(queue, history, config, clock=queue.clock, sleep=sleep)

    async def scenario() -> bool:
        await workload.run(asyncio.Event())
        report = await workload.drain(max_s=60)
        return report.drained

    drained = asyncio.run(scenario())
    return history, drained


def test_a_correct_queue_with_unknown_and_refused_sends_checks_safe() -> None:
    # Given a queue where every 7th send times out after it was stored and every 11th is refused
    queue = FakeQueue(FakeClock(), time_out_after_storing=7, refuse=11)
    # When the workload runs and drains
    history, drained = run_workload(queue)
    summary = check(history, min_ops_per_s=0)
    # Then nothing is lost or invented; the unknown sends all arrived; the queue is empty
    assert drained
    assert summary.attempted == 90
    assert (summary.failed, summary.unknown, summary.recovered) == (8, 11, 11)
    assert summary.acknowledged == 90 - 8 - 11
    assert summary.delivered == 90 - 8
    assert summary.safe, summary.render()
    assert queue.messages == {}


def test_a_queue_that_drops_acknowledged_sends_is_caught_losing_them() -> None:
    # Given a queue that acknowledges every 10th send without storing it
    queue = FakeQueue(FakeClock(), drop_after_ack=10)
    # When the workload runs and drains (which cannot finish: high-water marks go unread)
    history, drained = run_workload(queue)
    summary = check(history, min_ops_per_s=0)
    # Then the checker counts each dropped send as lost
    assert not drained
    assert summary.lost == 9
    assert not summary.safe


def test_a_queue_whose_deletes_are_not_final_is_caught_redelivering() -> None:
    # Given a queue that makes a deleted message visible again 2 s later
    queue = FakeQueue(FakeClock(), resurrect_deleted=True)
    # When the workload runs and drains
    history, _ = run_workload(queue, sends_per_producer=5)
    summary = check(history, min_ops_per_s=0)
    # Then the redeliveries are violations after a confirmed delete
    assert summary.duplicates.after_confirmed_delete >= 15
    assert summary.lost == 0
    assert not summary.safe


def test_w3_retries_unknown_sends_with_their_dedup_id_until_answered() -> None:
    # Given a queue that honours dedup ids, where every 7th send times out after storing
    queue = FakeQueue(FakeClock(), time_out_after_storing=7)
    # When W3 runs with three message groups
    history, drained = run_workload(queue, fifo_groups=3)
    summary = check(history, min_ops_per_s=0)
    sends = [op for op in history.operations() if op.f == "send"]
    # Then each timed-out send was sent again with the same value, group and dedup id, was
    # answered with the first attempt's message id, and nothing is left unknown or duplicated
    retried = {op.invoke.value for op in sends if op.type == "info"}
    assert len(sends) == 90 + sum(op.type == "info" for op in sends)
    assert len(retried) >= 90 // 7
    assert all(op.invoke.dedup_id == op.invoke.value for op in sends)
    assert {op.invoke.group for op in sends} == {"g0", "g1", "g2"}
    assert (summary.acknowledged, summary.unknown, summary.delivered) == (90, 0, 90)
    assert summary.dedup_violations == 0
    assert drained
    assert summary.safe, summary.render()


def test_w3_catches_a_queue_that_stores_a_repeated_dedup_id_twice() -> None:
    # Given a queue that ignores dedup ids, where every 7th send times out after storing
    queue = FakeQueue(FakeClock(), time_out_after_storing=7, ignore_dedup=True)
    # When W3 retries those sends
    history, _ = run_workload(queue, fifo_groups=3)
    summary = check(history, min_ops_per_s=0)
    retried = {op.invoke.value for op in history.operations() if op.type == "info"}
    # Then each retried value was stored and delivered under two message ids: a dedup violation
    assert len(retried) >= 90 // 7
    assert summary.dedup_violations == len(retried)
    assert summary.lost == 0
    assert not summary.safe

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


@dataclass
class FakeDeadLetterPair:
    """A source queue whose redrive policy names `dlq` with a max receive count of 1: a receive
    from the source first moves every message received before (and visible again) to the DLQ,
    keeping its message id. `drop_every`: a forward that loses every n-th dead letter (a bug)."""

    source: FakeQueue
    dlq: FakeQueue
    drop_every: int = 0
    moved: int = 0

    @property
    def clock(self) -> FakeClock:
        return self.source.clock

    async def send(
        self, queue: str, body: str, *, dedup_id: str | None = None, group: str | None = None
    ) -> str:
        assert queue == "source"
        return await self.source.send(queue, body, dedup_id=dedup_id, group=group)

    async def receive(
        self, queue: str, *, max_messages: int, wait_s: int, visibility_timeout_s: int
    ) -> Sequence[Delivery]:
        if queue == "source":
            self._dead_letter()
        return await self._queue(queue).receive(
            queue,
            max_messages=max_messages,
            wait_s=wait_s,
            visibility_timeout_s=visibility_timeout_s,
        )

    async def delete(self, queue: str, receipt_handle: str) -> None:
        await self._queue(queue).delete(queue, receipt_handle)

    def _queue(self, name: str) -> FakeQueue:
        return {"source": self.source, "dlq": self.dlq}[name]

    def _dead_letter(self) -> None:
        now_ns = self.clock.ns
        for message_id, stored in list(self.source.messages.items()):
            if stored.receive_count >= 1 and stored.visible_at_ns <= now_ns:
                del self.source.messages[message_id]
                self.moved += 1
                if not (self.drop_every and self.moved % self.drop_every == 0):
                    self.dlq.messages[message_id] = _Stored(stored.value, message_id, now_ns)


def run_workload(
    queue: FakeQueue | FakeDeadLetterPair,
    sends_per_producer: int = 30,
    *,
    fifo_groups: int = 0,
    dead_letter_source: str | None = None,
) -> tuple[History, bool]:
    history = History()
    config = TotalQueueConfig(
        queue="dlq" if dead_letter_source else "q",
        producers=3,
        consumers=2,
        sends_per_producer=sends_per_producer,
        fifo_groups=fifo_groups,
        retry_unknown_s=60.0 if fifo_groups else 0.0,
        dead_letter_source=dead_letter_source,
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


def test_w4_every_acknowledged_send_arrives_in_the_dead_letter_queue() -> None:
    # Given a source queue that dead-letters at the second receive, where every 7th send times
    # out after storing
    clock = FakeClock()
    pair = FakeDeadLetterPair(FakeQueue(clock, time_out_after_storing=7), FakeQueue(clock))
    # When WD runs: poison consumers on the source, consumers on the DLQ, then the drain
    history, drained = run_workload(pair, dead_letter_source="source")
    summary = check(history, min_ops_per_s=0)
    # Then the history holds sends to the source and receives and deletes from the DLQ only,
    # every acknowledged value arrived under its send's message id, and both queues are empty
    assert drained
    assert pair.moved == 90
    assert (summary.acknowledged, summary.unknown, summary.recovered) == (90 - 12, 12, 12)
    assert summary.delivered == 90
    assert summary.safe, summary.render()
    assert pair.source.messages == {} and pair.dlq.messages == {}


def test_w4_catches_a_forward_that_loses_dead_letters() -> None:
    # Given a forward that loses every 10th dead letter
    clock = FakeClock()
    pair = FakeDeadLetterPair(FakeQueue(clock), FakeQueue(clock), drop_every=10)
    # When WD runs and drains (which cannot finish: acknowledged values never arrive)
    history, drained = run_workload(pair, dead_letter_source="source")
    summary = check(history, min_ops_per_s=0)
    # Then each lost one is counted lost
    assert not drained
    assert summary.lost == 9
    assert not summary.safe

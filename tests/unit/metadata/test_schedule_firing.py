"""The metadata leader's firing of schedules (schedule_firing.py), with an in-memory catalogue,
a backend that dedups as a queue does, and fake clocks: what it sends, what it records, and what
it does after a gap or a failure."""

from __future__ import annotations

from typing import Any

from raftq.common.commands import AnyCommand, SendMessages
from raftq.common.errors import BackendUnavailable
from raftq.common.metadata_commands import AnyMetadataCommand, RecordTick
from raftq.common.metadata_models import Placement, Queue
from raftq.common.metadata_results import ScheduleResult
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import CommandResult, SendResult, SentMessage
from raftq.common.schedule_models import Schedule
from raftq.metadata.schedule_firing import ScheduleFirer

QUEUE = Queue(
    queue_id="q-1",
    name="jobs",
    owner="alice",
    fifo=False,
    attributes=QueueAttributes(),
    placement=Placement(cluster_id="c1", epoch=1),
    lifecycle="active",
    created_at_ms=0,
)


class World:
    def __init__(self, next_tick_ms: int) -> None:
        self.now_ms = next_tick_ms
        self.schedule = Schedule(
            schedule_id="abcdef0123456789",
            name="tick",
            queue="jobs",
            task_type="demo.tick",
            body=b"sealed",
            every_ms=1_000,
            queue_id="q-1",
            owner="alice",
            created_at_ms=0,
            next_tick_ms=next_tick_ms,
        )
        self.stored: dict[str, str] = {}  # dedup id -> message id
        self.sends: list[SendMessages] = []
        self.down = False
        self.firer = ScheduleFirer(
            leading=lambda: True,
            catalogue=lambda: ([self.schedule], {"jobs": QUEUE}),
            backends=self,
            propose=self.propose,
            now_ms=lambda: self.now_ms,
            monotonic_ms=lambda: self.now_ms,
        )

    async def run(self, cluster_id: str, command: AnyCommand) -> CommandResult:
        if self.down:
            raise BackendUnavailable("cluster c1 did not answer")
        assert isinstance(command, SendMessages) and cluster_id == "c1"
        self.sends.append(command)
        entry = command.entries[0]
        assert entry.dedup_id is not None
        duplicate = entry.dedup_id in self.stored
        message_id = self.stored.setdefault(entry.dedup_id, f"m{len(self.stored)}")
        sent = SentMessage(
            entry_id="tick", message_id=message_id, sequence_number=0, duplicate=duplicate
        )
        return SendResult(sent=(sent,), failed=())

    async def propose(self, command: AnyMetadataCommand) -> Any:
        assert isinstance(command, RecordTick)
        self.schedule = self.schedule.model_copy(
            update={
                "last_fired_tick_ms": command.tick_ms,
                "next_tick_ms": command.next_tick_ms,
                "ticks_fired": self.schedule.ticks_fired + 1,
            }
        )
        return ScheduleResult(schedule=self.schedule)


async def test_a_due_tick_is_sent_with_its_dedup_id_and_task_then_recorded() -> None:
    world = World(next_tick_ms=10_000)
    assert await world.firer.fire_once() == 1
    entry = world.sends[0].entries[0]
    assert entry.dedup_id == "s-abcdef0123456789-10000"
    assert entry.body == b"sealed" and entry.task is not None and entry.task.type == "demo.tick"
    assert world.schedule.last_fired_tick_ms == 10_000 and world.schedule.next_tick_ms == 11_000
    # Not due again until the next tick
    world.now_ms = 10_999
    assert await world.firer.fire_once() == 0


async def test_after_a_gap_only_the_latest_tick_fires() -> None:
    world = World(next_tick_ms=10_000)
    world.now_ms = 60_500  # fifty ticks behind
    assert await world.firer.fire_once() == 1
    assert [s.entries[0].dedup_id for s in world.sends] == ["s-abcdef0123456789-60000"]
    assert world.schedule.next_tick_ms == 61_000 and world.schedule.ticks_fired == 1


async def test_a_tick_sent_but_not_recorded_is_sent_again_and_stored_once() -> None:
    # Given a leader that sent tick 10 000 and died before recording it
    world = World(next_tick_ms=10_000)
    world.stored["s-abcdef0123456789-10000"] = "m-first"
    # When the next leader fires
    assert await world.firer.fire_once() == 1
    # Then the queue answers with the first send's message: one message for the tick
    assert len(world.stored) == 1 and world.schedule.last_fired_tick_ms == 10_000


async def test_a_failed_send_records_nothing_and_is_retried_after_a_pause() -> None:
    world = World(next_tick_ms=10_000)
    world.down = True
    assert await world.firer.fire_once() == 0
    assert world.schedule.ticks_fired == 0 and world.schedule.next_tick_ms == 10_000
    world.down = False
    assert await world.firer.fire_once() == 0  # pausing before the retry
    world.now_ms += 10_000
    assert await world.firer.fire_once() == 1
    assert world.schedule.last_fired_tick_ms == 20_000


async def test_a_paused_schedule_does_not_fire() -> None:
    world = World(next_tick_ms=10_000)
    world.schedule = world.schedule.model_copy(update={"paused": True})
    assert await world.firer.fire_once() == 0
    assert world.sends == []

"""Schedules (periodic tasks) as the metadata group keeps them (issue 18).

A schedule submits one task to its queue at each tick of its cron expression or interval
(raftq/metadata/cron.py). Its task's body is sealed by the frontend that created it, with the
queue's data key, so the metadata group stores and sends ciphertext only and never needs a key.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field, model_validator

from raftq.common.tasks_wire import Attempts, TaskTimeoutMs, TaskType
from raftq.common.wire import Priority, TimestampMs, WireModel

# The whole catalogue lives in every metadata member's memory and in each snapshot, so a
# schedule's sealed body is kept small (a task's arguments, not its data) and their number
# bounded: at most 1 000 x 16 KiB = 16 MiB of bodies.
SCHEDULE_BODY_MAX_BYTES: Final = 16 * 1_024
SCHEDULES_MAX: Final = 1_000
CRON_MAX_CHARS: Final = 200
EVERY_MAX_MS: Final = 366 * 24 * 3_600_000

# Same characters as a queue name (a schedule's name stands in the REST path as a queue's does).
ScheduleName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")]
# Ids are drawn by the frontend; a tick's dedup id `s-{schedule_id}-{tick_ms}` stays well
# within a dedup id's 128 characters.
ScheduleId = Annotated[str, Field(min_length=8, max_length=32, pattern=r"^[a-z0-9]+$")]
CronText = Annotated[str, Field(min_length=1, max_length=CRON_MAX_CHARS, pattern=r"^[ -~]+$")]
EveryMs = Annotated[int, Field(ge=1_000, le=EVERY_MAX_MS)]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$")]
SealedBody = Annotated[bytes, Field(min_length=1, max_length=SCHEDULE_BODY_MAX_BYTES)]


def tick_dedup_id(schedule_id: str, tick_ms: int) -> str:
    """The dedup id of a tick's task: the same for every leader that fires that tick, so the
    queue stores it once (within its dedup window)."""
    return f"s-{schedule_id}-{tick_ms}"


class ScheduleDefinition(WireModel):
    """What a schedule submits, and when: exactly one of `cron` (in `tz`) and `every_ms`."""

    schedule_id: ScheduleId
    name: ScheduleName
    queue: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")]
    task_type: TaskType
    body: SealedBody
    priority: Priority = 0
    max_attempts: Attempts = 3
    timeout_ms: TaskTimeoutMs = 300_000
    cron: CronText | None = None
    every_ms: EveryMs | None = None
    tz: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleDefinition:
        if (self.cron is None) == (self.every_ms is None):
            raise ValueError("a schedule has exactly one of cron and every_ms")
        return self


class Schedule(ScheduleDefinition):
    queue_id: str  # the queue it was created on: a queue made again under its name is another
    owner: str
    created_at_ms: TimestampMs
    paused: bool = False
    next_tick_ms: TimestampMs  # the first tick not yet fired (the leader computed it)
    last_fired_tick_ms: TimestampMs | None = None
    ticks_fired: Annotated[int, Field(ge=0)] = 0

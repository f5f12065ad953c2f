"""The REST API's schedule bodies (periodic tasks, issue 18): what `POST /v1/schedules` takes and
what the schedule routes answer. Like rest_models.py, they also make `/openapi.json`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, JsonValue, model_validator

from raftq.common.schedule_models import CRON_MAX_CHARS, EVERY_MAX_MS, Schedule
from raftq.common.tasks_wire import (
    ATTEMPTS_DEFAULT,
    ATTEMPTS_MAX,
    TASK_TIMEOUT_DEFAULT_MS,
    TASK_TIMEOUT_MAX_MS,
    TaskType,
)
from raftq.frontend.rest_models import RestModel

ScheduleName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")]


class CreateScheduleBody(RestModel):
    """A task submitted at each tick: exactly one of `cron` (5 fields, in `tz`) and `every_s`."""

    name: ScheduleName
    queue: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")]
    type: TaskType
    payload: JsonValue = None
    cron: Annotated[str, Field(min_length=1, max_length=CRON_MAX_CHARS)] | None = Field(
        default=None, description="`minute hour day-of-month month day-of-week`, or `@daily`..."
    )
    every_s: Annotated[int, Field(ge=1, le=EVERY_MAX_MS // 1000)] | None = Field(
        default=None, description="ticks at multiples of this many seconds since the epoch"
    )
    tz: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        default="UTC", description="IANA time zone of the cron's wall-clock times"
    )
    priority: Annotated[int, Field(ge=0, le=9)] = 0
    max_attempts: Annotated[int, Field(ge=1, le=ATTEMPTS_MAX)] = ATTEMPTS_DEFAULT
    timeout_s: Annotated[float, Field(ge=1, le=TASK_TIMEOUT_MAX_MS / 1000)] = (
        TASK_TIMEOUT_DEFAULT_MS / 1000
    )

    @model_validator(mode="after")
    def _one_timing(self) -> CreateScheduleBody:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError("give exactly one of cron and every_s")
        return self


class ScheduleView(RestModel):
    schedule_id: str
    name: str
    queue: str
    type: str
    cron: str | None
    every_s: int | None
    tz: str
    priority: int
    max_attempts: int
    timeout_s: float
    paused: bool
    next_tick_ms: int = Field(description="the next tick to fire (ms since the epoch)")
    last_fired_tick_ms: int | None
    ticks_fired: int
    owner: str
    created_at_ms: int

    @classmethod
    def of(cls, record: dict[str, Any]) -> ScheduleView:
        """From a schedule as the catalogue lists it (JSON, without its sealed body)."""
        every_ms = record["every_ms"]
        return cls(
            schedule_id=record["schedule_id"],
            name=record["name"],
            queue=record["queue"],
            type=record["task_type"],
            cron=record["cron"],
            every_s=None if every_ms is None else every_ms // 1000,
            tz=record["tz"],
            priority=record["priority"],
            max_attempts=record["max_attempts"],
            timeout_s=record["timeout_ms"] / 1000,
            paused=record["paused"],
            next_tick_ms=record["next_tick_ms"],
            last_fired_tick_ms=record["last_fired_tick_ms"],
            ticks_fired=record["ticks_fired"],
            owner=record["owner"],
            created_at_ms=record["created_at_ms"],
        )

    @classmethod
    def of_schedule(cls, schedule: Schedule) -> ScheduleView:
        return cls.of(schedule.model_dump(mode="json", exclude={"body"}))


class ScheduleList(RestModel):
    schedules: list[ScheduleView]

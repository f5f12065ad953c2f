"""What the schedule commands do to the state. Same rule as handlers.py: every handler checks
everything before its first change. No cron is evaluated and no clock read here: the metadata
leader computes each next tick and carries it in the command (schedule_ticks.py).

A schedule is kept by name; it belongs to the queue (by id) it was created on, and goes when
that queue is forgotten (handlers.forget_queue).
"""

from __future__ import annotations

from raftq.common.errors import ConflictingState, InvalidParameter, ScheduleNotFound
from raftq.common.metadata_commands import (
    AddSchedule,
    PauseSchedule,
    RecordTick,
    RemoveSchedule,
    ResumeSchedule,
)
from raftq.common.metadata_results import ScheduleResult
from raftq.common.results import Done
from raftq.common.schedule_models import SCHEDULES_MAX, Schedule
from raftq.metadata.handlers import live_queue
from raftq.metadata.state import MetadataState


def _schedule(state: MetadataState, name: str, queue: str) -> Schedule:
    schedule = state.schedules.get(name)
    if schedule is None or schedule.queue != queue:
        raise ScheduleNotFound(f"no schedule {name!r} on queue {queue!r}", field="name")
    return schedule


def add_schedule(state: MetadataState, c: AddSchedule) -> ScheduleResult:
    wanted = c.schedule
    existing = state.schedules.get(wanted.name)
    if existing is not None:
        if existing.schedule_id == wanted.schedule_id:
            return ScheduleResult(schedule=existing)  # the same creation, repeated
        raise ConflictingState(f"a schedule named {wanted.name!r} exists", field="name")
    queue = live_queue(state, wanted.queue, field="queue")
    if queue.fifo:
        raise InvalidParameter("tasks go to standard queues, not FIFO ones", field="queue")
    if any(s.schedule_id == wanted.schedule_id for s in state.schedules.values()):
        raise ConflictingState(f"schedule id {wanted.schedule_id!r} is taken", field="schedule_id")
    if len(state.schedules) >= SCHEDULES_MAX:
        raise InvalidParameter(f"there are {SCHEDULES_MAX} schedules already", field="name")
    if c.next_tick_ms <= c.now_ms:
        raise InvalidParameter("the first tick must be in the future", field="next_tick_ms")
    schedule = Schedule(
        **wanted.model_dump(),
        queue_id=queue.queue_id,
        owner=c.actor,
        created_at_ms=c.now_ms,
        next_tick_ms=c.next_tick_ms,
    )
    state.schedules[schedule.name] = schedule
    return ScheduleResult(schedule=schedule)


def pause_schedule(state: MetadataState, c: PauseSchedule) -> ScheduleResult:
    schedule = _schedule(state, c.name, c.queue)
    if not schedule.paused:
        schedule = schedule.model_copy(update={"paused": True})
        state.schedules[c.name] = schedule
    return ScheduleResult(schedule=schedule)


def resume_schedule(state: MetadataState, c: ResumeSchedule) -> ScheduleResult:
    schedule = _schedule(state, c.name, c.queue)
    if not schedule.paused:
        return ScheduleResult(schedule=schedule)  # its next tick stands
    if c.next_tick_ms <= c.now_ms:
        raise InvalidParameter("the next tick must be in the future", field="next_tick_ms")
    schedule = schedule.model_copy(update={"paused": False, "next_tick_ms": c.next_tick_ms})
    state.schedules[c.name] = schedule
    return ScheduleResult(schedule=schedule)


def remove_schedule(state: MetadataState, c: RemoveSchedule) -> Done:
    _schedule(state, c.name, c.queue)
    del state.schedules[c.name]
    return Done()


def record_tick(state: MetadataState, c: RecordTick) -> ScheduleResult:
    """A tick at or before the last one recorded changes nothing: two leaders (an old one that
    had not heard of the new) may both record, in either order."""
    found = [s for s in state.schedules.values() if s.schedule_id == c.schedule_id]
    if not found:
        raise ScheduleNotFound(f"no schedule {c.schedule_id!r}", field="schedule_id")
    schedule = found[0]
    if schedule.last_fired_tick_ms is not None and c.tick_ms <= schedule.last_fired_tick_ms:
        return ScheduleResult(schedule=schedule)
    schedule = schedule.model_copy(
        update={
            "last_fired_tick_ms": c.tick_ms,
            "next_tick_ms": c.next_tick_ms,
            "ticks_fired": schedule.ticks_fired + 1,
        }
    )
    state.schedules[schedule.name] = schedule
    return ScheduleResult(schedule=schedule)

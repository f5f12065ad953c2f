"""The metadata leader's part of a schedule command: it evaluates the cron, so apply never does.

`stamp` runs on the leader just before it proposes a command, with the time it stamps: an
`AddSchedule` gets its first tick (the first after now), a `ResumeSchedule` the first tick after
now (the ticks of the paused time are not fired), both checked against the schedule's timing
(a cron that never fires, an unknown time zone: `InvalidParameter` naming the field, before
anything is proposed). Other commands pass as they are.
"""

from __future__ import annotations

from raftq.common.errors import InvalidParameter
from raftq.common.metadata_commands import AddSchedule, AnyMetadataCommand, ResumeSchedule
from raftq.common.schedule_models import ScheduleDefinition
from raftq.metadata import cron
from raftq.metadata.state import MetadataState


def timing_of(schedule: ScheduleDefinition) -> cron.TickSpec:
    """When `schedule` ticks; `InvalidParameter` naming `cron`, `every_s` or `tz` when never."""
    if schedule.every_ms is not None:
        if schedule.every_ms % 1000:
            raise InvalidParameter("an interval is a whole number of seconds", field="every_s")
        cron.zone(schedule.tz)
        return cron.interval(schedule.every_ms // 1000)
    assert schedule.cron is not None  # exactly one of them (ScheduleDefinition)
    return cron.parse_cron(schedule.cron, schedule.tz)


def stamp(command: AnyMetadataCommand, now_ms: int, state: MetadataState) -> AnyMetadataCommand:
    if isinstance(command, AddSchedule):
        first_ms = cron.next_tick_ms(timing_of(command.schedule), now_ms)
        return command.model_copy(update={"next_tick_ms": first_ms})
    if isinstance(command, ResumeSchedule):
        found = state.schedules.get(command.name)
        if found is None:  # apply says it (ScheduleNotFound), in the log's order
            return command.model_copy(update={"next_tick_ms": now_ms + 1})
        next_ms = cron.next_tick_ms(timing_of(found), now_ms)
        return command.model_copy(update={"next_tick_ms": next_ms})
    return command

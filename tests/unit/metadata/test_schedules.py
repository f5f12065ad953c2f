"""Schedules in the metadata state machine (pure): add, pause, resume, remove, record ticks."""

from __future__ import annotations

from typing import Any

import pytest

from raftq.common.errors import InvalidParameter
from raftq.common.metadata_commands import (
    ActivateQueue,
    AddSchedule,
    BeginDeleteQueue,
    ForgetQueue,
    PauseSchedule,
    RecordTick,
    RemoveSchedule,
    ResumeSchedule,
)
from raftq.common.metadata_results import ScheduleResult
from raftq.common.results import Done, Failure
from raftq.common.schedule_models import ScheduleDefinition, tick_dedup_id
from raftq.metadata import schedules
from raftq.metadata.state import MetadataState
from tests.unit.metadata.test_metadata_state_machine import Metadata


@pytest.fixture
def metadata() -> Metadata:
    """Queues `reports` (standard) and `orders.fifo`, active."""
    m = Metadata()
    m.register()
    for i, name in enumerate(("reports", "orders.fifo")):
        m.create(name, f"q-{i}")
        m.run(ActivateQueue(now_ms=m.now_ms, actor="alice", name=name, queue_id=f"q-{i}"))
    return m


def _definition(**changes: Any) -> ScheduleDefinition:
    fields: dict[str, Any] = {
        "schedule_id": "abcdef0123456789",
        "name": "nightly",
        "queue": "reports",
        "task_type": "reports.build",
        "body": b"sealed-envelope",
        "every_ms": 60_000,
    }
    return ScheduleDefinition(**{**fields, **changes})


def _add(m: Metadata, **changes: Any) -> Any:
    return m.run(
        AddSchedule(
            now_ms=m.now_ms,
            actor="alice",
            schedule=_definition(**changes),
            next_tick_ms=m.now_ms + 60_000,
        )
    )


def _refused_without_change(m: Metadata, command: Any, code: str, field: str) -> None:
    before = m.machine.state.to_bytes()
    result = m.run(command)
    assert isinstance(result, Failure), result
    assert (result.code, result.field) == (code, field)
    assert m.machine.state.to_bytes() == before


def test_a_schedule_is_added_with_the_leaders_first_tick(metadata: Metadata) -> None:
    added = _add(metadata)
    assert isinstance(added, ScheduleResult)
    schedule = added.schedule
    assert (schedule.queue_id, schedule.owner, schedule.paused) == ("q-0", "alice", False)
    assert schedule.next_tick_ms == metadata.now_ms + 60_000
    assert schedule.last_fired_tick_ms is None and schedule.ticks_fired == 0
    assert metadata.machine.state.schedules["nightly"] == schedule


def test_a_repeated_creation_is_answered_with_the_stored_schedule(metadata: Metadata) -> None:
    first = _add(metadata)
    metadata.now_ms += 5_000
    again = _add(metadata)
    assert isinstance(again, ScheduleResult) and again.schedule == first.schedule


def test_bad_additions_are_refused_naming_the_field_and_change_nothing(metadata: Metadata) -> None:
    _add(metadata)
    now = metadata.now_ms

    def add(next_tick_ms: int = now + 1_000, **changes: Any) -> AddSchedule:
        return AddSchedule(
            now_ms=now,
            actor="alice",
            schedule=_definition(**changes),
            next_tick_ms=next_tick_ms,
        )

    _refused_without_change(metadata, add(schedule_id="other0000"), "ConflictingState", "name")
    _refused_without_change(
        metadata, add(name="other"), "ConflictingState", "schedule_id"
    )  # same id, other name
    _refused_without_change(
        metadata,
        add(name="x", schedule_id="x0000000", queue="nowhere"),
        "QueueDoesNotExist",
        "queue",
    )
    _refused_without_change(
        metadata,
        add(now, name="past", schedule_id="p0000000"),
        "InvalidParameterValue",
        "next_tick_ms",
    )


def test_a_schedule_on_a_fifo_queue_is_refused(metadata: Metadata) -> None:
    # The wire model only takes standard queue names, so this is the apply's own guard.
    command = AddSchedule.model_construct(
        now_ms=metadata.now_ms,
        actor="alice",
        schedule=_definition().model_copy(update={"queue": "orders.fifo"}),
        next_tick_ms=metadata.now_ms + 1_000,
    )
    with pytest.raises(InvalidParameter) as refused:
        schedules.add_schedule(metadata.machine.state, command)
    assert refused.value.field == "queue"
    assert "nightly" not in metadata.machine.state.schedules


def test_a_tick_is_recorded_once_and_an_older_record_changes_nothing(metadata: Metadata) -> None:
    schedule = _add(metadata).schedule
    tick = schedule.next_tick_ms
    record = RecordTick(
        now_ms=metadata.now_ms,
        actor="leader",
        schedule_id=schedule.schedule_id,
        tick_ms=tick,
        next_tick_ms=tick + 60_000,
    )
    recorded = metadata.run(record)
    assert isinstance(recorded, ScheduleResult)
    assert recorded.schedule.last_fired_tick_ms == tick
    assert recorded.schedule.next_tick_ms == tick + 60_000
    assert recorded.schedule.ticks_fired == 1
    # The same tick again (a new leader repeating it), or an older one: no change.
    before = metadata.machine.state.to_bytes()
    repeated = metadata.run(record)
    assert isinstance(repeated, ScheduleResult) and repeated.schedule.ticks_fired == 1
    older = metadata.run(record.model_copy(update={"tick_ms": tick - 60_000, "next_tick_ms": tick}))
    assert isinstance(older, ScheduleResult) and older.schedule.next_tick_ms == tick + 60_000
    assert metadata.machine.state.to_bytes() == before


def test_a_tick_of_an_unknown_schedule_is_refused(metadata: Metadata) -> None:
    record = RecordTick(
        now_ms=metadata.now_ms, actor="l", schedule_id="nobody00", tick_ms=1, next_tick_ms=2
    )
    _refused_without_change(metadata, record, "ScheduleNotFound", "schedule_id")


def test_record_tick_needs_a_later_next_tick() -> None:
    with pytest.raises(ValueError, match="next tick"):
        RecordTick(now_ms=0, actor="l", schedule_id="abcdefgh", tick_ms=5, next_tick_ms=5)


def test_pause_then_resume_takes_the_leaders_next_tick(metadata: Metadata) -> None:
    _add(metadata)
    paused = metadata.run(
        PauseSchedule(now_ms=metadata.now_ms, actor="a", name="nightly", queue="reports")
    )
    assert isinstance(paused, ScheduleResult) and paused.schedule.paused
    metadata.now_ms += 3_600_000
    resumed = metadata.run(
        ResumeSchedule(
            now_ms=metadata.now_ms,
            actor="a",
            name="nightly",
            queue="reports",
            next_tick_ms=metadata.now_ms + 30_000,
        )
    )
    assert isinstance(resumed, ScheduleResult) and not resumed.schedule.paused
    assert resumed.schedule.next_tick_ms == metadata.now_ms + 30_000
    # Resuming a running schedule keeps its next tick.
    again = metadata.run(
        ResumeSchedule(
            now_ms=metadata.now_ms,
            actor="a",
            name="nightly",
            queue="reports",
            next_tick_ms=metadata.now_ms + 99_000,
        )
    )
    assert isinstance(again, ScheduleResult)
    assert again.schedule.next_tick_ms == metadata.now_ms + 30_000


def test_commands_on_a_schedule_name_the_queue_it_belongs_to(metadata: Metadata) -> None:
    _add(metadata)
    for command in (
        PauseSchedule(now_ms=metadata.now_ms, actor="a", name="nightly", queue="orders"),
        RemoveSchedule(now_ms=metadata.now_ms, actor="a", name="nightly", queue="orders"),
        RemoveSchedule(now_ms=metadata.now_ms, actor="a", name="other", queue="reports"),
    ):
        _refused_without_change(metadata, command, "ScheduleNotFound", "name")


def test_a_removed_schedule_is_gone(metadata: Metadata) -> None:
    _add(metadata)
    removed = metadata.run(
        RemoveSchedule(now_ms=metadata.now_ms, actor="a", name="nightly", queue="reports")
    )
    assert isinstance(removed, Done)
    assert metadata.machine.state.schedules == {}


def test_a_forgotten_queue_takes_its_schedules_with_it(metadata: Metadata) -> None:
    _add(metadata)
    metadata.run(BeginDeleteQueue(now_ms=metadata.now_ms, actor="a", name="reports"))
    metadata.run(ForgetQueue(now_ms=metadata.now_ms, actor="a", name="reports", queue_id="q-0"))
    assert metadata.machine.state.schedules == {}


def test_schedules_survive_a_snapshot_and_an_older_snapshot_reads_without_them(
    metadata: Metadata,
) -> None:
    schedule = _add(metadata).schedule
    restored = MetadataState.from_bytes(metadata.machine.state.to_bytes())
    assert restored.schedules == {"nightly": schedule}
    assert restored.to_bytes() == metadata.machine.state.to_bytes()


def test_the_dedup_id_of_a_tick_is_the_same_for_every_leader() -> None:
    assert (
        tick_dedup_id("abcdef0123456789", 1_700_000_060_000) == "s-abcdef0123456789-1700000060000"
    )

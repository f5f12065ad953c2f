"""The tasks page: per queue, tasks by state, recent failures with their errors, scheduled
tasks (each with a cancel button); and the schedules of every queue the key may see.

Counts are read through the task listing (one page per state, `COUNT_PAGE` tasks): a count
of a full page shows as "100+", never as a guess past what was read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from raftq.common.errors import RaftqError
from raftq.common.metadata_api import KeyCredentials
from raftq.common.tasks_wire import TaskState
from raftq.frontend import task_models as t
from raftq.frontend.dashboard.markup import (
    ROOT,
    Markup,
    e,
    form,
    join,
    link,
    live,
    table,
    tag,
    when,
)
from raftq.frontend.rest_schedule_models import ScheduleView
from raftq.frontend.service import Frontend
from raftq.frontend.tasks import TaskService

COUNT_PAGE: Final = 100
SHOWN: Final = 20
_FAILURE_STATES: Final = (TaskState.DEAD, TaskState.FAILED)


@dataclass(frozen=True, slots=True)
class TaskSummary:
    queue: str
    counts: dict[str, str]
    failures: tuple[t.TaskView, ...]
    scheduled: tuple[t.TaskView, ...]
    problem: str | None = None


async def task_summary(f: Frontend, caller: KeyCredentials, queue: str) -> TaskSummary:
    service = TaskService(f)

    async def page(state: TaskState) -> t.TaskList:
        query = t.TaskListQuery.model_validate({"state": state.value, "limit": COUNT_PAGE})
        return await service.listing(caller, queue, query)

    try:
        pages = dict(
            zip(TaskState, await asyncio.gather(*(page(s) for s in TaskState)), strict=True)
        )
    except RaftqError as error:
        return TaskSummary(queue, {}, (), (), problem=error.message)
    counts = {
        state.value: f"{len(p.tasks)}{'+' if p.next_cursor is not None else ''}"
        for state, p in pages.items()
    }
    failures = sorted(
        (task for state in _FAILURE_STATES for task in pages[state].tasks),
        key=lambda task: task.finished_at_ms or 0,
        reverse=True,
    )
    return TaskSummary(
        queue,
        counts,
        tuple(failures[:SHOWN]),
        tuple(pages[TaskState.SCHEDULED].tasks[:SHOWN]),
    )


def schedules_of(records: list[dict[str, Any]], caller: KeyCredentials) -> list[ScheduleView]:
    """The schedules of queues the key may see (send, receive or admin), as the REST API."""
    visible = [
        r
        for r in records
        if any(g.covers(r["queue"], a) for g in caller.grants for a in ("send", "receive", "admin"))
    ]
    return [ScheduleView.of(r) for r in sorted(visible, key=lambda r: str(r["name"]))]


def task_url(queue: str, task_id: str = "", action: str = "") -> str:
    base = f"{ROOT}/tasks/{quote(queue, safe='')}"
    return f"{base}/{quote(task_id, safe='')}{action}" if task_id else base


def _error(task: t.TaskView) -> Markup:
    if task.last_error is None:
        return Markup("—")
    return join([tag("strong", task.last_error.type), ": ", task.last_error.message])


def _retry(summary: TaskSummary, task: t.TaskView, csrf_token: str) -> Markup:
    if task.state != "dead":
        return Markup("")
    action = task_url(summary.queue, task.task_id, "/retry")
    return form(action, csrf_token, "", button="Retry")


def summary_live(summary: TaskSummary, csrf_token: str) -> Markup:
    if summary.problem is not None:
        return tag("p", summary.problem, class_="error")
    counts = table(
        [state.value for state in TaskState],
        [[summary.counts.get(state.value, "—") for state in TaskState]],
        id_="task-counts",
    )
    failures = (
        table(
            ["task", "type", "state", "attempts", "finished", "error", ""],
            (
                [
                    task.task_id,
                    task.type,
                    task.state,
                    f"{task.attempt}/{task.max_attempts}",
                    when(task.finished_at_ms),
                    _error(task),
                    _retry(summary, task, csrf_token),
                ]
                for task in summary.failures
            ),
            id_="task-failures",
        )
        if summary.failures
        else tag("p", "No failed or dead task.")
    )
    return join([tag("h2", "By state"), counts, tag("h2", "Recent failures"), failures])


def scheduled_section(summary: TaskSummary, csrf_token: str) -> Markup:
    if not summary.scheduled:
        return join([tag("h2", "Scheduled"), tag("p", "No scheduled task.")])
    rows = (
        [
            task.task_id,
            task.type,
            when(task.run_at_ms),
            form(
                task_url(summary.queue, task.task_id, "/cancel"),
                csrf_token,
                "",
                button="Cancel",
            ),
        ]
        for task in summary.scheduled
    )
    return join(
        [tag("h2", "Scheduled"), table(["task", "type", "runs at", ""], rows, id_="scheduled")]
    )


def schedules_table(schedules: list[ScheduleView]) -> Markup:
    if not schedules:
        return tag("p", "No schedule.")
    return table(
        ["schedule", "queue", "task type", "every / cron", "next tick", "fired", "state"],
        (
            [
                s.name,
                s.queue,
                s.type,
                f"every {s.every_s} s" if s.every_s is not None else f"{s.cron} ({s.tz})",
                when(s.next_tick_ms),
                s.ticks_fired,
                "paused" if s.paused else "active",
            ]
            for s in schedules
        ),
        id_="schedules",
    )


def tasks_index_body(queues: list[str], schedules: list[ScheduleView]) -> Markup:
    listing = (
        tag("ul", join(tag("li", link(task_url(q), q)) for q in queues))
        if queues
        else tag("p", "This key sees no queue.")
    )
    return join(
        [
            tag("h2", "Queues"),
            listing,
            live(
                f"{ROOT}/tasks?part=live",
                join([tag("h2", "Schedules"), schedules_table(schedules)]),
            ),
        ]
    )


def tasks_queue_body(summary: TaskSummary, csrf_token: str) -> Markup:
    return join(
        [
            live(task_url(summary.queue) + "?part=live", summary_live(summary, csrf_token)),
            scheduled_section(summary, csrf_token),
            tag("p", link(f"{ROOT}/tasks", "All queues and schedules"), class_=e("back")),
        ]
    )

"""What the message move task commands do to the state (SQS StartMessageMoveTask,
ListMessageMoveTasks, CancelMessageMoveTask). Same rule as handlers.py: every handler checks
everything before its first change.

A task's life: StartMessageMoveTask makes it RUNNING; its mover reports progress and ends it
COMPLETED or FAILED; CancelMessageMoveTask makes a RUNNING task CANCELLING, and the mover ends it
CANCELLED (or COMPLETED / FAILED, if that came first). One task at a time runs per source queue.
The catalogue keeps the `MOVE_TASKS_FINISHED_KEPT` latest finished tasks of each source queue
(what ListMessageMoveTasks shows) and forgets older ones; forgetting a queue forgets its tasks.
"""

from __future__ import annotations

from raftq.common import limits
from raftq.common.errors import ConflictingState, InvalidParameter, MoveTaskNotFound
from raftq.common.metadata_commands import (
    CancelMessageMoveTask,
    ReportMessageMoveTask,
    StartMessageMoveTask,
)
from raftq.common.metadata_models import MessageMoveTask, MoveTaskStatus
from raftq.common.metadata_results import MoveTaskResult
from raftq.metadata.handlers import live_queue
from raftq.metadata.state import MetadataState


def _task(state: MetadataState, task_handle: str) -> MessageMoveTask:
    task = state.move_tasks.get(task_handle)
    if task is None:
        raise MoveTaskNotFound(f"no message move task {task_handle!r}", field="task_handle")
    return task


def start_message_move_task(state: MetadataState, c: StartMessageMoveTask) -> MoveTaskResult:
    if c.destination_queue == c.source_queue:
        raise InvalidParameter(
            "the destination must be another queue than the source", field="destination_queue"
        )
    live_queue(state, c.source_queue, field="source_queue")
    if c.destination_queue is not None:
        live_queue(state, c.destination_queue, field="destination_queue")
    if c.task_handle in state.move_tasks:
        raise InvalidParameter(f"task handle {c.task_handle!r} is taken", field="task_handle")
    if any(t.source_queue == c.source_queue and not t.finished for t in state.move_tasks.values()):
        raise ConflictingState(
            f"queue {c.source_queue!r} has a message move task in progress", field="source_queue"
        )
    task = MessageMoveTask(
        task_handle=c.task_handle,
        source_queue=c.source_queue,
        destination_queue=c.destination_queue,
        max_per_second=c.max_per_second,
        status="RUNNING",
        moved=0,
        to_move=c.to_move,
        started_at_ms=c.now_ms,
        updated_at_ms=c.now_ms,
        actor=c.actor,
    )
    state.move_tasks[c.task_handle] = task
    return MoveTaskResult(task=task)


def report_message_move_task(state: MetadataState, c: ReportMessageMoveTask) -> MoveTaskResult:
    task = _task(state, c.task_handle)
    if task.finished:
        raise ConflictingState(
            f"message move task {c.task_handle!r} is {task.status}", field="task_handle"
        )
    status: MoveTaskStatus = c.status
    if task.status == "CANCELLING" and status == "RUNNING":
        status = "CANCELLING"  # progress while it stops: the cancel stands
    if task.status == "RUNNING" and status == "CANCELLED":
        raise ConflictingState(
            f"message move task {c.task_handle!r} was not cancelled", field="status"
        )
    task = task.model_copy(
        update={
            "status": status,
            # A late report (a mover that lost its leadership) never takes the count back.
            "moved": max(task.moved, c.moved),
            "updated_at_ms": c.now_ms,
            "failure_reason": c.failure_reason,
        }
    )
    state.move_tasks[c.task_handle] = task
    if task.finished:
        _forget_old_finished(state, task)
    return MoveTaskResult(task=task)


def cancel_message_move_task(state: MetadataState, c: CancelMessageMoveTask) -> MoveTaskResult:
    task = _task(state, c.task_handle)
    if task.status != "RUNNING":
        raise ConflictingState(
            f"message move task {c.task_handle!r} is {task.status}: only a RUNNING one cancels",
            field="task_handle",
        )
    task = task.model_copy(update={"status": "CANCELLING", "updated_at_ms": c.now_ms})
    state.move_tasks[c.task_handle] = task
    return MoveTaskResult(task=task)


def _forget_old_finished(state: MetadataState, just_finished: MessageMoveTask) -> None:
    """Keep the latest finished tasks of the source queue, `just_finished` among them. Older
    means finished earlier, then started earlier (state time does not go back, so replicas
    agree), then a smaller handle."""
    others = sorted(
        (
            t
            for t in state.move_tasks.values()
            if t.source_queue == just_finished.source_queue
            and t.finished
            and t.task_handle != just_finished.task_handle
        ),
        key=lambda t: (t.updated_at_ms, t.started_at_ms, t.task_handle),
    )
    for task in others[: max(0, len(others) - (limits.MOVE_TASKS_FINISHED_KEPT - 1))]:
        del state.move_tasks[task.task_handle]

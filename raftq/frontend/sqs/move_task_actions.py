"""StartMessageMoveTask, CancelMessageMoveTask, ListMessageMoveTasks: redrive a dead-letter
queue's messages back to where they failed, or to another queue (message_mover.py runs it).

The task's record lives in the metadata service, so any frontend lists or cancels it."""

from __future__ import annotations

import json
import uuid
from typing import Any, Final

from raftq.common import commands as backend
from raftq.common import limits
from raftq.common.errors import InvalidParameter, ResourceNotFound
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_commands import (
    CancelMessageMoveTask,
    ReportMessageMoveTask,
    StartMessageMoveTask,
)
from raftq.common.metadata_models import MessageMoveTask
from raftq.common.metadata_results import MoveTaskResult
from raftq.common.results import Failure, QueueStats
from raftq.frontend.service import Frontend
from raftq.frontend.sqs.message_mover import STALE_AFTER_MS, MessageMover
from raftq.frontend.sqs.names import name_of_arn, queue_arn
from raftq.frontend.sqs.params import Params
from raftq.frontend.sqs.request_context import RequestContext

LIST_MAX: Final = 10


async def _tasks(f: Frontend) -> list[MessageMoveTask]:
    raw = await f.metadata.get("/v1/catalogue") or {}
    return [MessageMoveTask.model_validate_json(json.dumps(t)) for t in raw.get("move_tasks", [])]


def _stale(f: Frontend, task: MessageMoveTask) -> bool:
    return not task.finished and f.clock.now_ms() - task.updated_at_ms > STALE_AFTER_MS


async def _result(f: Frontend, command: Any) -> MessageMoveTask:
    result = await f.metadata.execute(command)
    if isinstance(result, Failure):
        raise result.to_error()
    assert isinstance(result, MoveTaskResult), result
    return result.task


async def start_message_move_task(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    source = name_of_arn(p.text("SourceArn"), "SourceArn")
    destination_arn = p.optional_text("DestinationArn")
    destination = (
        None if destination_arn is None else name_of_arn(destination_arn, "DestinationArn")
    )
    rate = p.integer("MaxNumberOfMessagesPerSecond", 1, limits.MOVE_TASK_RATE_MAX_PER_S)
    task = await start_move(f, c, source, destination, rate)
    return {"TaskHandle": task.task_handle}


async def start_move(
    f: Frontend, c: KeyCredentials, source: str, destination: str | None, rate: int | None
) -> MessageMoveTask:
    """Start moving the messages of dead-letter queue `source` to `destination` (None: each
    back to its own source queue), at most `rate` a second (None: as fast as it goes), and
    run the move on this frontend. The SQS action and the dashboard's redrive both start here."""
    f.authorize(c, source, "receive")
    f.authorize(c, source, "delete")
    if destination is not None:
        f.authorize(c, destination, "send")
    catalogue = await f.metadata_catalogue()
    if source not in catalogue:
        raise ResourceNotFound(
            "The resource that you specified for the SourceArn parameter doesn't exist."
        )
    if not any(
        q.attributes.redrive is not None and q.attributes.redrive.dead_letter_queue == source
        for q in catalogue.values()
    ):
        raise InvalidParameter(
            "Source queue must be configured as a Dead Letter Queue.", field="SourceArn"
        )
    for task in await _tasks(f):
        if task.source_queue == source and _stale(f, task):
            await _result(f, _report_lost(c, task))
    stats = await f.forwarder.execute(
        source, lambda queue_id: backend.GetQueueStats(now_ms=0, queue=queue_id)
    )
    assert isinstance(stats.result, QueueStats)
    task = await _result(
        f,
        StartMessageMoveTask(
            now_ms=0,
            actor=c.principal_id,
            task_handle=uuid.uuid4().hex,
            source_queue=source,
            destination_queue=destination,
            max_per_second=rate,
            to_move=stats.result.visible,
        ),
    )
    f.spawn(MessageMover(f, c, task).run())
    return task


def _report_lost(c: KeyCredentials, task: MessageMoveTask) -> ReportMessageMoveTask:
    return ReportMessageMoveTask(
        now_ms=0,
        actor=c.principal_id,
        task_handle=task.task_handle,
        moved=task.moved,
        status="FAILED",
        failure_reason="the frontend running the task stopped reporting",
    )


async def cancel_message_move_task(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    handle = p.text("TaskHandle", max_chars=limits.MOVE_TASK_HANDLE_MAX_CHARS)
    task = next((t for t in await _tasks(f) if t.task_handle == handle), None)
    if task is None:
        raise ResourceNotFound("The specified message move task does not exist.")
    f.authorize(c, task.source_queue, "delete")
    if _stale(f, task):
        task = await _result(f, _report_lost(c, task))
    else:
        task = await _result(
            f, CancelMessageMoveTask(now_ms=0, actor=c.principal_id, task_handle=handle)
        )
    return {"ApproximateNumberOfMessagesMoved": task.moved}


async def list_message_move_tasks(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    source = name_of_arn(p.text("SourceArn"), "SourceArn")
    limit = p.integer("MaxResults", 1, LIST_MAX) or 1
    f.authorize(c, source, "receive")
    if source not in await f.metadata_catalogue():
        raise ResourceNotFound(
            "The resource that you specified for the SourceArn parameter doesn't exist."
        )
    tasks = sorted(
        (t for t in await _tasks(f) if t.source_queue == source),
        key=lambda t: t.started_at_ms,
        reverse=True,
    )
    return {"Results": [_entry(f, t) for t in tasks[:limit]]}


def _entry(f: Frontend, task: MessageMoveTask) -> dict[str, Any]:
    status, reason = task.status, task.failure_reason
    if _stale(f, task):
        status, reason = "FAILED", "the frontend running the task stopped reporting"
    entry: dict[str, Any] = {
        "TaskHandle": task.task_handle,
        "Status": status,
        "SourceArn": queue_arn(task.source_queue),
        "ApproximateNumberOfMessagesMoved": task.moved,
        "ApproximateNumberOfMessagesToMove": task.to_move,
        "StartedTimestamp": task.started_at_ms,
    }
    if task.destination_queue is not None:
        entry["DestinationArn"] = queue_arn(task.destination_queue)
    if task.max_per_second is not None:
        entry["MaxNumberOfMessagesPerSecond"] = task.max_per_second
    if reason is not None and status == "FAILED":
        entry["FailureReason"] = reason
    return entry

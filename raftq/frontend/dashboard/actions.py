"""The dashboard's actions (POST), each acting as the signed-in key through the service, so
its grants decide as they do for the REST API; routes.py has checked the CSRF token and origin
before any of them runs. Each answers with the page it was posted from, with a notice (done)
or an error naming what was refused and why; a refused action changes nothing."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from raftq.common.errors import InvalidParameter, RaftqError
from raftq.frontend import rest_models as m
from raftq.frontend.dashboard.dead_tasks import retry_dead_task
from raftq.frontend.dashboard.pages import queue_page, tasks_page
from raftq.frontend.dashboard.routes import Visit
from raftq.frontend.http_status import statuses_of
from raftq.frontend.sqs.move_task_actions import start_move
from raftq.frontend.tasks import TaskService

_ATTRIBUTE_FIELDS = (
    "visibility_timeout_s",
    "retention_s",
    "delay_s",
    "receive_wait_s",
    "max_message_bytes",
)


async def _refused(
    visit: Visit, request: web.Request, error: RaftqError, *, tasks: bool = False
) -> web.Response:
    status = statuses_of(error).rest
    where = f" ({error.field})" if error.field else ""
    if tasks:
        return await tasks_page(visit, request, error=f"{error.message}{where}", status=status)
    return await queue_page(visit, request, error=f"{error.message}{where}", status=status)


async def redrive(visit: Visit, request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    try:
        task = await start_move(visit.f, visit.caller, name, None, None)
    except RaftqError as error:
        return await _refused(visit, request, error)
    notice = f"Redrive started: {task.to_move} message(s) of {name} go back to their source."
    return await queue_page(visit, request, notice=notice)


async def purge(visit: Visit, request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    form = await request.post()
    if form.get("confirm_name") != name:
        error = InvalidParameter(
            f"type the queue's name ({name}) to confirm the purge", field="confirm_name"
        )
        return await _refused(visit, request, error)
    try:
        await visit.f.purge(visit.caller, name)
    except RaftqError as error:
        return await _refused(visit, request, error)
    return await queue_page(visit, request, notice=f"Queue {name} purged.")


async def change_attributes(visit: Visit, request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    form = await request.post()
    given: dict[str, int] = {}
    try:
        for key in _ATTRIBUTE_FIELDS:
            value = form.get(key)
            if isinstance(value, str) and value.strip():
                if not value.strip().isdigit():
                    raise InvalidParameter(f"{key} must be a whole number", field=key)
                given[key] = int(value.strip())
        try:
            body = m.QueueAttributesBody.model_validate(given)
        except ValidationError as invalid:
            first = invalid.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or None
            raise InvalidParameter(f"{first['msg']} (queue {name!r})", field=where) from None
        await visit.f.update_queue(visit.caller, name, body)
    except RaftqError as error:
        return await _refused(visit, request, error)
    return await queue_page(visit, request, notice=f"Attributes of {name} changed.")


async def cancel_task(visit: Visit, request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    task_id = request.match_info["task_id"]
    try:
        await TaskService(visit.f).cancel(visit.caller, name, task_id)
    except RaftqError as error:
        return await _refused(visit, request, error, tasks=True)
    return await tasks_page(visit, request, notice=f"Task {task_id} cancelled.")


async def retry_task(visit: Visit, request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    task_id = request.match_info["task_id"]
    try:
        new_id = await retry_dead_task(visit.f, visit.caller, name, task_id)
    except RaftqError as error:
        return await _refused(visit, request, error, tasks=True)
    notice = f"Task {task_id} submitted again as task {new_id}."
    return await tasks_page(visit, request, notice=notice)

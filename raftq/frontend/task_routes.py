"""The task API's REST routes: parse the request, call the task service (tasks.py), render.

They are served like rest_routes.py's (authentication first, the queue name checked, errors
rendered by `error_response`); app.py registers both tables. A request these models refuse is a
400 naming the field and the queue, and nothing is stored.
"""

from __future__ import annotations

from typing import Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from raftq.common.errors import InvalidParameter, error_from_code
from raftq.common.metadata_api import KeyCredentials
from raftq.frontend import task_models as t
from raftq.frontend.rest_routes import Handler
from raftq.frontend.service import Frontend
from raftq.frontend.tasks import TaskService

ModelT = TypeVar("ModelT", bound=BaseModel)

TASKS: Final = "/v1/queues/{name}/tasks"
LIMITS: Final = "/v1/queues/{name}/task-limits"


def parse(model: type[ModelT], raw: bytes | dict[str, str], queue: str) -> ModelT:
    """`raw` (a JSON body, or a query) as `model`; a 400 naming the field and the queue."""
    try:
        if isinstance(raw, bytes):
            return model.model_validate_json(raw or b"{}")
        return model.model_validate(dict(raw))
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise InvalidParameter(
                f"the body is not JSON (queue {queue!r})", field="body"
            ) from None
        where = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidParameter(f"{message} (queue {queue!r})", field=where) from None


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


async def submit(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    name = r.match_info["name"]
    body = parse(t.SubmitBody, await r.read(), name)
    result = await TaskService(f).submit(c, name, [("task", body)], field_prefix="")
    if result.failed:
        failure = result.failed[0]
        raise error_from_code(failure.code, failure.message, field=failure.field)
    sent = result.sent[0]
    return _json(t.SubmittedView(task_id=sent.message_id, duplicate=sent.duplicate), status=201)


async def submit_batch(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    name = r.match_info["name"]
    body = parse(t.SubmitBatchBody, await r.read(), name)
    if len(body.tasks) > f.settings.batch_max:
        raise InvalidParameter(
            f"at most {f.settings.batch_max} tasks (queue {name!r})", field="tasks"
        )
    if len({task.id for task in body.tasks}) != len(body.tasks):
        raise InvalidParameter(f"task ids must be distinct (queue {name!r})", field="tasks")
    tasks: list[tuple[str, t.TaskFields]] = [(task.id, task) for task in body.tasks]
    result = await TaskService(f).submit(c, name, tasks, field_prefix="tasks.N.")
    return _json(
        t.SubmittedBatchView(
            submitted=[
                t.SubmittedEntryView(id=s.entry_id, task_id=s.message_id, duplicate=s.duplicate)
                for s in result.sent
            ],
            failed=[
                t.SubmitFailure(id=x.entry_id, code=x.code, message=x.message, field=x.field)
                for x in result.failed
            ],
        )
    )


async def get(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    view = await TaskService(f).get(c, r.match_info["name"], r.match_info["task_id"])
    return _json(view)


async def listing(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    name = r.match_info["name"]
    query = parse(t.TaskListQuery, dict(r.query), name)
    return _json(await TaskService(f).listing(c, name, query))


async def cancel(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    task_id = r.match_info["task_id"]
    await TaskService(f).cancel(c, r.match_info["name"], task_id)
    return _json(t.CancelledView(task_id=task_id))


async def lease(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    name = r.match_info["name"]
    body = parse(t.LeaseBody, await r.read(), name)
    return _json(await TaskService(f).lease(c, name, body))


async def heartbeat(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    name = r.match_info["name"]
    body = parse(t.HeartbeatBody, await r.read(), name)
    return _json(await TaskService(f).heartbeat(c, name, body.leases))


async def finish(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    name = r.match_info["name"]
    body = parse(t.FinishBody, await r.read(), name)
    return _json(await TaskService(f).finish(c, name, body.reports))


async def set_limits(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    name = r.match_info["name"]
    body = parse(t.TaskLimitsBody, await r.read(), name)
    return _json(await TaskService(f).set_limits(c, name, r.match_info["type"], body))


async def get_limits(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    return _json(await TaskService(f).get_limits(c, r.match_info["name"]))


# Registered after rest_routes' table (app.py). A task id holds no `:`, so `…/{task_id}` does not
# also match `…/{task_id}:cancel` (else OPTIONS would answer that both GET and POST are allowed
# there); any other malformed id still reaches the handler, which refuses it with a 400.
ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("POST", TASKS, submit),
    ("POST", TASKS + ":batch", submit_batch),
    ("GET", TASKS, listing),
    ("POST", TASKS + ":lease", lease),
    ("POST", TASKS + ":heartbeat", heartbeat),
    ("POST", TASKS + ":finish", finish),
    ("GET", TASKS + "/{task_id:[^/:]+}", get),
    ("POST", TASKS + "/{task_id}:cancel", cancel),
    ("PUT", LIMITS + "/{type}", set_limits),
    ("GET", LIMITS, get_limits),
)

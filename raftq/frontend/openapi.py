"""The REST API's routes, and the OpenAPI 3.1 document generated from them and their models
(served at `/openapi.json`). A route names the grant it needs, its body, query and answer."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from raftq.frontend import rest_models as m
from raftq.frontend import rest_schedule_models as sm
from raftq.frontend import task_models as t

Grant = Literal["send", "receive", "delete", "admin"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    grant: Grant
    status: int
    _: KW_ONLY
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None


MESSAGES: Final = "/v1/queues/{name}/messages"
ROUTES: Final = (
    Route(
        "post",
        "/v1/queues",
        "Create a queue",
        "admin",
        201,
        body=m.CreateQueueBody,
        answer=m.QueueView,
    ),
    Route("get", "/v1/queues", "List queues", "admin", 200, query=m.ListQuery, answer=m.QueueList),
    Route(
        "get", "/v1/queues/{name}", "A queue, with exact counts", "receive", 200, answer=m.QueueView
    ),
    Route(
        "patch",
        "/v1/queues/{name}",
        "Change attributes",
        "admin",
        200,
        body=m.QueueAttributesBody,
        answer=m.QueueView,
    ),
    Route("delete", "/v1/queues/{name}", "Delete a queue", "admin", 204),
    Route(
        "post",
        MESSAGES,
        "Send a message (JSON, or its bytes as application/octet-stream with query options)",
        "send",
        201,
        body=m.SendBody,
        query=m.RawSendQuery,
        answer=m.SentView,
    ),
    Route(
        "post",
        MESSAGES + ":batch",
        "Send messages",
        "send",
        200,
        body=m.SendBatchBody,
        answer=m.SentBatchView,
    ),
    Route(
        "get",
        MESSAGES,
        "Receive messages",
        "receive",
        200,
        query=m.ReceiveQuery,
        answer=m.ReceivedList,
    ),
    Route("delete", MESSAGES, "Purge the queue", "admin", 204),
    Route("delete", MESSAGES + "/{receipt_handle}", "Delete a message", "delete", 204),
    Route(
        "patch",
        MESSAGES + "/{receipt_handle}",
        "Change a message's visibility",
        "receive",
        204,
        body=m.VisibilityBody,
    ),
    Route(
        "post",
        MESSAGES + ":delete",
        "Delete messages",
        "delete",
        200,
        body=m.DeleteBatchBody,
        answer=m.BatchView,
    ),
    Route(
        "post",
        MESSAGES + ":visibility",
        "Change visibility",
        "receive",
        200,
        body=m.VisibilityBatchBody,
        answer=m.BatchView,
    ),
    Route(
        "get",
        "/v1/queues/{name}/status/{message_id}",
        "A message's status",
        "receive",
        200,
        answer=m.MessageStatusView,
    ),
)

TASKS: Final = "/v1/queues/{name}/tasks"
LIMITS: Final = "/v1/queues/{name}/task-limits"
TYPES: Final = "/v1/queues/{name}/task-types"
# In task_routes.py's order: a task is a message of a standard queue (its id, the message id).
TASK_ROUTES: Final = (
    Route(
        "post",
        TASKS,
        "Submit a task",
        "send",
        201,
        body=t.SubmitBody,
        answer=t.SubmittedView,
    ),
    Route(
        "post",
        TASKS + ":batch",
        "Submit tasks",
        "send",
        200,
        body=t.SubmitBatchBody,
        answer=t.SubmittedBatchView,
    ),
    Route(
        "get",
        TASKS,
        "List tasks in one state",
        "receive",
        200,
        query=t.TaskListQuery,
        answer=t.TaskList,
    ),
    Route(
        "post",
        TASKS + ":lease",
        "Lease tasks to a worker (long-polls up to wait_s)",
        "receive",
        200,
        body=t.LeaseBody,
        answer=t.LeaseList,
    ),
    Route(
        "post",
        TASKS + ":heartbeat",
        "Extend leases",
        "receive",
        200,
        body=t.HeartbeatBody,
        answer=t.LeaseOutcomes,
    ),
    Route(
        "post",
        TASKS + ":finish",
        "Report attempts: succeeded, retry or failed",
        "delete",
        200,
        body=t.FinishBody,
        answer=t.LeaseOutcomes,
    ),
    Route("get", TASKS + "/{task_id}", "A task's status", "receive", 200, answer=t.TaskView),
    Route(
        "post",
        TASKS + "/{task_id}:cancel",
        "Cancel a task that is not running",
        "delete",
        200,
        answer=t.CancelledView,
    ),
    Route(
        "put",
        LIMITS + "/{type}",
        "Set a task type's rate limits",
        "admin",
        200,
        body=t.TaskLimitsBody,
        answer=t.TaskLimitsView,
    ),
    Route("get", LIMITS, "The task types' rate limits", "receive", 200, answer=t.TaskLimitsList),
    Route(
        "post",
        TYPES,
        "Declare task types (a worker), or forget some (an operator: admin)",
        "receive",
        200,
        body=t.TaskTypesBody,
        answer=t.TaskTypesView,
    ),
    Route("get", TYPES, "The queue's declared task types", "receive", 200, answer=t.TaskTypesView),
)
ROUTES_DOCUMENTED: Final = ROUTES + TASK_ROUTES
SCHEDULES: Final = "/v1/schedules"
# Schedules (periodic tasks) are authorized on the queue they submit to.
SCHEDULE_ROUTES: Final = (
    Route(
        "post",
        SCHEDULES,
        "Create a schedule",
        "send",
        201,
        body=sm.CreateScheduleBody,
        answer=sm.ScheduleView,
    ),
    Route(
        "get",
        SCHEDULES,
        "Schedules of the queues one may see",
        "receive",
        200,
        answer=sm.ScheduleList,
    ),
    Route("get", SCHEDULES + "/{schedule}", "A schedule", "receive", 200, answer=sm.ScheduleView),
    Route(
        "post",
        SCHEDULES + "/{schedule}:pause",
        "Pause a schedule",
        "send",
        200,
        answer=sm.ScheduleView,
    ),
    Route(
        "post",
        SCHEDULES + "/{schedule}:resume",
        "Resume a schedule from now",
        "send",
        200,
        answer=sm.ScheduleView,
    ),
    Route("delete", SCHEDULES + "/{schedule}", "Remove a schedule", "send", 204),
)

# Path parameters whose form the route itself keeps: a task id has no `:` (task_routes.py), so
# one that does is not routed at all.
_PATH_PATTERNS: Final = {
    "task_id": {"pattern": "^[A-Za-z0-9-]{1,64}$"},
    "type": {"pattern": "^[A-Za-z][A-Za-z0-9_.:-]{0,127}$"},
    "schedule": {"pattern": "^[A-Za-z0-9_-]{1,80}$"},
}

_ERRORS: Final = {
    "400": "malformed request; `field` names what is wrong",
    "401": "not signed, badly signed, expired, or an unknown key",
    "403": "the key's principal lacks the grant",
    "404": "no such queue, message or task",
    "413": "body too large",
    "429": "rate limited; see Retry-After",
    "503": "unavailable, or the outcome is unknown: retry with the same idempotency key",
}


def openapi_document() -> dict[str, Any]:
    routes = (*ROUTES_DOCUMENTED, *SCHEDULE_ROUTES)
    models = {r.body for r in routes} | {r.answer for r in routes} | {m.ErrorView}
    named = sorted((model for model in models if model is not None), key=lambda x: x.__name__)
    _, schemas = models_json_schema(
        [(model, "validation") for model in named], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "raftq", "version": "1", "description": __doc__.splitlines()[0]},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 with a raftq access key (service "
                    "`sqs`, any region); see docs/api.md",
                }
            },
        },
        "security": [{"sigv4": []}],
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "description": f"Needs the `{route.grant}` grant on the queue.",
        "operationId": f"{route.method}_{route.path}".replace("/", "_")
        .replace("{", "")
        .replace("}", "")
        .replace(":", "_"),
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", **_PATH_PATTERNS.get(name, {})},
            }
            for name in ("name", "receipt_handle", "message_id", "task_id", "type", "schedule")
            if "{" + name + "}" in route.path
        ],
        "responses": {
            str(route.status): (
                {
                    "description": "done",
                    "content": {"application/json": {"schema": _ref(route.answer)}},
                }
                if route.answer is not None
                else {"description": "done"}
            ),
            **{
                status: {
                    "description": text,
                    "content": {"application/json": {"schema": _ref(m.ErrorView)}},
                }
                for status, text in _ERRORS.items()
            },
        },
    }
    if route.query is not None:
        schema = route.query.model_json_schema()
        for name, field_schema in schema["properties"].items():
            operation["parameters"].append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", []),
                    "schema": field_schema,
                }
            )
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    if route.method == "post" and route.path.endswith("/messages"):
        # The message's bytes as the body; the query options apply to this form only.
        operation["requestBody"]["content"]["application/octet-stream"] = {
            "schema": {"type": "string", "format": "binary"}
        }
        operation["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 128},
            }
        )
    return operation

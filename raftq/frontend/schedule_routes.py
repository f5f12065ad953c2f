"""The REST API's schedules (periodic tasks, issue 18), kept by the metadata group, whose leader
fires them (raftq/metadata/schedule_firing.py):

POST   /v1/schedules                 create ("send" on its queue)      -> 201 ScheduleView
GET    /v1/schedules                 those of queues the caller may see -> ScheduleList
GET    /v1/schedules/{schedule}          one the caller may see             -> ScheduleView
POST   /v1/schedules/{schedule}:pause    ("send" on its queue)              -> ScheduleView
POST   /v1/schedules/{schedule}:resume   ("send" on its queue)              -> ScheduleView
DELETE /v1/schedules/{schedule}          ("send" on its queue)              -> 204

The task's envelope `{"type", "payload", "max_attempts", "timeout_s"}` (a task message's body)
is sealed here, at creation, with the queue's data key: the metadata group keeps and sends
ciphertext only. A schedule of a queue the caller may not see (no send, receive or admin grant)
is answered as not found, in a listing and by name alike.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Final

from aiohttp import web

from raftq.common.errors import InvalidParameter, PayloadTooLarge, ScheduleNotFound
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_commands import (
    AddSchedule,
    PauseSchedule,
    RemoveSchedule,
    ResumeSchedule,
)
from raftq.common.metadata_results import ScheduleResult
from raftq.common.results import Failure
from raftq.common.schedule_models import SCHEDULE_BODY_MAX_BYTES, ScheduleDefinition
from raftq.frontend import rest_schedule_models as sm
from raftq.frontend.edge import meet_expectation
from raftq.frontend.rest_routes import Handler, _json, _parse, _served
from raftq.frontend.service import Frontend

SCHEDULES: Final = "/v1/schedules"


def _visible(caller: KeyCredentials, queue: str) -> bool:
    return any(g.covers(queue, a) for g in caller.grants for a in ("send", "receive", "admin"))


async def _catalogue(f: Frontend) -> list[dict[str, Any]]:
    raw = await f.metadata.get("/v1/catalogue")
    return list((raw or {}).get("schedules", []))


async def _find(f: Frontend, caller: KeyCredentials, name: str) -> dict[str, Any]:
    for record in await _catalogue(f):
        if record["name"] == name and _visible(caller, record["queue"]):
            return record
    raise ScheduleNotFound(f"no schedule {name!r}", field="name")


def _schedule_of(result: object) -> sm.ScheduleView:
    if isinstance(result, Failure):
        raise result.to_error()
    assert isinstance(result, ScheduleResult), result
    return sm.ScheduleView.of_schedule(result.schedule)


async def create(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    body = _parse(sm.CreateScheduleBody, await r.read())
    f.authorize(c, body.queue, "send")
    route = await f.forwarder.route(body.queue)
    if route.queue.fifo:
        raise InvalidParameter("tasks go to standard queues, not FIFO ones", field="queue")
    envelope = {
        "type": body.type,
        "payload": body.payload,
        "max_attempts": body.max_attempts,
        "timeout_s": body.timeout_s,
    }
    plain = json.dumps(envelope, separators=(",", ":")).encode()
    sealed = (await f.forwarder.cipher(route)).seal(plain, "body")
    if len(sealed) > SCHEDULE_BODY_MAX_BYTES:
        raise PayloadTooLarge(
            f"a schedule's task (type and payload) is at most about {SCHEDULE_BODY_MAX_BYTES} "
            "bytes as JSON",
            field="payload",
        )
    definition = ScheduleDefinition(
        schedule_id=secrets.token_hex(8),
        name=body.name,
        queue=body.queue,
        task_type=body.type,
        body=sealed,
        priority=body.priority,
        max_attempts=body.max_attempts,
        timeout_ms=round(body.timeout_s * 1000),
        cron=body.cron,
        every_ms=None if body.every_s is None else body.every_s * 1000,
        tz=body.tz,
    )
    result = await f.metadata.execute(
        AddSchedule(now_ms=0, actor=c.principal_id, schedule=definition)
    )
    return _json(_schedule_of(result), status=201)


async def listing(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    records = sorted(
        (record for record in await _catalogue(f) if _visible(c, record["queue"])),
        key=lambda record: str(record["name"]),
    )
    return _json(sm.ScheduleList(schedules=[sm.ScheduleView.of(x) for x in records]))


async def get(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    return _json(sm.ScheduleView.of(await _find(f, c, r.match_info["schedule"])))


async def pause(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    record = await _find(f, c, r.match_info["schedule"])
    f.authorize(c, record["queue"], "send")
    command = PauseSchedule(
        now_ms=0, actor=c.principal_id, name=record["name"], queue=record["queue"]
    )
    return _json(_schedule_of(await f.metadata.execute(command)))


async def resume(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    record = await _find(f, c, r.match_info["schedule"])
    f.authorize(c, record["queue"], "send")
    command = ResumeSchedule(
        now_ms=0, actor=c.principal_id, name=record["name"], queue=record["queue"]
    )
    return _json(_schedule_of(await f.metadata.execute(command)))


async def remove(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    record = await _find(f, c, r.match_info["schedule"])
    f.authorize(c, record["queue"], "send")
    result = await f.metadata.execute(
        RemoveSchedule(now_ms=0, actor=c.principal_id, name=record["name"], queue=record["queue"])
    )
    if isinstance(result, Failure):
        raise result.to_error()
    return web.Response(status=204)


ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("POST", SCHEDULES, create),
    ("GET", SCHEDULES, listing),
    # `[^/:]+`: a name never holds `:`, so `/{schedule}` does not also match `…:pause`.
    ("GET", SCHEDULES + "/{schedule:[^/:]+}", get),
    ("POST", SCHEDULES + "/{schedule:[^/:]+}:pause", pause),
    ("POST", SCHEDULES + "/{schedule:[^/:]+}:resume", resume),
    ("DELETE", SCHEDULES + "/{schedule:[^/:]+}", remove),
)


def add_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, _served(handler), expect_handler=meet_expectation)

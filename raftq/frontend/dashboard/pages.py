"""The dashboard's pages (GET), each acting as the signed-in key. `?part=live` answers only
the part that dashboard.js redraws every 2 s; it is computed as the whole page's is and keeps
nothing between requests."""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from raftq.common.errors import InvalidParameter, RaftqError
from raftq.common.results import MessageStatus
from raftq.frontend.dashboard import data
from raftq.frontend.dashboard.markup import ROOT, Markup, join, live, page, tag
from raftq.frontend.dashboard.queue_pages import (
    message_status_section,
    overview_live,
    queue_live,
    queue_page_body,
)
from raftq.frontend.dashboard.routes import Visit, html
from raftq.frontend.dashboard.task_pages import (
    schedules_of,
    schedules_table,
    summary_live,
    task_summary,
    tasks_index_body,
    tasks_queue_body,
)

_QUEUE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")


def _check_path(request: web.Request) -> None:
    """The REST API's rule for a queue name in a path: a 400 naming the field."""
    if not _QUEUE_NAME.fullmatch(request.match_info["name"]):
        raise InvalidParameter("not a queue name", field="name")


def whole(visit: Visit, title: str, body: Markup, *, notice: str = "", error: str = "") -> str:
    return page(
        title,
        body,
        signed_in_as=visit.caller.principal_id,
        csrf_token=visit.session.csrf_token,
        notice=notice,
        error=error,
    )


def _is_live(request: web.Request) -> bool:
    return request.query.get("part") == "live"


async def overview(visit: Visit, request: web.Request) -> web.StreamResponse:
    f = visit.f
    rows = await data.queue_rows(
        f, visit.caller, await data.visible_queues(f, visit.caller), f.usage.rates
    )
    clusters = await visit.dashboard.clusters.snapshot() if data.is_operator(visit.caller) else None
    content = overview_live(rows, clusters)
    if _is_live(request):
        return html(content)
    return html(whole(visit, "Overview", live(f"{ROOT}/?part=live", content)))


async def queue_page(
    visit: Visit, request: web.Request, *, notice: str = "", error: str = "", status: int = 200
) -> web.Response:
    """A queue's page; the actions (actions.py) answer with it too, with their notice or error."""
    _check_path(request)
    f = visit.f
    name = request.match_info["name"]
    detail = await data.queue_detail(f, visit.caller, name, f.usage.rates)
    series = f.usage.rates.series(name, f.clock.now_ms())
    if _is_live(request):
        return html(queue_live(detail, series))
    message_id = request.query.get("message_id", "").strip()
    found: MessageStatus | None = None
    problem = ""
    if message_id:
        try:
            found = await f.status(visit.caller, name, message_id)
        except RaftqError as refused:
            problem = refused.message
    section = message_status_section(name, message_id, found, problem)
    body = queue_page_body(detail, series, section, visit.session.csrf_token)
    return html(whole(visit, f"Queue {name}", body, notice=notice, error=error), status)


async def queue(visit: Visit, request: web.Request) -> web.StreamResponse:
    return await queue_page(visit, request)


async def tasks_index(visit: Visit, request: web.Request) -> web.StreamResponse:
    f = visit.f
    raw = await f.metadata.get("/v1/catalogue") or {}
    schedules = schedules_of(list(raw.get("schedules", [])), visit.caller)
    if _is_live(request):
        return html(join([tag("h2", "Schedules"), schedules_table(schedules)]))
    queues = [q.name for q in await data.visible_queues(f, visit.caller) if not q.fifo]
    return html(whole(visit, "Tasks", tasks_index_body(queues, schedules)))


async def tasks_page(
    visit: Visit, request: web.Request, *, notice: str = "", error: str = "", status: int = 200
) -> web.Response:
    _check_path(request)
    name = request.match_info["name"]
    summary = await task_summary(visit.f, visit.caller, name)
    if _is_live(request):
        return html(summary_live(summary, visit.session.csrf_token))
    body = tasks_queue_body(summary, visit.session.csrf_token)
    return html(whole(visit, f"Tasks of {name}", body, notice=notice, error=error), status)


async def tasks_of_queue(visit: Visit, request: web.Request) -> web.StreamResponse:
    return await tasks_page(visit, request)

"""The frontend's public application: the REST API (rest_routes.py), the SQS-compatible API
(sqs/server.py), the dashboard (dashboard/), `/openapi.json`, `/healthz` and `/readyz`; and
`/metrics` on its own listener.

Both APIs call the one service (service.py) that `startup`, a cleanup context, puts in
`app[FRONTEND]` once its connections are open, and closes with them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from raftq.common.errors import PathNotFound, RaftqError
from raftq.frontend import request_log, rest_routes, schedule_routes, task_routes
from raftq.frontend.dashboard.setup import add_routes as add_dashboard_routes
from raftq.frontend.edge import FRONTEND
from raftq.frontend.openapi import openapi_document
from raftq.frontend.settings import FrontendSettings
from raftq.frontend.sqs import server as sqs_server
from raftq.frontend.trace_headers import trace_parent_from_headers
from raftq.frontend.usage import Usage

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    settings: FrontendSettings, startup: Callable[[web.Application], AsyncIterator[None]]
) -> web.Application:
    """The application; `startup` (a cleanup context) opens its connections and sets
    `app[FRONTEND]`."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            request_log.request_ids,
            trace_parent_from_headers,
            unrouted_rest_paths_are_json,
        ],
    )
    app.cleanup_ctx.append(startup)
    document = json.dumps(openapi_document())

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=document, content_type="application/json")

    rest_routes.add_routes(app, rest_routes.ROUTES + task_routes.ROUTES)
    schedule_routes.add_routes(app)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    sqs_server.add_routes(app)
    add_dashboard_routes(app)
    return app


@web.middleware
async def unrouted_rest_paths_are_json(
    request: web.Request, handler: _Handler
) -> web.StreamResponse:
    """A `/v1/` path that no route serves is answered as every REST error is (JSON), not with
    aiohttp's plain-text 404."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if not request.path.startswith("/v1/"):
            raise
        return rest_routes.error_response(
            PathNotFound("no REST route serves this path and method", field="path")
        )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the metadata group answers: without it no request can be authenticated."""
    try:
        await request.app[FRONTEND].metadata.get("/readyz")
    except RaftqError as error:
        return web.json_response({"ready": False, "reason": error.message}, status=503)
    return web.json_response({"ready": True})


def metrics_app(usage: Usage) -> web.Application:
    """`/metrics` on its own listener: it names access keys and queues, so it does not belong
    on the public port."""
    app = web.Application()

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=usage.render(), content_type="text/plain", charset="utf-8")

    app.router.add_get("/metrics", metrics)
    return app

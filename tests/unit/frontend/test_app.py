"""The frontend's application: what create_app mounts, and the REST route table agreeing with
the OpenAPI document (a route served but not documented, or documented but not served, fails)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import SecretStr

from raftq.frontend import openapi, rest_routes, schedule_routes, task_routes
from raftq.frontend.app import create_app
from raftq.frontend.settings import FrontendSettings

SETTINGS = FrontendSettings(
    listen="127.0.0.1:1",
    metadata=("127.0.0.1:2",),
    credential=SecretStr("RF" + "A" * 18 + ":" + "s" * 16),
    master_keys={"k1": SecretStr("00" * 32)},
    current_master_key="k1",
)


async def _nothing(app: web.Application) -> AsyncIterator[None]:
    yield


def test_the_rest_route_table_serves_exactly_the_documented_routes_in_order() -> None:
    served = [
        (method, re.sub(r"{(\w+):[^}]+}", r"{\1}", path))  # as documented: without a pattern
        for method, path, _ in rest_routes.ROUTES + task_routes.ROUTES
    ]
    documented = [(route.method.upper(), route.path) for route in openapi.ROUTES_DOCUMENTED]
    assert served == documented
    schedules = [
        (method, re.sub(r"{(\w+):[^}]+}", r"{\1}", path))
        for method, path, _ in schedule_routes.ROUTES
    ]
    assert schedules == [(r.method.upper(), r.path) for r in openapi.SCHEDULE_ROUTES]


def test_the_app_mounts_both_apis_and_the_health_routes() -> None:
    app = create_app(SETTINGS, _nothing)
    mounted = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    rest = {
        (method, re.sub(r"{(\w+):[^}]+}", r"{\1}", path))
        for method, path, _ in (*rest_routes.ROUTES, *task_routes.ROUTES, *schedule_routes.ROUTES)
    }
    sqs = {("POST", "/"), ("GET", "/"), ("*", "/{account}/{queue}")}
    health = {("GET", "/openapi.json"), ("GET", "/healthz"), ("GET", "/readyz")}
    dashboard = {route for route in mounted if route[1].startswith("/dashboard")}
    assert {("GET", "/dashboard"), ("GET", "/dashboard/"), ("POST", "/dashboard/sign-in")} <= (
        dashboard
    )
    assert mounted == rest | sqs | health | dashboard
    # The frontend's start-up, then the dashboard's state, which needs the frontend's service
    assert app.cleanup_ctx[0] is _nothing and len(app.cleanup_ctx) == 2

"""The dashboard in the frontend's application: its routes and its state (created once the
frontend's service is up)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from raftq.frontend.dashboard import actions, pages, routes
from raftq.frontend.dashboard.clusters import ClusterView
from raftq.frontend.dashboard.sessions import Sessions
from raftq.frontend.edge import FRONTEND

__all__ = ["add_routes"]


async def _dashboard_state(app: web.Application) -> AsyncIterator[None]:
    """After the frontend's own start-up (a cleanup context before this one): the sessions and
    the cluster view, bound to its clock and metadata client."""
    f = app[FRONTEND]
    app[routes.DASHBOARD] = routes.Dashboard(
        frontend=f,
        sessions=Sessions(f.clock),
        clusters=ClusterView(
            lambda: f.metadata.get("/v1/catalogue"),
            f.metadata.members,
            f.metadata.node_status,
            f.clock,
        ),
    )
    yield


def add_routes(app: web.Application) -> None:
    """The dashboard's routes; call after the frontend's start-up is in `app.cleanup_ctx`."""
    app.cleanup_ctx.append(_dashboard_state)
    signed_in = routes.signed_in
    root = "/dashboard"
    app.router.add_get(root, routes.to_overview)
    app.router.add_get(f"{root}/", signed_in(pages.overview))
    app.router.add_get(f"{root}/sign-in", routes.sign_in_form)
    app.router.add_post(f"{root}/sign-in", routes.sign_in)
    app.router.add_post(f"{root}/sign-out", signed_in(routes.sign_out))
    app.router.add_get(f"{root}/static/dashboard.js", routes.script)
    app.router.add_get(f"{root}/static/dashboard.css", routes.style)
    app.router.add_get(f"{root}/queues/{{name}}", signed_in(pages.queue))
    app.router.add_post(f"{root}/queues/{{name}}/redrive", signed_in(actions.redrive))
    app.router.add_post(f"{root}/queues/{{name}}/purge", signed_in(actions.purge))
    app.router.add_post(f"{root}/queues/{{name}}/attributes", signed_in(actions.change_attributes))
    app.router.add_get(f"{root}/tasks", signed_in(pages.tasks_index))
    app.router.add_get(f"{root}/tasks/{{name}}", signed_in(pages.tasks_of_queue))
    app.router.add_post(f"{root}/tasks/{{name}}/{{task_id}}/cancel", signed_in(actions.cancel_task))
    app.router.add_post(f"{root}/tasks/{{name}}/{{task_id}}/retry", signed_in(actions.retry_task))

"""A request's W3C `traceparent` / `tracestate` headers make the caller's span the parent of the
spans its handler starts (common/tracing.py). Only while tracing is on: off, the headers are
not read. A header that breaks the W3C rules is ignored, never refused: it cannot harm the
request, only fail to join its trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from raftq.common import tracing

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def trace_parent_from_headers(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if not tracing.active() or "traceparent" not in request.headers:
        return await handler(request)
    parent = tracing.span_context_of(
        request.headers.get("traceparent"), request.headers.get("tracestate")
    )
    with tracing.attached(tracing.context_of(parent)):
        return await handler(request)

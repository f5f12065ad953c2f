"""The aiohttp pieces both public APIs (REST and SQS) share: where the service sits in the
application, and a request as SigV4 verification reads it."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from raftq.common.sigv4 import HttpRequest
from raftq.frontend.service import Frontend

FRONTEND: Final = web.AppKey("frontend", Frontend)


async def signed_request(request: web.Request) -> HttpRequest:
    """`request` exactly as received: its raw path and query, every header (a repeated header's
    values joined with ","), its body."""
    body = await request.read()
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return HttpRequest(
        request.method, request.raw_path.split("?", 1)[0], request.query_string, headers, body
    )

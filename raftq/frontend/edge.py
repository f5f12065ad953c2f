"""The aiohttp pieces both public APIs (REST and SQS) share: where the service sits in the
application, a request as SigV4 verification reads it, and how an `Expect` header is met."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp.http import HttpVersion11

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


async def meet_expectation(request: web.Request) -> None:
    """The routes' `expect_handler`: "100-continue" is met at once (aiohttp's default does the
    same); any other expectation is ignored and the request answered as if it had none (RFC 9110
    §10.1.1 allows either this or 417). aiohttp's default answers 417 before the request is
    authenticated or validated, a status the API does not document."""
    if request.version == HttpVersion11 and request.headers.get("Expect", "").lower() == (
        "100-continue"
    ):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0

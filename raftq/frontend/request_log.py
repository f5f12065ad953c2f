"""Request ids, and the frontend's log lines about requests (both public APIs).

Every request gets an id: the client's `X-Request-Id` when it is a valid one
(call_context.valid_request_id), otherwise a new UUID. The id is current for the whole request
(call_context), so it travels with each command to the backend leader, and every answer carries
it back in `X-Request-Id` (the SQS API also in `x-amzn-RequestId`).

Lines, once per request at most, never for a request that went well (the hot path logs
nothing unless DEBUG is on):
- `auth_refused` (warning): the request's signature or key was refused;
- `request_failed` (error): the answer is a 5xx, or a handler raised something unexpected
  (answered 500 here, with its stack in the line);
- `request_served` (debug): any other answer.
Handlers tell this middleware which error they answered with (`note_error`) and, where the path
does not name it, which queue the request was for (`note_queue`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from raftq.common import call_context
from raftq.common.errors import RaftqError, Unauthenticated

REQUEST_ID_HEADER: Final = "X-Request-Id"
_ERROR: Final = web.RequestKey("raftq_error", RaftqError)
_QUEUE: Final = web.RequestKey("raftq_queue", str)
_QUEUE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")

log = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def note_error(request: web.Request, error: RaftqError) -> None:
    """`error` is what `request` is answered with."""
    request[_ERROR] = error


def note_queue(request: web.Request, name: str) -> None:
    """`request` is for the queue `name` (a valid queue name)."""
    request[_QUEUE] = name


def request_id_of(request: web.Request) -> str:
    return call_context.valid_request_id(request.headers.get(REQUEST_ID_HEADER)) or str(
        uuid.uuid4()
    )


@web.middleware
async def request_ids(request: web.Request, handler: _Handler) -> web.StreamResponse:
    request_id = request_id_of(request)
    with call_context.bound(call_context.current().with_request_id(request_id)):
        try:
            response = await handler(request)
        except web.HTTPException as answer:  # aiohttp's own answers (404, 405, …)
            answer.headers[REQUEST_ID_HEADER] = request_id
            raise
        except Exception:  # a bug: answered 500 here rather than by aiohttp, to carry the id
            log.exception(
                "%s %s failed unexpectedly",
                request.method,
                request.path,
                extra={"event": "request_failed", "queue": _queue_of(request)},
            )
            response = web.json_response(
                {"code": "InternalError", "message": f"the request failed (id {request_id})"},
                status=500,
            )
        else:
            _log_answer(request, response)
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _log_answer(request: web.Request, response: web.StreamResponse) -> None:
    error = request.get(_ERROR)
    queue = _queue_of(request)
    if isinstance(error, Unauthenticated):
        log.warning(
            "%s %s refused: %s",
            request.method,
            request.path,
            error.message,
            extra={"event": "auth_refused", "queue": queue, "error": error},
        )
    elif response.status >= 500:
        log.error(
            "%s %s answered %d",
            request.method,
            request.path,
            response.status,
            exc_info=error,
            extra={"event": "request_failed", "queue": queue},
        )
    elif log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s %s answered %d",
            request.method,
            request.path,
            response.status,
            extra={"event": "request_served", "queue": queue},
        )


def _queue_of(request: web.Request) -> str | None:
    if _QUEUE in request:
        return request[_QUEUE]
    info = request.match_info
    # REST paths name it `name`, SQS's query-protocol paths `queue`; what is not a queue name
    # (a request the route refuses) is left out.
    name = info.get("name") or info.get("queue")
    return name if name is not None and _QUEUE_NAME.fullmatch(name) else None

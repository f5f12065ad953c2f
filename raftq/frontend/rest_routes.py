"""The native REST API's routes: parse the request, call the service, render the answer.

Every `/v1/` request is authenticated first (401 before anything else is read), then its path
parameters are checked, then its handler runs. Bodies and queries are validated by the models of
rest_models.py (which also make `/openapi.json`); a value they refuse is a 400 naming the field.
Errors are rendered here as `ErrorView`s; their statuses come from the frontend's one table.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from raftq.common import limits
from raftq.common.errors import (
    InvalidParameter,
    Overloaded,
    PayloadTooLarge,
    RaftqError,
    Throttled,
    error_from_code,
)
from raftq.common.metadata_api import KeyCredentials
from raftq.common.results import BatchResult
from raftq.frontend import message_tracing, request_log
from raftq.frontend import rest_models as m
from raftq.frontend.edge import FRONTEND, meet_expectation, signed_request
from raftq.frontend.http_status import statuses_of
from raftq.frontend.rest_attributes import queue_view
from raftq.frontend.service import Frontend, SendOutcomeUnknown

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[Frontend, KeyCredentials, web.Request], Awaitable[web.Response]]

MESSAGES: Final = "/v1/queues/{name}/messages"
_QUEUE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")

# --- errors -----------------------------------------------------------------------------------


def error_response(error: RaftqError) -> web.Response:
    """`error` as the REST API answers it: an `ErrorView` with the status of http_status.py; a
    send of unknown outcome names the idempotency key (or `entry=key` pairs) to retry with, a
    throttled request says when to retry."""
    status = statuses_of(error).rest
    retry_key = None
    if isinstance(error, SendOutcomeUnknown):
        retry_key = ",".join(f"{entry}={key}" for entry, key in error.retry_keys.items())
        if len(error.retry_keys) == 1:
            retry_key = next(iter(error.retry_keys.values()))
    view = m.ErrorView(
        code=error.code,
        message=error.message,
        field=error.field,
        retry_with_idempotency_key=retry_key,
    )
    headers = {}
    if isinstance(error, Throttled):
        headers["Retry-After"] = str(error.retry_after_s)
    elif isinstance(error, Overloaded):  # a leader's queue of commands was full
        headers["Retry-After"] = "1"
    return web.Response(
        text=view.model_dump_json(), status=status, content_type="application/json", headers=headers
    )


def _parse(model: type[ModelT], raw: bytes | dict[str, str]) -> ModelT:
    try:
        if isinstance(raw, bytes):
            return model.model_validate_json(raw or b"{}")
        return model.model_validate(dict(raw))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidParameter(f"{first['msg']}", field=where) from None


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(exclude_none=False),
        status=status,
        content_type="application/json",
    )


def _batch(result: BatchResult) -> web.Response:
    failed = [
        m.BatchEntryFailure(id=x.entry_id, code=x.code, message=x.message, field=x.field)
        for x in result.failed
    ]
    return _json(m.BatchView(succeeded=list(result.succeeded), failed=failed))


def _base64_unless_text(body: bytes, *, both: bool) -> str | None:
    """A received body's `body_base64`: only when it is not UTF-8 (then `body` is null), since
    sending both made every answer a third larger than its bodies' base64 (a 1 MiB text message
    was 2.4 MB of JSON). `both` keeps the earlier answer, `body_base64` in every message, for
    clients that read only it."""
    if both or _text_or_none(body) is None:
        return base64.b64encode(body).decode()
    return None


def _text_or_none(body: bytes) -> str | None:
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


# --- queues -----------------------------------------------------------------------------------


async def create(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    queue = await f.create_queue(c, _parse(m.CreateQueueBody, await r.read()))
    return _json(queue_view(queue), status=201)


async def listing(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    queues, more = await f.list_queues(c, _parse(m.ListQuery, dict(r.query)))
    return _json(m.QueueList(queues=[queue_view(q) for q in queues], next_token=more))


async def get(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    queue, stats = await f.get_queue(c, r.match_info["name"])
    counts = m.QueueCounts(
        visible=stats.visible,
        in_flight=stats.in_flight,
        delayed=stats.delayed,
        dead_letter_pending=stats.dead_letter_pending,
    )
    view = queue_view(queue, counts)
    if stats.oldest_sent_at_ms is not None:
        age_s = max(0, f.clock.now_ms() - stats.oldest_sent_at_ms) // 1000
        view = view.model_copy(update={"oldest_message_age_s": age_s})
    return _json(view)


async def update(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    body = _parse(m.QueueAttributesBody, await r.read())
    return _json(queue_view(await f.update_queue(c, r.match_info["name"], body)))


async def delete_queue(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    await f.delete_queue(c, r.match_info["name"])
    return web.Response(status=204)


async def purge(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    await f.purge(c, r.match_info["name"])
    return web.Response(status=204)


# --- messages ---------------------------------------------------------------------------------


async def send_one(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    body = await _send_body(r)
    entry = m.SendBatchEntry(id="message", **body.model_dump())
    key = r.headers.get("Idempotency-Key")
    if key is not None and not (
        1 <= len(key) <= limits.TOKEN_MAX_CHARS and key.isprintable() and " " not in key
    ):
        raise InvalidParameter(
            "Idempotency-Key must be 1-128 printable characters", field="Idempotency-Key"
        )
    result, _ = await f.send(c, r.match_info["name"], [entry], key, stamp_trace=True)
    if result.failed:  # the entry's own error, as a batch answers it
        failure = result.failed[0]
        raise error_from_code(failure.code, failure.message, field=failure.field)
    sent = result.sent[0]
    view = m.SentView(
        message_id=sent.message_id,
        sequence_number=sent.sequence_number,
        duplicate=sent.duplicate,
    )
    return _json(view, status=201)


async def send_batch(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    body = _parse(m.SendBatchBody, await r.read())
    if len(body.entries) > f.settings.batch_max:
        raise InvalidParameter(f"at most {f.settings.batch_max} entries", field="entries")
    if len({e.id for e in body.entries}) != len(body.entries):
        raise InvalidParameter("entry ids must be distinct", field="entries")
    result, _ = await f.send(c, r.match_info["name"], body.entries, None, stamp_trace=True)
    sent = {
        s.entry_id: m.SentView(
            message_id=s.message_id, sequence_number=s.sequence_number, duplicate=s.duplicate
        )
        for s in result.sent
    }
    failed = [
        m.BatchEntryFailure(id=x.entry_id, code=x.code, message=x.message, field=x.field)
        for x in result.failed
    ]
    return _json(m.SentBatchView(sent=sent, failed=failed))


async def _send_body(r: web.Request) -> m.SendBody:
    """A send's JSON body, or a raw one (`application/octet-stream`: the bytes are the message,
    its options in the query), which spares a binary body base64's third more on the wire."""
    if r.content_type == "application/octet-stream":
        options = _parse(m.RawSendQuery, dict(r.query))
        encoded = base64.b64encode(await r.read()).decode()
        return m.SendBody(body_base64=encoded, **options.model_dump(exclude_none=True))
    if r.query:  # not ignored: an option given there and dropped would be a silent surprise
        raise InvalidParameter(
            "a JSON send takes its options in its body; query options are for "
            "Content-Type: application/octet-stream sends",
            field=next(iter(r.query)),
        )
    return _parse(m.SendBody, await r.read())


async def receive(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    query = _parse(m.ReceiveQuery, dict(r.query))
    received = await f.receive_messages(c, r.match_info["name"], query)
    views = [
        m.ReceivedView(
            message_id=o.message.message_id,
            receipt_handle=o.message.receipt_handle,
            body=_text_or_none(o.body),
            body_base64=_base64_unless_text(o.body, both=query.bodies == "both"),
            attributes=o.attributes,
            trace_context=message_tracing.view_of(o.attributes),
            receive_count=o.message.receive_count,
            sent_at_ms=o.message.sent_at_ms,
            first_received_at_ms=o.message.first_received_at_ms,
            group_id=o.message.group_id,
            sequence_number=o.message.sequence_number,
        )
        for o in received.opened
    ]
    undeliverable = [
        m.UndeliverableView(message_id=u.message_id, reason=u.reason)
        for u in received.undeliverable
    ]
    return _json(m.ReceivedList(messages=views, undeliverable=undeliverable))


async def delete_one(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    entry = _parse(
        m.DeleteEntry, {"id": "message", "receipt_handle": r.match_info["receipt_handle"]}
    )
    result = await f.delete(c, r.match_info["name"], [entry])
    if result.failed:
        failure = result.failed[0]
        raise InvalidParameter(failure.message, field="receipt_handle")
    return web.Response(status=204)


async def visibility_one(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    body = _parse(m.VisibilityBody, await r.read())
    entry = m.VisibilityEntry(
        id="message",
        receipt_handle=r.match_info["receipt_handle"],
        visibility_timeout_s=body.visibility_timeout_s,
    )
    result = await f.change_visibility(c, r.match_info["name"], [entry])
    if result.failed:
        raise InvalidParameter(result.failed[0].message, field="receipt_handle")
    return web.Response(status=204)


async def delete_batch(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    body = _parse(m.DeleteBatchBody, await r.read())
    return _batch(await f.delete(c, r.match_info["name"], body.entries))


async def visibility(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    body = _parse(m.VisibilityBatchBody, await r.read())
    return _batch(await f.change_visibility(c, r.match_info["name"], body.entries))


async def status(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
    found = await f.status(c, r.match_info["name"], r.match_info["message_id"])
    result = None if found.result is None else base64.b64encode(found.result).decode()
    return _json(
        m.MessageStatusView(
            message_id=found.message_id,
            state=found.state,
            receive_count=found.receive_count,
            at_ms=found.at_ms,
            result_base64=result,
        )
    )


# --- the route table --------------------------------------------------------------------------

ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("POST", "/v1/queues", create),
    ("GET", "/v1/queues", listing),
    ("GET", "/v1/queues/{name}", get),
    ("PATCH", "/v1/queues/{name}", update),
    ("DELETE", "/v1/queues/{name}", delete_queue),
    ("POST", MESSAGES, send_one),
    ("POST", MESSAGES + ":batch", send_batch),
    ("GET", MESSAGES, receive),
    ("DELETE", MESSAGES, purge),
    ("DELETE", MESSAGES + "/{receipt_handle}", delete_one),
    ("PATCH", MESSAGES + "/{receipt_handle}", visibility_one),
    ("POST", MESSAGES + ":delete", delete_batch),
    ("POST", MESSAGES + ":visibility", visibility),
    ("GET", "/v1/queues/{name}/status/{message_id}", status),
)


def add_routes(app: web.Application, routes: tuple[tuple[str, str, Handler], ...] = ROUTES) -> None:
    """`routes` (this module's table by default; app.py adds task_routes.py's) behind
    `_served`."""
    for method, path, handler in routes:
        app.router.add_route(method, path, _served(handler), expect_handler=meet_expectation)


def _check_path(request: web.Request) -> None:
    name = request.match_info.get("name")
    if name is not None and not (_QUEUE_NAME.fullmatch(name) and len(name) <= 80):
        raise InvalidParameter("not a queue name", field="name")
    handle = request.match_info.get("receipt_handle")
    if handle is not None and not 1 <= len(handle) <= 1024:
        raise InvalidParameter("not a receipt handle", field="receipt_handle")


def _served(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`handler` behind authentication and the path checks, its errors rendered, its status
    and latency counted by route."""

    async def serve(request: web.Request) -> web.Response:
        frontend = request.app[FRONTEND]
        started = time.monotonic()
        try:
            caller = await frontend.authenticate(await signed_request(request))
            _check_path(request)
            response = await handler(frontend, caller, request)
        except RaftqError as error:
            request_log.note_error(request, error)
            response = error_response(error)
        except ValidationError as error:  # a value the internal models refuse
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or None
            response = error_response(InvalidParameter(first["msg"], field=where))
        except web.HTTPRequestEntityTooLarge:
            limit = frontend.settings.max_body_bytes
            response = error_response(
                PayloadTooLarge(f"the body is over {limit} bytes", field="body")
            )
        route = f"{request.method} {request.match_info.route.resource.canonical}"  # type: ignore[union-attr]
        frontend.usage.request("rest", route, response.status, time.monotonic() - started)
        return response

    return serve

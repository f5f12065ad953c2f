"""The frontend's public REST API (aiohttp): authenticate, authorize, rate-limit, seal, forward.

Every `/v1/` request is verified as AWS SigV4 (sigv4.py) against the key's secret from the
metadata service, then its principal's grants decide (401 says the signature is wrong, 403 that
the grant is missing). Bodies are validated by the models of rest_models.py, which also make
`/openapi.json`. Message bodies and attributes are sealed here (envelope.py): backends only see
ciphertext. Every send carries a dedup id (the caller's `dedup_id` or `Idempotency-Key`, else
one drawn here), so a send whose outcome is unknown answers 503 naming the key to retry with.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from raftq.common import commands as backend
from raftq.common import limits
from raftq.common.clock import Clock
from raftq.common.errors import (
    AccessDenied,
    ClientError,
    InvalidParameter,
    NotLeader,
    OutcomeUnknown,
    PayloadTooLarge,
    QueueNotFound,
    RaftqError,
    Throttled,
    Unauthenticated,
    error_from_code,
)
from raftq.common.metadata_api import (
    CreateQueueRequest,
    DeleteQueueRequest,
    KeyCredentials,
    MetadataClient,
    SetQueueRequest,
)
from raftq.common.metadata_models import Action, Queue
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes, RedrivePolicy
from raftq.common.results import (
    BatchResult,
    Failure,
    MessageStatus,
    PurgeResult,
    QueueStats,
    ReceivedMessage,
    ReceiveResult,
    SendResult,
)
from raftq.frontend import rest_models as m
from raftq.frontend.caches import KeyCache
from raftq.frontend.envelope import QueueCipher
from raftq.frontend.forwarding import Forwarder
from raftq.frontend.openapi import openapi_document
from raftq.frontend.rate_limit import RateLimiter
from raftq.frontend.settings import FrontendSettings
from raftq.frontend.sigv4 import REST_MAX_SKEW_S, HttpRequest, verify
from raftq.frontend.usage import Usage

ModelT = TypeVar("ModelT", bound=BaseModel)


class SendOutcomeUnknown(OutcomeUnknown):
    """Raised when a send may or may not have been stored; `retry_keys` are the dedup ids to
    send again with (by entry id), so a retry stores nothing twice."""

    def __init__(self, message: str, *, retry_keys: dict[str, str]) -> None:
        super().__init__(message)
        self.retry_keys = retry_keys


@dataclass(frozen=True)
class OpenedMessage:
    """A received message with its body and attributes opened."""

    message: ReceivedMessage
    body: bytes
    attributes: dict[str, m.MessageAttribute]
    sender_id: str | None
    trace_header: str | None
    dead_letter_source: str | None  # the name of the queue it was dead-lettered from


class Frontend:
    def __init__(
        self,
        settings: FrontendSettings,
        *,
        keys: KeyCache,
        forwarder: Forwarder,
        metadata: MetadataClient,
        clock: Clock,
        usage: Usage | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.forwarder = forwarder
        self.metadata = metadata
        self.clock = clock
        self.limiter = RateLimiter(clock)
        self.usage = usage or Usage(None)
        self._background: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beside the requests (a message move task) until it ends or `close`."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def record(
        self, caller: KeyCredentials, queue: str, action: str, messages: int, size: int
    ) -> None:
        self.usage.record(
            at_ms=self.clock.now_ms(),
            key=caller.key_id,
            principal=caller.principal_id,
            queue=queue,
            action=action,
            messages=messages,
            size=size,
        )

    # --- the request pipeline -----------------------------------------------------------------

    async def authenticate(
        self, request: web.Request, max_skew_s: int = REST_MAX_SKEW_S
    ) -> KeyCredentials:
        body = await request.read()
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        http = HttpRequest(
            request.method, request.raw_path.split("?", 1)[0], request.query_string, headers, body
        )
        key_id = _key_id(http.header("Authorization"))
        credentials = await self.keys.get(key_id) if key_id else None
        now = datetime.fromtimestamp(self.clock.now_ms() / 1000, tz=UTC)

        def secret_of(candidate: str) -> str | None:
            return credentials.secret if credentials and candidate == credentials.key_id else None

        verify(http, secret_of, now, max_skew_s)
        assert credentials is not None
        return credentials

    def authorize(self, caller: KeyCredentials, queue: str, action: Action) -> None:
        if not any(grant.covers(queue, action) for grant in caller.grants):
            raise AccessDenied(
                f"{caller.principal_id} has no {action} grant on queue {queue!r}", field="name"
            )

    def throttle(self, caller: KeyCredentials, queue: str, cost: int = 1) -> None:
        decision = self.limiter.take(
            [
                ("key", caller.key_id, self.settings.per_key),
                ("queue", queue, self.settings.per_queue),
            ],
            cost=cost,
        )
        if not decision.allowed:
            raise Throttled("too many requests; retry later", retry_after_s=decision.retry_after_s)

    # --- queues ----------------------------------------------------------------------------------

    async def create_queue(self, caller: KeyCredentials, body: m.CreateQueueBody) -> web.Response:
        self.authorize(caller, body.name, "admin")
        result = await self.metadata.create_queue(
            CreateQueueRequest(
                actor=caller.principal_id,
                name=body.name,
                fifo=body.fifo,
                attributes=_attributes(body.attributes),
            )
        )
        self.forwarder.forget(body.name)
        queue = _queue_of(result)
        return _json(_view(queue), status=201)

    async def get_queue(self, caller: KeyCredentials, name: str) -> web.Response:
        self.authorize(caller, name, "receive")
        forwarded = await self.forwarder.execute(
            name, lambda queue_id: backend.GetQueueStats(now_ms=0, queue=queue_id)
        )
        stats = forwarded.result
        assert isinstance(stats, QueueStats), stats
        counts = m.QueueCounts(
            visible=stats.visible,
            in_flight=stats.in_flight,
            delayed=stats.delayed,
            dead_letter_pending=stats.dead_letter_pending,
        )
        return _json(_view(forwarded.route.queue, counts))

    async def list_queues(self, caller: KeyCredentials, query: m.ListQuery) -> web.Response:
        catalogue = await self.metadata_catalogue()
        names = sorted(
            q
            for q in catalogue
            if q.startswith(query.prefix)
            and (query.next_token is None or q > query.next_token)
            and any(g.covers(q, "admin") or g.covers(q, "receive") for g in caller.grants)
        )
        page = names[: query.limit]
        queues = [_view(catalogue[name]) for name in page]
        more = page[-1] if len(names) > query.limit else None
        return _json(m.QueueList(queues=queues, next_token=more))

    async def metadata_catalogue(self) -> dict[str, Queue]:
        raw = await self.metadata.get("/v1/catalogue")
        queues = [Queue.model_validate_json(json.dumps(q)) for q in (raw or {}).get("queues", [])]
        return {q.name: q for q in queues if q.lifecycle == "active"}

    async def update_queue(
        self, caller: KeyCredentials, name: str, body: m.QueueAttributesBody
    ) -> web.Response:
        self.authorize(caller, name, "admin")
        changes = _changes(body)
        result = await self.metadata.set_queue(
            SetQueueRequest(actor=caller.principal_id, name=name, changes=changes)
        )
        return _json(_view(_queue_of(result)))

    async def delete_queue(self, caller: KeyCredentials, name: str) -> web.Response:
        self.authorize(caller, name, "admin")
        result = await self.metadata.delete_queue(
            DeleteQueueRequest(actor=caller.principal_id, name=name)
        )
        self.forwarder.forget(name)
        if isinstance(result, Failure):
            raise result.to_error()
        return web.Response(status=204)

    async def purge(self, caller: KeyCredentials, name: str) -> web.Response:
        self.authorize(caller, name, "admin")
        forwarded = await self.forwarder.execute(
            name, lambda queue_id: backend.PurgeQueue(now_ms=0, queue=queue_id)
        )
        assert isinstance(forwarded.result, PurgeResult)
        return web.Response(status=204)

    # --- messages -------------------------------------------------------------------------------

    async def send(
        self,
        caller: KeyCredentials,
        name: str,
        entries: list[m.SendBatchEntry],
        idempotency_key: str | None,
    ) -> tuple[SendResult, dict[str, str]]:
        self.authorize(caller, name, "send")
        self.throttle(caller, name, cost=len(entries))
        route = await self.forwarder.route(name)
        cipher = await self.forwarder.cipher(route)
        sealed, dedup_ids = [], {}
        for entry in entries:
            plain = _body_bytes(entry)
            if len(plain) > route.queue.attributes.max_message_bytes:
                raise PayloadTooLarge(
                    f"the message is {len(plain)} bytes; the queue takes up to "
                    f"{route.queue.attributes.max_message_bytes}",
                    field="body",
                )
            dedup_id = entry.dedup_id or (idempotency_key if len(entries) == 1 else None)
            if dedup_id is None and route.queue.fifo and route.queue.attributes.content_based_dedup:
                dedup_id = hashlib.sha256(
                    plain
                ).hexdigest()  # over the plaintext, not the ciphertext
            dedup_id = dedup_id or secrets.token_urlsafe(16)
            dedup_ids[entry.id] = dedup_id
            sealed.append(
                backend.SendEntry(
                    entry_id=entry.id,
                    body=cipher.seal(plain, "body"),
                    attributes=_seal_attributes(
                        cipher, entry.attributes, caller.principal_id, entry.trace_header
                    ),
                    delay_ms=None if entry.delay_s is None else entry.delay_s * 1000,
                    dedup_id=dedup_id,
                    group_id=entry.group_id,
                    priority=entry.priority,
                )
            )
        try:
            forwarded = await self.forwarder.execute(
                name,
                lambda queue_id: backend.SendMessages(
                    now_ms=0, queue=queue_id, entries=tuple(sealed)
                ),
            )
        except OutcomeUnknown as error:
            raise SendOutcomeUnknown(error.message, retry_keys=dedup_ids) from None
        assert isinstance(forwarded.result, SendResult)
        stored = [
            entry
            for entry in sealed
            if entry.entry_id in {s.entry_id for s in forwarded.result.sent}
        ]
        self.record(caller, name, "send", len(stored), sum(len(e.body) for e in stored))
        return forwarded.result, dedup_ids

    async def receive(
        self, caller: KeyCredentials, name: str, query: m.ReceiveQuery
    ) -> web.Response:
        opened = await self.receive_messages(caller, name, query)
        views = [
            m.ReceivedView(
                message_id=o.message.message_id,
                receipt_handle=o.message.receipt_handle,
                body=_text_or_none(o.body),
                body_base64=base64.b64encode(o.body).decode(),
                attributes=o.attributes,
                receive_count=o.message.receive_count,
                sent_at_ms=o.message.sent_at_ms,
                first_received_at_ms=o.message.first_received_at_ms,
                group_id=o.message.group_id,
                sequence_number=o.message.sequence_number,
            )
            for o in opened
        ]
        return _json(m.ReceivedList(messages=views))

    async def receive_messages(
        self, caller: KeyCredentials, name: str, query: m.ReceiveQuery
    ) -> list[OpenedMessage]:
        self.authorize(caller, name, "receive")
        self.throttle(caller, name)
        route = await self.forwarder.route(name)
        wait_s = (
            query.wait_s
            if query.wait_s is not None
            else route.queue.attributes.receive_wait_ms // 1000
        )
        forwarded = await self.forwarder.execute(
            name,
            lambda queue_id: backend.ReceiveMessages(
                now_ms=0,
                queue=queue_id,
                max_messages=query.max,
                visibility_timeout_ms=None
                if query.visibility_timeout_s is None
                else query.visibility_timeout_s * 1000,
                attempt_id=query.attempt_id,
            ),
            wait_ms=wait_s * 1000,
        )
        result = forwarded.result
        assert isinstance(result, ReceiveResult)
        opened = []
        for message in result.messages:
            # A dead-lettered message keeps the ciphertext its source queue sealed.
            cipher = await self.forwarder.cipher_of_message(
                forwarded.route, message.dead_letter_source
            )
            attributes, system = _open_attributes(cipher, message.attributes)
            opened.append(
                OpenedMessage(
                    message=message,
                    body=cipher.open(message.body, "body"),
                    attributes=attributes,
                    sender_id=system.get("sender_id"),
                    trace_header=system.get("trace_header"),
                    dead_letter_source=None
                    if message.dead_letter_source is None
                    else self.forwarder.name_of(message.dead_letter_source),
                )
            )
        self.record(caller, name, "receive", len(opened), sum(len(m.body) for m in result.messages))
        return opened

    async def delete(
        self, caller: KeyCredentials, name: str, entries: list[m.DeleteEntry]
    ) -> BatchResult:
        self.authorize(caller, name, "delete")
        self.throttle(caller, name, cost=len(entries))
        forwarded = await self.forwarder.execute(
            name,
            lambda queue_id: backend.DeleteMessages(
                now_ms=0,
                queue=queue_id,
                entries=tuple(
                    backend.DeleteEntry(
                        entry_id=e.id, receipt_handle=e.receipt_handle, result=_result(e)
                    )
                    for e in entries
                ),
            ),
        )
        assert isinstance(forwarded.result, BatchResult)
        self.record(caller, name, "delete", len(forwarded.result.succeeded), 0)
        return forwarded.result

    async def change_visibility(
        self, caller: KeyCredentials, name: str, entries: list[m.VisibilityEntry]
    ) -> BatchResult:
        self.authorize(caller, name, "receive")
        self.throttle(caller, name, cost=len(entries))
        forwarded = await self.forwarder.execute(
            name,
            lambda queue_id: backend.ChangeVisibility(
                now_ms=0,
                queue=queue_id,
                entries=tuple(
                    backend.VisibilityEntry(
                        entry_id=e.id,
                        receipt_handle=e.receipt_handle,
                        visibility_timeout_ms=e.visibility_timeout_s * 1000,
                    )
                    for e in entries
                ),
            ),
        )
        assert isinstance(forwarded.result, BatchResult)
        return forwarded.result

    async def status(self, caller: KeyCredentials, name: str, message_id: str) -> web.Response:
        self.authorize(caller, name, "receive")
        if not 1 <= len(message_id) <= 64 or not message_id.replace("-", "").isalnum():
            raise InvalidParameter("not a message id", field="message_id")
        forwarded = await self.forwarder.execute(
            name,
            lambda queue_id: backend.GetMessageStatus(
                now_ms=0, queue=queue_id, message_id=message_id
            ),
        )
        status = forwarded.result
        assert isinstance(status, MessageStatus)
        result = None if status.result is None else base64.b64encode(status.result).decode()
        return _json(
            m.MessageStatusView(
                message_id=status.message_id,
                state=status.state,
                receive_count=status.receive_count,
                at_ms=status.at_ms,
                result_base64=result,
            )
        )


# --- conversions ------------------------------------------------------------------------------


def _key_id(authorization: str | None) -> str | None:
    if authorization is None or "Credential=" not in authorization:
        return None
    key_id = authorization.split("Credential=", 1)[1].split("/", 1)[0]
    return key_id if key_id.isalnum() and len(key_id) <= 128 else None


def _result(entry: m.DeleteEntry) -> bytes | None:
    if entry.result_base64 is None:
        return None
    try:
        return base64.b64decode(entry.result_base64, validate=True)
    except ValueError:
        raise InvalidParameter("result_base64 is not base64", field="result_base64") from None


def _body_bytes(entry: m.SendBody) -> bytes:
    try:
        return entry.body_bytes()
    except ValueError as error:
        raise InvalidParameter(str(error), field="body_base64") from None


def _seal_attributes(
    cipher: QueueCipher,
    attributes: dict[str, m.MessageAttribute],
    sender_id: str,
    trace_header: str | None,
) -> bytes:
    """Version 2 of the sealed attributes: the caller's attributes and the system attributes
    SQS reports (who sent it, its trace header)."""
    system = {"sender_id": sender_id}
    if trace_header is not None:
        system["trace_header"] = trace_header
    plain = {
        "v": 2,
        "user": {k: v.model_dump() for k, v in attributes.items()},
        "system": system,
    }
    return cipher.seal(json.dumps(plain, sort_keys=True).encode(), "attributes")


def _open_attributes(
    cipher: QueueCipher, sealed: bytes
) -> tuple[dict[str, m.MessageAttribute], dict[str, str]]:
    """The caller's attributes and the system attributes. Version 1 (before system attributes
    were kept) is the caller's attribute map alone, or empty bytes when there were none."""
    if not sealed:
        return {}, {}
    raw = json.loads(cipher.open(sealed, "attributes"))
    if raw.get("v") == 2:
        user, system = raw["user"], raw["system"]
    else:
        user, system = raw, {}
    return {k: m.MessageAttribute.model_validate(v) for k, v in user.items()}, system


def _text_or_none(body: bytes) -> str | None:
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def _attributes(body: m.QueueAttributesBody) -> QueueAttributes:
    return QueueAttributeChanges.model_validate(_change_fields(body)).applied_to(QueueAttributes())


def _changes(body: m.QueueAttributesBody) -> QueueAttributeChanges:
    fields = _change_fields(body)
    if not fields:
        raise InvalidParameter("name at least one attribute to change", field="attributes")
    return QueueAttributeChanges.model_validate(fields)


def _change_fields(body: m.QueueAttributesBody) -> dict[str, Any]:
    seconds = {
        "visibility_timeout_s": "visibility_timeout_ms",
        "retention_s": "retention_ms",
        "delay_s": "delay_ms",
        "receive_wait_s": "receive_wait_ms",
        "dedup_window_s": "dedup_window_ms",
    }
    fields: dict[str, Any] = {
        ms: getattr(body, s) * 1000 for s, ms in seconds.items() if getattr(body, s) is not None
    }
    if body.max_message_bytes is not None:
        fields["max_message_bytes"] = body.max_message_bytes
    if body.content_based_dedup is not None:
        fields["content_based_dedup"] = body.content_based_dedup
    if body.dead_letter is not None:
        fields["redrive"] = RedrivePolicy(
            dead_letter_queue=body.dead_letter.queue,
            max_receive_count=body.dead_letter.max_receive_count,
        )
    return fields


def _view(queue: Queue, counts: m.QueueCounts | None = None) -> m.QueueView:
    a = queue.attributes
    dead_letter = (
        None
        if a.redrive is None
        else m.DeadLetterPolicy(
            queue=a.redrive.dead_letter_queue, max_receive_count=a.redrive.max_receive_count
        )
    )
    return m.QueueView(
        name=queue.name,
        fifo=queue.fifo,
        attributes=m.QueueAttributesBody(
            visibility_timeout_s=a.visibility_timeout_ms // 1000,
            retention_s=a.retention_ms // 1000,
            delay_s=a.delay_ms // 1000,
            max_message_bytes=a.max_message_bytes,
            receive_wait_s=a.receive_wait_ms // 1000,
            dedup_window_s=a.dedup_window_ms // 1000,
            content_based_dedup=a.content_based_dedup,
            dead_letter=dead_letter,
        ),
        created_at_ms=queue.created_at_ms,
        counts=counts,
    )


def _queue_of(result: object) -> Queue:
    if isinstance(result, Failure):
        raise result.to_error()
    queue = getattr(result, "queue", None)
    assert isinstance(queue, Queue), result
    return queue


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(exclude_none=False),
        status=status,
        content_type="application/json",
    )


# --- the aiohttp application ----------------------------------------------------------------------

_STATUS: Final[tuple[tuple[type[RaftqError], int], ...]] = (
    (Unauthenticated, 401),
    (AccessDenied, 403),
    (QueueNotFound, 404),
    (PayloadTooLarge, 413),
    (Throttled, 429),
    (ClientError, 400),
    (NotLeader, 503),
    (RaftqError, 503),
)


def error_response(error: RaftqError) -> web.Response:
    status = next(code for kind, code in _STATUS if isinstance(error, kind))
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
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, Throttled) else {}
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


Handler = Callable[[Frontend, KeyCredentials, web.Request], Awaitable[web.Response]]


def _routes() -> list[tuple[str, str, Handler]]:
    messages = "/v1/queues/{name}/messages"

    async def create(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        return await f.create_queue(c, _parse(m.CreateQueueBody, await r.read()))

    async def listing(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        return await f.list_queues(c, _parse(m.ListQuery, dict(r.query)))

    async def get(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        return await f.get_queue(c, r.match_info["name"])

    async def update(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        return await f.update_queue(
            c, r.match_info["name"], _parse(m.QueueAttributesBody, await r.read())
        )

    async def delete_queue(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        return await f.delete_queue(c, r.match_info["name"])

    async def send_one(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        body = _parse(m.SendBody, await r.read())
        entry = m.SendBatchEntry(id="message", **body.model_dump())
        key = r.headers.get("Idempotency-Key")
        if key is not None and not (
            1 <= len(key) <= limits.TOKEN_MAX_CHARS and key.isprintable() and " " not in key
        ):
            raise InvalidParameter(
                "Idempotency-Key must be 1-128 printable characters", field="Idempotency-Key"
            )
        result, _ = await f.send(c, r.match_info["name"], [entry], key)
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
        result, _ = await f.send(c, r.match_info["name"], body.entries, None)
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

    async def receive(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        return await f.receive(c, r.match_info["name"], _parse(m.ReceiveQuery, dict(r.query)))

    async def purge(f: Frontend, c: KeyCredentials, r: web.Request) -> web.Response:
        return await f.purge(c, r.match_info["name"])

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
        return await f.status(c, r.match_info["name"], r.match_info["message_id"])

    return [
        ("POST", "/v1/queues", create),
        ("GET", "/v1/queues", listing),
        ("GET", "/v1/queues/{name}", get),
        ("PATCH", "/v1/queues/{name}", update),
        ("DELETE", "/v1/queues/{name}", delete_queue),
        ("POST", messages, send_one),
        ("POST", messages + ":batch", send_batch),
        ("GET", messages, receive),
        ("DELETE", messages, purge),
        ("DELETE", messages + "/{receipt_handle}", delete_one),
        ("PATCH", messages + "/{receipt_handle}", visibility_one),
        ("POST", messages + ":delete", delete_batch),
        ("POST", messages + ":visibility", visibility),
        ("GET", "/v1/queues/{name}/status/{message_id}", status),
    ]


_QUEUE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")


def _check_path(request: web.Request) -> None:
    name = request.match_info.get("name")
    if name is not None and not (_QUEUE_NAME.fullmatch(name) and len(name) <= 80):
        raise InvalidParameter("not a queue name", field="name")
    handle = request.match_info.get("receipt_handle")
    if handle is not None and not 1 <= len(handle) <= 1024:
        raise InvalidParameter("not a receipt handle", field="receipt_handle")


def _batch(result: BatchResult) -> web.Response:
    failed = [
        m.BatchEntryFailure(id=x.entry_id, code=x.code, message=x.message, field=x.field)
        for x in result.failed
    ]
    return _json(m.BatchView(succeeded=list(result.succeeded), failed=failed))


FRONTEND: Final = web.AppKey("frontend", Frontend)


def create_app(
    settings: FrontendSettings, startup: Callable[[web.Application], AsyncIterator[None]]
) -> web.Application:
    """The application; `startup` (a cleanup context) opens its connections and sets
    `app[FRONTEND]`."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app.cleanup_ctx.append(startup)
    document = json.dumps(openapi_document())

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            frontend = request.app[FRONTEND]
            started = time.monotonic()
            try:
                caller = await frontend.authenticate(request)
                _check_path(request)
                response = await handler(frontend, caller, request)
            except RaftqError as error:
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
            frontend.usage.request(route, response.status, time.monotonic() - started)
            return response

        return serve

    for method, path, handler in _routes():
        app.router.add_route(method, path, wrap(handler))

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=document, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(request: web.Request) -> web.Response:
        """Ready when the metadata group answers: without it no request can be authenticated."""
        try:
            await request.app[FRONTEND].metadata.get("/readyz")
        except RaftqError as error:
            return web.json_response({"ready": False, "reason": error.message}, status=503)
        return web.json_response({"ready": True})

    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def metrics_app(usage: Usage) -> web.Application:
    """`/metrics` on its own listener: it names access keys and queues, so it does not belong
    on the public port."""
    app = web.Application()

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=usage.render(), content_type="text/plain", charset="utf-8")

    app.router.add_get("/metrics", metrics)
    return app

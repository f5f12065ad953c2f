"""The service both public APIs share: authenticate, authorize, throttle, seal, forward.

The REST routes (rest_routes.py) and the SQS actions (sqs/) parse their own input into the
models of rest_models.py, call this service, and render what it returns; it knows no HTTP.
Its rules:
- Every request is verified as AWS SigV4 (raftq/common/sigv4.py) against the key's secret from
  the metadata service, then its principal's grants decide: `authenticate` raises
  `Unauthenticated` (the signature is wrong) or `Throttled` (too many unseen key ids are being
  looked up: caches.py), `authorize` raises `AccessDenied` (the grant is missing). Each
  operation authorizes before it reads any other input: no grant, nothing learned.
- Message bodies and attributes are sealed here (raftq/common/envelope.py) before they leave,
  and opened here on delivery: backends only see ciphertext.
- Every send carries a dedup id (the entry's `dedup_id`, the single send's `Idempotency-Key`, the
  body's hash on a content-based-dedup FIFO queue, else one drawn here), so a send whose outcome
  is unknown raises `SendOutcomeUnknown` naming the keys to retry with, and a retry with them
  stores nothing twice.
- Operations reach their queue's backend leader through `Forwarder.execute(name, make, wait_ms)`.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind

from raftq.common import commands as backend
from raftq.common import tracing
from raftq.common.clock import Clock
from raftq.common.envelope import QueueCipher
from raftq.common.errors import (
    AccessDenied,
    InvalidParameter,
    OutcomeUnknown,
    Throttled,
)
from raftq.common.metadata_api import (
    CreateQueueRequest,
    DeleteQueueRequest,
    KeyCredentials,
    MetadataClient,
    SetQueueRequest,
)
from raftq.common.metadata_models import Action, Queue
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
from raftq.common.sigv4 import REST_MAX_SKEW_S, HttpRequest, check_form, check_signature
from raftq.frontend import message_tracing
from raftq.frontend import rest_models as m
from raftq.frontend.caches import KeyCache
from raftq.frontend.forwarding import Forwarder
from raftq.frontend.message_sealing import sealed_entries
from raftq.frontend.rate_limit import RateLimiter
from raftq.frontend.received import Received, open_received
from raftq.frontend.rest_attributes import attributes_of, changes_of
from raftq.frontend.settings import FrontendSettings
from raftq.frontend.usage import Usage


class SendOutcomeUnknown(OutcomeUnknown):
    """Raised when a send may or may not have been stored; `retry_keys` are the dedup ids to
    send again with (by entry id), so a retry stores nothing twice."""

    def __init__(self, message: str, *, retry_keys: dict[str, str]) -> None:
        super().__init__(message)
        self.retry_keys = retry_keys


class Frontend:
    """One frontend's service: its caches, rate limits, forwarder and usage records."""

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
        self, request: HttpRequest, max_skew_s: int = REST_MAX_SKEW_S
    ) -> KeyCredentials:
        now = datetime.fromtimestamp(self.clock.now_ms() / 1000, tz=UTC)
        return await authenticate(request, self.keys.get, now, max_skew_s)

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

    async def create_queue(self, caller: KeyCredentials, body: m.CreateQueueBody) -> Queue:
        self.authorize(caller, body.name, "admin")
        result = await self.metadata.create_queue(
            CreateQueueRequest(
                actor=caller.principal_id,
                name=body.name,
                fifo=body.fifo,
                attributes=attributes_of(body.attributes),
            )
        )
        self.forwarder.forget(body.name)
        return queue_of(result)

    async def get_queue(self, caller: KeyCredentials, name: str) -> tuple[Queue, QueueStats]:
        """The queue and its exact counts, read by its backend leader."""
        self.authorize(caller, name, "receive")
        forwarded = await self.forwarder.execute(
            name, lambda queue_id: backend.GetQueueStats(now_ms=0, queue=queue_id)
        )
        stats = forwarded.result
        assert isinstance(stats, QueueStats), stats
        return forwarded.route.queue, stats

    async def list_queues(
        self, caller: KeyCredentials, query: m.ListQuery
    ) -> tuple[list[Queue], str | None]:
        """One page of the queues the caller may see (an admin or receive grant), by name, and
        the token of the next page when there is one."""
        catalogue = await self.metadata_catalogue()
        names = sorted(
            q
            for q in catalogue
            if q.startswith(query.prefix)
            and (query.next_token is None or q > query.next_token)
            and any(g.covers(q, "admin") or g.covers(q, "receive") for g in caller.grants)
        )
        page = names[: query.limit]
        more = page[-1] if len(names) > query.limit else None
        return [catalogue[name] for name in page], more

    async def metadata_catalogue(self) -> dict[str, Queue]:
        raw = await self.metadata.get("/v1/catalogue")
        queues = [Queue.model_validate_json(json.dumps(q)) for q in (raw or {}).get("queues", [])]
        return {q.name: q for q in queues if q.lifecycle == "active"}

    async def update_queue(
        self, caller: KeyCredentials, name: str, body: m.QueueAttributesBody
    ) -> Queue:
        self.authorize(caller, name, "admin")
        changes = changes_of(body)
        result = await self.metadata.set_queue(
            SetQueueRequest(actor=caller.principal_id, name=name, changes=changes)
        )
        self.forwarder.forget(name)  # its cached route holds the old attributes
        return queue_of(result)

    async def delete_queue(self, caller: KeyCredentials, name: str) -> None:
        self.authorize(caller, name, "admin")
        result = await self.metadata.delete_queue(
            DeleteQueueRequest(actor=caller.principal_id, name=name)
        )
        self.forwarder.forget(name)
        if isinstance(result, Failure):
            raise result.to_error()

    async def purge(self, caller: KeyCredentials, name: str) -> None:
        self.authorize(caller, name, "admin")
        forwarded = await self.forwarder.execute(
            name, lambda queue_id: backend.PurgeQueue(now_ms=0, queue=queue_id)
        )
        assert isinstance(forwarded.result, PurgeResult)

    # --- messages -------------------------------------------------------------------------------

    async def send(
        self,
        caller: KeyCredentials,
        name: str,
        entries: list[m.SendBatchEntry],
        idempotency_key: str | None,
        *,
        stamp_trace: bool = False,
    ) -> tuple[SendResult, dict[str, str]]:
        """What the backend stored, and the dedup id each entry was sent with (by entry id).
        `stamp_trace`: entries without a trace context carry the send span's (the REST API)."""
        self.authorize(caller, name, "send")
        self.throttle(caller, name, cost=len(entries))
        entries = message_tracing.carried(name, entries)
        with message_tracing.send_span(name, entries) as span:
            if stamp_trace:
                entries = message_tracing.stamped(span, entries)
            result, dedup_ids = await self._send(caller, name, entries, idempotency_key)
            message_tracing.sent(span, result)
        return result, dedup_ids

    async def _send(
        self,
        caller: KeyCredentials,
        name: str,
        entries: list[m.SendBatchEntry],
        idempotency_key: str | None,
    ) -> tuple[SendResult, dict[str, str]]:
        route = await self.forwarder.route(name)
        cipher = await self.forwarder.cipher(route)
        sealed, dedup_ids = sealed_entries(
            route.queue,
            cipher,
            entries,
            sender_id=caller.principal_id,
            idempotency_key=idempotency_key,
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

    async def receive_messages(
        self, caller: KeyCredentials, name: str, query: m.ReceiveQuery
    ) -> Received:
        """The messages received, opened; those that cannot be opened are listed apart
        (received.py) and stay in flight."""
        self.authorize(caller, name, "receive")
        self.throttle(caller, name)
        with tracing.messaging_span("receive", "receive", name, SpanKind.CONSUMER) as span:
            received = await self._receive(caller, name, query)
            if span is not None:
                message_tracing.received(span, received)
        return received

    async def _receive(self, caller: KeyCredentials, name: str, query: m.ReceiveQuery) -> Received:
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

        async def cipher_of(message: ReceivedMessage) -> QueueCipher:
            # A dead-lettered message keeps the ciphertext its source queue sealed.
            return await self.forwarder.cipher_of_message(
                forwarded.route, message.dead_letter_source
            )

        received = await open_received(name, result.messages, cipher_of, self.forwarder.name_of)
        self.usage.undeliverable(name, len(received.undeliverable))
        self.record(
            caller,
            name,
            "receive",
            len(received.opened),
            sum(len(o.message.body) for o in received.opened),
        )
        return received

    async def delete(
        self, caller: KeyCredentials, name: str, entries: list[m.DeleteEntry]
    ) -> BatchResult:
        self.authorize(caller, name, "delete")
        self.throttle(caller, name, cost=len(entries))
        with tracing.messaging_span("delete", "settle", name, SpanKind.CLIENT, count=len(entries)):
            forwarded = await self._delete(name, entries)
        self.record(caller, name, "delete", len(forwarded.succeeded), 0)
        return forwarded

    async def _delete(self, name: str, entries: list[m.DeleteEntry]) -> BatchResult:
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

    async def status(self, caller: KeyCredentials, name: str, message_id: str) -> MessageStatus:
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
        return status


def queue_of(result: object) -> Queue:
    """The queue a metadata write answered with; its failure raised as its error."""
    if isinstance(result, Failure):
        raise result.to_error()
    queue = getattr(result, "queue", None)
    assert isinstance(queue, Queue), result
    return queue


# --- conversions ------------------------------------------------------------------------------


async def authenticate(
    request: HttpRequest,
    lookup: Callable[[str], Awaitable[KeyCredentials | None]],
    now: datetime,
    max_skew_s: int,
) -> KeyCredentials:
    """The caller's key, once `request`'s SigV4 signature verified. The checks that need no
    secret come first: a malformed, stale or mis-scoped request costs no `lookup` (a metadata
    round trip for a key that is not cached)."""
    claimed = check_form(request, now, max_skew_s)
    credentials = await lookup(claimed.key_id)
    check_signature(request, claimed, credentials.secret if credentials else None)
    assert credentials is not None
    return credentials


def _result(entry: m.DeleteEntry) -> bytes | None:
    if entry.result_base64 is None:
        return None
    try:
        return base64.b64decode(entry.result_base64, validate=True)
    except ValueError:
        raise InvalidParameter("result_base64 is not base64", field="result_base64") from None

"""The task layer's service: submit, lease, heartbeat, finish, cancel, read and rate-limit tasks
of a queue, over the frontend's pipeline (service.py: authorize, throttle, seal, forward).

Its rules, beside the service's:
- A task is a message of a standard queue whose send carries a `TaskSpec`; its id is the
  message id. Every submission carries a dedup id (the idempotency key, else one drawn here),
  so one whose outcome is unknown raises `SendOutcomeUnknown` naming the key to retry with.
- A lease is a receive with the worker's id; a heartbeat is a visibility change on its receipt
  handle (the lease); a finish reports an attempt by it.
- Results and errors are sealed with the queue's cipher before they leave (task_sealing.py).
- Errors never name internal queue ids: the backend's, which do, are rewritten to the name.
- Each operation authorizes before it reads anything of the queue.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Final

from opentelemetry.trace import SpanContext, SpanKind

from raftq.common import commands as backend
from raftq.common import tracing
from raftq.common.commands import AnyCommand
from raftq.common.envelope import QueueCipher
from raftq.common.errors import InvalidParameter, OutcomeUnknown, RaftqError, error_from_code
from raftq.common.metadata_api import KeyCredentials
from raftq.common.results import (
    BatchResult,
    EntryFailure,
    ReceivedMessage,
    ReceiveResult,
    SendResult,
)
from raftq.common.tasks_wire import (
    FinishEntry,
    TaskOutcome,
    TaskPage,
    TaskState,
    TaskStatus,
)
from raftq.frontend import message_tracing, task_sealing
from raftq.frontend import task_models as t
from raftq.frontend.caches import QueueRoute
from raftq.frontend.forwarding import Forwarded
from raftq.frontend.received import open_received
from raftq.frontend.rest_models import MessageAttribute, TraceContextBody
from raftq.frontend.service import Frontend, SendOutcomeUnknown

_TASK_ID: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
_TASK_TYPE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,127}")
_CURSOR: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class TaskService:
    def __init__(self, frontend: Frontend) -> None:
        self.f = frontend

    # --- submit -----------------------------------------------------------------------------

    async def submit(
        self,
        caller: KeyCredentials,
        name: str,
        tasks: list[tuple[str, t.TaskFields]],
        *,
        field_prefix: str,
    ) -> SendResult:
        """Submit `tasks` (entry id, task); entries the backend refused are in `failed`."""
        self.f.authorize(caller, name, "send")
        self.f.throttle(caller, name, cost=len(tasks))
        given = [_producer_of(task.trace_context) for _, task in tasks]
        with tracing.messaging_span(
            "submit",
            "send",
            name,
            SpanKind.PRODUCER,
            parent=given[0] if len(given) == 1 else None,
            links=given,
            count=len(tasks),
        ) as span:
            result = await self._submit(
                caller, name, tasks, field_prefix, message_tracing.attributes_of(span)
            )
            if span is not None and len(result.sent) == 1:
                span.set_attribute(tracing.MESSAGE_ID, result.sent[0].message_id)
        return result

    async def _submit(
        self,
        caller: KeyCredentials,
        name: str,
        tasks: list[tuple[str, t.TaskFields]],
        field_prefix: str,
        stamp: dict[str, MessageAttribute],
    ) -> SendResult:
        route = await self.f.forwarder.route(name)
        cipher = await self.f.forwarder.cipher(route)
        sealed, dedup_ids = task_sealing.sealed_tasks(
            route.queue,
            cipher,
            tasks,
            sender_id=caller.principal_id,
            now_ms=self.f.clock.now_ms(),
            field_prefix=field_prefix,
            stamp=stamp,
        )
        try:
            forwarded = await self._execute(
                name,
                route,
                lambda queue_id: backend.SendMessages(
                    now_ms=0, queue=queue_id, entries=tuple(sealed)
                ),
            )
        except OutcomeUnknown as error:
            raise SendOutcomeUnknown(error.message, retry_keys=dedup_ids) from None
        result = forwarded.result
        assert isinstance(result, SendResult), result
        stored = {s.entry_id for s in result.sent if not s.duplicate}
        size = sum(len(e.body) for e in sealed if e.entry_id in stored)
        self.f.record(caller, name, "submit_task", len(stored), size)
        return result.model_copy(update={"failed": _renamed(result.failed, route, name)})

    # --- workers ----------------------------------------------------------------------------

    async def lease(self, caller: KeyCredentials, name: str, body: t.LeaseBody) -> t.LeaseList:
        """Up to `body.max` tasks leased to `body.worker_id`, opened; a long poll of `wait_s`."""
        self.f.authorize(caller, name, "receive")
        self.f.throttle(caller, name)
        with tracing.messaging_span("lease", "receive", name, SpanKind.CONSUMER) as span:
            leased = await self._lease(caller, name, body)
            if span is not None:
                span.set_attribute(tracing.BATCH_COUNT, len(leased.tasks))
                for task in leased.tasks:
                    producer = _producer_of(task.trace_context)
                    if producer is not None:
                        span.add_link(producer, {tracing.MESSAGE_ID: task.task_id})
        return leased

    async def _lease(self, caller: KeyCredentials, name: str, body: t.LeaseBody) -> t.LeaseList:
        route = await self.f.forwarder.route(name)
        lease_ms = (
            route.queue.attributes.visibility_timeout_ms
            if body.lease_s is None
            else round(body.lease_s * 1000)
        )
        # Measured before the lease is taken: the deadline given is never later than the real one.
        started_ms = self.f.clock.now_ms()
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.ReceiveMessages(
                now_ms=0,
                queue=queue_id,
                max_messages=body.max,
                visibility_timeout_ms=lease_ms,
                attempt_id=body.attempt_id,
                worker_id=body.worker_id,
            ),
            wait_ms=body.wait_s * 1000,
        )
        result = forwarded.result
        assert isinstance(result, ReceiveResult), result

        async def cipher_of(message: ReceivedMessage) -> QueueCipher:
            return await self.f.forwarder.cipher_of_message(
                forwarded.route, message.dead_letter_source
            )

        received = await open_received(name, result.messages, cipher_of, self.f.forwarder.name_of)
        leased, undeliverable = [], []
        for opened in received.opened:
            message = opened.message
            try:
                cipher = await cipher_of(message)
                envelope = task_sealing.open_envelope(cipher, message.body)
            except ValueError:
                reason = "its body is not a task (it was sent as a plain message)"
                undeliverable.append(
                    t.UndeliverableTaskView(task_id=message.message_id, reason=reason)
                )
                continue
            leased.append(
                t.LeasedView(
                    task_id=message.message_id,
                    lease=message.receipt_handle,
                    type=envelope.type,
                    payload=envelope.payload,
                    attempt=message.receive_count,
                    max_attempts=envelope.max_attempts,
                    timeout_s=envelope.timeout_s,
                    lease_deadline_ms=started_ms + lease_ms,
                    trace_context=message_tracing.view_of(opened.attributes),
                )
            )
        undeliverable += [
            t.UndeliverableTaskView(task_id=u.message_id, reason=u.reason)
            for u in received.undeliverable
        ]
        self.f.usage.undeliverable(name, len(undeliverable))
        self.f.record(caller, name, "lease_tasks", len(leased), 0)
        return t.LeaseList(tasks=leased, undeliverable=undeliverable)

    async def heartbeat(
        self, caller: KeyCredentials, name: str, leases: list[t.HeartbeatEntry]
    ) -> t.LeaseOutcomes:
        """Each lease extended to `lease_s` from now (a visibility change of its handle)."""
        self.f.authorize(caller, name, "receive")
        self.f.throttle(caller, name, cost=len(leases))
        route = await self.f.forwarder.route(name)
        entries = tuple(
            backend.VisibilityEntry(
                entry_id=f"h{i}",
                receipt_handle=e.lease,
                visibility_timeout_ms=round(e.lease_s * 1000),
            )
            for i, e in enumerate(leases)
        )
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.ChangeVisibility(now_ms=0, queue=queue_id, entries=entries),
        )
        return self._outcomes(forwarded, route, name, [e.lease for e in leases], "h")

    async def finish(
        self, caller: KeyCredentials, name: str, reports: list[t.FinishReport]
    ) -> t.LeaseOutcomes:
        """Each attempt reported by its lease: succeeded (with its result), retry, or failed."""
        self.f.authorize(caller, name, "delete")
        self.f.throttle(caller, name, cost=len(reports))
        attempts = [_producer_of(report.trace_context) for report in reports]
        with tracing.messaging_span(
            "finish",
            "settle",
            name,
            SpanKind.CLIENT,
            parent=attempts[0],
            links=attempts,
            count=len(reports),
        ):
            return await self._finish(caller, name, reports)

    async def _finish(
        self, caller: KeyCredentials, name: str, reports: list[t.FinishReport]
    ) -> t.LeaseOutcomes:
        route = await self.f.forwarder.route(name)
        cipher = await self.f.forwarder.cipher(route)
        entries = []
        for i, report in enumerate(reports):
            where = f"reports.{i}"
            result = None
            if report.outcome == "succeeded" and report.result is not None:
                result = task_sealing.seal_result(cipher, report.result, f"{where}.result", name)
            error = None
            if report.error is not None:
                error = task_sealing.seal_error(cipher, report.error, f"{where}.error", name)
            entries.append(
                FinishEntry(
                    entry_id=f"f{i}",
                    receipt_handle=report.lease,
                    outcome=TaskOutcome(report.outcome),
                    result=result,
                    error=error,
                    retry_delay_ms=round(report.retry_delay_s * 1000),
                )
            )
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.FinishTasks(now_ms=0, queue=queue_id, entries=tuple(entries)),
        )
        outcomes = self._outcomes(forwarded, route, name, [r.lease for r in reports], "f")
        self.f.record(caller, name, "finish_tasks", len(outcomes.succeeded), 0)
        return outcomes

    # --- callers ----------------------------------------------------------------------------

    async def cancel(self, caller: KeyCredentials, name: str, task_id: str) -> None:
        self.f.authorize(caller, name, "delete")
        _check_task_id(task_id, name)
        route = await self.f.forwarder.route(name)
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.CancelTasks(now_ms=0, queue=queue_id, task_ids=(task_id,)),
        )
        result = forwarded.result
        assert isinstance(result, BatchResult), result
        for failure in _renamed(result.failed, route, name):
            raise error_from_code(failure.code, failure.message, field="task_id")

    async def get(self, caller: KeyCredentials, name: str, task_id: str) -> t.TaskView:
        self.f.authorize(caller, name, "receive")
        _check_task_id(task_id, name)
        route = await self.f.forwarder.route(name)
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.GetTask(now_ms=0, queue=queue_id, task_id=task_id),
        )
        status = forwarded.result
        assert isinstance(status, TaskStatus), status
        return task_sealing.task_view(await self.f.forwarder.cipher(route), status)

    async def listing(
        self, caller: KeyCredentials, name: str, query: t.TaskListQuery
    ) -> t.TaskList:
        self.f.authorize(caller, name, "receive")
        cursor = None if query.cursor is None else _cursor_bytes(query.cursor, name)
        route = await self.f.forwarder.route(name)
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.ListTasks(
                now_ms=0,
                queue=queue_id,
                state=TaskState(query.state),
                cursor=cursor,
                limit=query.limit,
            ),
        )
        page = forwarded.result
        assert isinstance(page, TaskPage), page
        cipher = await self.f.forwarder.cipher(route)
        return t.TaskList(
            tasks=[task_sealing.task_view(cipher, status) for status in page.tasks],
            next_cursor=None
            if page.next_cursor is None
            else base64.urlsafe_b64encode(page.next_cursor).decode().rstrip("="),
        )

    # --- plumbing ---------------------------------------------------------------------------

    async def _execute(
        self,
        name: str,
        route: QueueRoute,
        make: Callable[[str], AnyCommand],
        wait_ms: int = 0,
    ) -> Forwarded:
        """`forwarder.execute`, with the queue's internal id in an error's message replaced by
        its name (the backend names queues by id; callers must never see ids)."""
        try:
            return await self.f.forwarder.execute(name, make, wait_ms)
        except RaftqError as error:
            error.message = _unnamed(error.message, route, name)
            error.args = (error.message,)
            raise

    def _outcomes(
        self, forwarded: Forwarded, route: QueueRoute, name: str, leases: list[str], prefix: str
    ) -> t.LeaseOutcomes:
        result = forwarded.result
        assert isinstance(result, BatchResult), result
        by_entry = {f"{prefix}{i}": lease for i, lease in enumerate(leases)}
        return t.LeaseOutcomes(
            succeeded=[by_entry[entry] for entry in result.succeeded],
            failed=[
                t.LeaseFailure(lease=by_entry[x.entry_id], code=x.code, message=x.message)
                for x in _renamed(result.failed, route, name)
            ],
        )


def _producer_of(given: TraceContextBody | None) -> SpanContext | None:
    return None if given is None else tracing.span_context_of(given.traceparent, given.tracestate)


def _check_task_id(task_id: str, name: str) -> None:
    if not _TASK_ID.fullmatch(task_id):
        raise InvalidParameter(f"not a task id (queue {name!r})", field="task_id")


def _cursor_bytes(cursor: str, name: str) -> bytes:
    """A listing's cursor, as `listing` gave it out (URL-safe base64 without padding)."""
    refusal = InvalidParameter(
        f"the cursor is not one a listing of queue {name!r} gave", field="cursor"
    )
    if not _CURSOR.fullmatch(cursor):
        raise refusal
    bare = cursor.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise refusal from None
    if not 1 <= len(raw) <= 256:
        raise refusal
    return raw


def _unnamed(message: str, route: QueueRoute, name: str) -> str:
    return message.replace(route.queue.queue_id, name)


def _renamed(
    failures: tuple[EntryFailure, ...], route: QueueRoute, name: str
) -> tuple[EntryFailure, ...]:
    return tuple(
        x.model_copy(update={"message": _unnamed(x.message, route, name)}) for x in failures
    )

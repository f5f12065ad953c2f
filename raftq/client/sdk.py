"""The raftq Python SDK: `AsyncClient` (asyncio) and `Client` (blocking), over the REST API.

    client = Client.from_env()  # RAFTQ_ENDPOINT, RAFTQ_ACCESS_KEY_ID, RAFTQ_SECRET_ACCESS_KEY
    client.create_queue("orders")
    client.send("orders", "hello")
    for message in client.receive("orders", wait_s=20):
        handle(message.body)
        client.delete("orders", message.receipt_handle)

Requests are signed with SigV4 (raftq.common.sigv4). A send always carries an idempotency key
(the caller's, or one drawn for it), and every retry of it reuses that key, so a send retried
after a timeout or a 503 is stored once; so does every entry of a batch. Receives retry with the
same attempt id for the same reason. Calls that are not safe to repeat (purge, update and delete
of a queue) are retried only when the service refused them before doing anything; see
`AsyncClient` for each call. Errors come back as `RaftqApiError` with the service's code,
message and field, and as `OutcomeUnknown`, naming the idempotency keys to call again with,
when a call may or may not have been done.

Concurrent `send()` calls of one client to one queue are joined into batch requests
(send_coalescer.py): each still returns its own message's id once it is committed, or raises its
own error. `send_linger_ms=0` turns that off.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from random import random as uniform_random
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from raftq.client import operations
from raftq.client.batch_entries import (
    EntryResult,
    SendEntry,
    check_entry_count,
    check_send_batch,
    send_payload,
    sent_outcomes,
)
from raftq.client.blocking_task_calls import BlockingTaskCalls
from raftq.client.errors import (
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    RaftqApiError,
    TaskBatchFailed,
)
from raftq.client.received import Message, message_of
from raftq.client.retry import RetryPolicy
from raftq.client.send_coalescer import SendCoalescer
from raftq.client.task_calls import TaskCalls
from raftq.client.task_submitter import TaskSubmitter
from raftq.client.transport import Sleep, Transport
from raftq.common import limits

__all__ = [
    "AsyncClient",
    "Client",
    "EntryResult",
    "InvalidRequest",
    "Message",
    "NotFound",
    "OutcomeUnknown",
    "RaftqApiError",
    "SendEntry",
    "TaskBatchFailed",
]

T = TypeVar("T")


class AsyncClient(TaskCalls):
    """The asyncio client. `batch_max_entries` and `max_request_bytes` must not exceed the
    frontend's `batch_max` (10 by default) and request body limit (6 MiB + 64 KiB by default,
    `limits.REQUEST_BODY_MAX_BYTES`: any legal message fits, however it is escaped);
    `send_linger_ms` is the longest a `send()` waits for others to join its batch (0: every
    send is a request of its own).

    Retries (retry.py): waits drawn with full jitter, the n-th at most
    `min(retry_max_wait_s, 0.1 s * 2**n)`, until they add up to `retry_budget_s` (15 s, chosen
    to outlast a frontend's restart) or `retries` retries were made (None: no limit but the
    budget; 0: no retries); `sleep` and `random` are the waiting and the draw, for tests.
    Every call is retried when the service refused it before doing anything (429, 503 with
    `Retry-After`, no connection); after an unknown outcome, only sends, receives (with the same
    attempt id: the repeat gets the same messages, never others), deletes, visibility changes,
    `create_queue` and reads are, not `purge`, `update_queue` or `delete_queue`
    (operations.py says why for each). A call that may have been done and was not settled by
    its retries raises `OutcomeUnknown`, whose `idempotency_keys` make calling again safe.
    The task calls (submit, lease, heartbeat, finish, ...) are task_calls.py's."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        region: str = "us-east-1",
        timeout_s: float = 30.0,
        retries: int | None = None,
        retry_budget_s: float = 15.0,
        retry_max_wait_s: float = 2.0,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = uniform_random,
        send_linger_ms: float = 2.0,
        batch_max_entries: int = 10,
        max_request_bytes: int = limits.REQUEST_BODY_MAX_BYTES,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the endpoint must be http(s)://host:port, not {endpoint!r}")
        if send_linger_ms < 0:
            raise ValueError(f"send_linger_ms must be >= 0, not {send_linger_ms}")
        if not 1 <= batch_max_entries <= limits.BATCH_ENTRIES_MAX:
            most = limits.BATCH_ENTRIES_MAX
            raise ValueError(f"batch_max_entries must be 1 to {most}, not {batch_max_entries}")
        if max_request_bytes < 1_024:
            raise ValueError(f"max_request_bytes must be >= 1024, not {max_request_bytes}")
        self._transport = Transport(
            endpoint.rstrip("/"),
            parts.netloc,
            (access_key_id, secret_access_key),
            region=region,
            timeout_s=timeout_s,
            policy=RetryPolicy(
                budget_s=retry_budget_s, max_wait_s=retry_max_wait_s, max_retries=retries
            ),
            sleep=sleep,
            random=random,
        )
        self._call = self._transport.call
        self._batch_max_entries = batch_max_entries
        self._max_request_bytes = max_request_bytes
        self._task_submitter = TaskSubmitter(
            self._call,
            linger_s=send_linger_ms / 1000,
            max_entries=batch_max_entries,
            max_request_bytes=max_request_bytes,
        )
        self._coalescer: SendCoalescer | None = None
        if send_linger_ms > 0:
            self._coalescer = SendCoalescer(
                self._post_batch,
                self._post_one,
                linger_s=send_linger_ms / 1000,
                max_entries=batch_max_entries,
                max_request_bytes=max_request_bytes,
            )

    @classmethod
    def from_env(cls) -> AsyncClient:
        return cls(*_env_credentials())

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send the sends that wait for company, wait for them, and close the connections."""
        if self._coalescer is not None:
            await self._coalescer.close()
        await self._task_submitter.close()
        await self._transport.close()

    # --- queues --------------------------------------------------------------------------------

    async def create_queue(
        self, name: str, *, fifo: bool = False, **attributes: Any
    ) -> dict[str, Any]:
        body = {"name": name, "fifo": fifo, "attributes": attributes}
        return await self._call(operations.create_queue(name), "POST", "/v1/queues", body)

    async def get_queue(self, name: str) -> dict[str, Any]:
        reading = operations.read(f"reading queue {name!r}")
        return await self._call(reading, "GET", f"/v1/queues/{quote(name)}")

    async def list_queues(self, prefix: str = "") -> list[dict[str, Any]]:
        queues: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {"prefix": prefix, **({"next_token": token} if token else {})}
            listing = operations.read(f"listing queues named {prefix}*")
            page = await self._call(listing, "GET", "/v1/queues", query=query)
            queues += page["queues"]
            token = page.get("next_token")
            if not token:
                return queues

    async def update_queue(self, name: str, **attributes: Any) -> dict[str, Any]:
        return await self._call(
            operations.update_queue(name), "PATCH", f"/v1/queues/{quote(name)}", attributes
        )

    async def delete_queue(self, name: str) -> None:
        await self._call(operations.delete_queue(name), "DELETE", f"/v1/queues/{quote(name)}")

    async def purge(self, name: str) -> None:
        """Delete every message of the queue. Not retried after an unknown outcome (a repeat
        would delete messages sent after the first purge): that raises `OutcomeUnknown`."""
        await self._call(operations.purge(name), "DELETE", f"/v1/queues/{quote(name)}/messages")

    # --- messages ------------------------------------------------------------------------------

    async def send(
        self,
        queue: str,
        body: str | bytes,
        *,
        idempotency_key: str | None = None,
        attributes: dict[str, dict[str, str]] | None = None,
        delay_s: int | None = None,
        group_id: str | None = None,
        priority: int = 0,
        trace_context: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one message; returns `{message_id, sequence_number, duplicate}` once it is
        committed. Concurrent sends to one queue may share a batch request (see the class).
        `trace_context`: the producer's W3C `traceparent` (and `tracestate`), kept with it."""
        payload = send_payload(
            SendEntry(body, idempotency_key, attributes, delay_s, group_id, priority, trace_context)
        )
        if self._coalescer is None:
            return await self._post_one(queue, payload)
        return await self._coalescer.send(queue, payload)

    async def send_batch(
        self, queue: str, entries: Sequence[str | bytes | SendEntry]
    ) -> list[EntryResult]:
        """Send up to `batch_max_entries` messages in one request; returns each entry's outcome
        in entry order (a refused entry does not stop the others). Raises `RaftqApiError` when
        the request as a whole fails, `InvalidRequest` before sending an empty or oversized one.
        The SDK's retries resend each entry with its dedup id; to retry a batch yourself after
        an unknown outcome, give each `SendEntry` its own `idempotency_key`."""
        check_entry_count(queue, "entries", len(entries), self._batch_max_entries)
        messages = [e if isinstance(e, SendEntry) else SendEntry(e) for e in entries]
        payloads = [send_payload(message) for message in messages]
        check_send_batch(queue, messages, payloads, self._max_request_bytes)
        answer = await self._post_batch(
            queue, [{"id": str(position), **p} for position, p in enumerate(payloads)]
        )
        return [
            EntryResult(
                idempotency_key=payload["dedup_id"],
                sent=None if isinstance(outcome, RaftqApiError) else outcome,
                error=outcome if isinstance(outcome, RaftqApiError) else None,
            )
            for payload, outcome in zip(payloads, sent_outcomes(answer, len(payloads)), strict=True)
        ]

    async def _post_one(self, queue: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in payload.items() if k != "dedup_id"}
        return await self._call(
            operations.send(queue, payload["dedup_id"]),
            "POST",
            f"/v1/queues/{quote(queue)}/messages",
            body,
            headers={"Idempotency-Key": payload["dedup_id"]},
        )

    async def _post_batch(self, queue: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        sending = operations.send_batch(queue, [entry["dedup_id"] for entry in entries])
        return await self._call(
            sending, "POST", f"/v1/queues/{quote(queue)}/messages:batch", {"entries": entries}
        )

    async def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        wait_s: int | None = None,
        visibility_timeout_s: int | None = None,
        attempt_id: str | None = None,
    ) -> list[Message]:
        """Receive up to `max_messages`; a retry (the SDK's, or yours with the same
        `attempt_id` within 5 minutes) is answered with the same messages and handles."""
        attempt_id = attempt_id or secrets.token_urlsafe(12)
        query: dict[str, str] = {"max": str(max_messages), "attempt_id": attempt_id}
        if wait_s is not None:
            query["wait_s"] = str(wait_s)
        if visibility_timeout_s is not None:
            query["visibility_timeout_s"] = str(visibility_timeout_s)
        answer = await self._call(
            operations.receive(queue, attempt_id),
            "GET",
            f"/v1/queues/{quote(queue)}/messages",
            query=query,
            extra_timeout_s=wait_s or 0,
        )
        return [message_of(raw) for raw in answer["messages"]]

    async def messages(
        self, queue: str, *, wait_s: int = 20, **options: Any
    ) -> AsyncIterator[Message]:
        """Long-poll the queue for ever, yielding each message as it comes (delete it when
        done: this only receives)."""
        while True:
            for message in await self.receive(queue, wait_s=wait_s, **options):
                yield message

    async def delete(self, queue: str, receipt_handle: str) -> None:
        await self._call(
            operations.delete(queue, [receipt_handle]),
            "DELETE",
            f"/v1/queues/{quote(queue)}/messages/{quote(receipt_handle, safe='')}",
        )

    async def delete_batch(self, queue: str, receipt_handles: Sequence[str]) -> dict[str, Any]:
        """Delete up to `batch_max_entries` messages in one request; returns
        `{succeeded: [entry ids], failed: [{id, code, message, field, receipt_handle}]}`, where
        entry `d<i>` is `receipt_handles[i]`. Raises `InvalidRequest` for an empty or too long
        list."""
        check_entry_count(queue, "receipt_handles", len(receipt_handles), self._batch_max_entries)
        entries = [{"id": f"d{i}", "receipt_handle": h} for i, h in enumerate(receipt_handles)]
        deleting = operations.delete(queue, receipt_handles)
        answer = await self._call(
            deleting, "POST", f"/v1/queues/{quote(queue)}/messages:delete", {"entries": entries}
        )
        handles = {entry["id"]: entry["receipt_handle"] for entry in entries}
        for failure in answer.get("failed") or []:
            failure["receipt_handle"] = handles.get(failure.get("id", ""))
        return answer

    async def change_visibility(
        self, queue: str, receipt_handle: str, timeout_s: int
    ) -> dict[str, Any]:
        entry = {"id": "v", "receipt_handle": receipt_handle, "visibility_timeout_s": timeout_s}
        return await self._call(
            operations.change_visibility(queue, receipt_handle),
            "POST",
            f"/v1/queues/{quote(queue)}/messages:visibility",
            {"entries": [entry]},
        )


class Client(BlockingTaskCalls):
    """The blocking client: an `AsyncClient` driven on a private event loop thread, so sends
    made at the same time from several threads share batch requests as they would there."""

    def __init__(
        self, endpoint: str, access_key_id: str, secret_access_key: str, **options: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="raftq-sdk"
        )
        self._thread.start()
        self._client: AsyncClient = AsyncClient(
            endpoint, access_key_id, secret_access_key, **options
        )

    @classmethod
    def from_env(cls) -> Client:
        return cls(*_env_credentials())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def create_queue(self, name: str, *, fifo: bool = False, **attributes: Any) -> dict[str, Any]:
        return self._run(self._client.create_queue(name, fifo=fifo, **attributes))

    def get_queue(self, name: str) -> dict[str, Any]:
        return self._run(self._client.get_queue(name))

    def list_queues(self, prefix: str = "") -> list[dict[str, Any]]:
        return self._run(self._client.list_queues(prefix))

    def update_queue(self, name: str, **attributes: Any) -> dict[str, Any]:
        return self._run(self._client.update_queue(name, **attributes))

    def delete_queue(self, name: str) -> None:
        self._run(self._client.delete_queue(name))

    def purge(self, name: str) -> None:
        self._run(self._client.purge(name))

    def send(self, queue: str, body: str | bytes, **options: Any) -> dict[str, Any]:
        return self._run(self._client.send(queue, body, **options))

    def receive(self, queue: str, **options: Any) -> list[Message]:
        return self._run(self._client.receive(queue, **options))

    def delete(self, queue: str, receipt_handle: str) -> None:
        self._run(self._client.delete(queue, receipt_handle))

    def send_batch(
        self, queue: str, entries: Sequence[str | bytes | SendEntry]
    ) -> list[EntryResult]:
        return self._run(self._client.send_batch(queue, entries))

    def delete_batch(self, queue: str, receipt_handles: Sequence[str]) -> dict[str, Any]:
        return self._run(self._client.delete_batch(queue, receipt_handles))

    def change_visibility(self, queue: str, receipt_handle: str, timeout_s: int) -> dict[str, Any]:
        return self._run(self._client.change_visibility(queue, receipt_handle, timeout_s))


def _env_credentials() -> tuple[str, str, str]:
    names = ("RAFTQ_ENDPOINT", "RAFTQ_ACCESS_KEY_ID", "RAFTQ_SECRET_ACCESS_KEY")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise ValueError(f"set {', '.join(missing)} (raftq up writes them to client.env)")
    return os.environ[names[0]], os.environ[names[1]], os.environ[names[2]]

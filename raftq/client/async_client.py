"""The asyncio client of the raftq SDK (`raftq.client.sdk` says what every call promises)."""

from __future__ import annotations

import asyncio
import os
import secrets
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from random import random as uniform_random
from typing import Any, Unpack
from urllib.parse import quote, urlsplit

from raftq.client import operations
from raftq.client.batch_entries import (
    EntryResult,
    SendEntry,
    check_entry_count,
    check_send_batch,
    raw_send,
    send_payload,
    sent_outcomes,
)
from raftq.client.errors import RaftqApiError
from raftq.client.queue_attributes import QueueAttributes
from raftq.client.received import Message, message_of
from raftq.client.retry import RetryPolicy
from raftq.client.send_coalescer import SendCoalescer
from raftq.client.task_calls import TaskCalls
from raftq.client.task_submitter import TaskSubmitter
from raftq.client.transport import Sleep, Transport
from raftq.common import limits


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
        self._closed = False
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
        return cls(*env_credentials())

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send the sends that wait for company, wait for them, and close the connections.
        Use the client as `async with AsyncClient(...)`, or call this once done: a client
        dropped unclosed warns `ResourceWarning` (as an unclosed aiohttp session does), and
        sends still waiting for company in it are never sent."""
        self._closed = True
        if self._coalescer is not None:
            await self._coalescer.close()
        await self._task_submitter.close()
        await self._transport.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            warnings.warn(
                f"unclosed raftq AsyncClient {self!r}: use `async with` or `await close()`",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    # --- queues --------------------------------------------------------------------------------

    async def create_queue(
        self, name: str, *, fifo: bool = False, **attributes: Unpack[QueueAttributes]
    ) -> dict[str, Any]:
        """Create the queue `name`: `fifo` (bool) makes it a FIFO queue, whose name ends in
        `.fifo`; the other keywords are its attributes (`QueueAttributes` lists each with its
        type and range, e.g. `visibility_timeout_s=30`). Returns the queue as `get_queue`
        does."""
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

    async def update_queue(
        self, name: str, **attributes: Unpack[QueueAttributes]
    ) -> dict[str, Any]:
        """Change the attributes given (`QueueAttributes`); the others stay. Not retried after
        an unknown outcome (that raises `OutcomeUnknown`)."""
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

        - `body` (str or bytes): a str goes as UTF-8 text, bytes as they are (any bytes).
        - `idempotency_key` (str): the dedup id; a second send with it within the queue's
          dedup window stores nothing and returns the first's id with `duplicate: True`.
          Drawn for you when not given (the SDK's retries reuse it).
        - `attributes` (dict): up to 10, `{name: {"type": t, "value": v}}` with `t` one of
          `"String"`, `"Number"`, `"Binary"` (optionally labelled, `"Number.float"`) and `v`
          a str: the text, a decimal number, or base64 for Binary. E.g.
          `{"tenant": {"type": "String", "value": "acme"}}`.
        - `delay_s` (int, 0 to 900): hidden this long after the send (default: the queue's;
          refused on FIFO queues unless 0).
        - `group_id` (str): a FIFO queue's message group (required there; order is per group).
        - `priority` (int, 0 to 9): a higher priority is received first.
        - `trace_context` (mapping): the producer's W3C `traceparent` (and `tracestate`), kept
          with it (docs/tracing.md)."""
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
        """One message in a request of its own: a binary body with no attributes goes as its
        bytes (`application/octet-stream`, options in the query), not a third larger in base64
        (a batch is JSON, so joined sends still are)."""
        body = {k: v for k, v in payload.items() if k != "dedup_id"}
        raw = raw_send(body)
        return await self._transport.call(
            operations.send(queue, payload["dedup_id"]),
            "POST",
            f"/v1/queues/{quote(queue)}/messages",
            None if raw else body,
            headers={"Idempotency-Key": payload["dedup_id"]},
            query=raw[1] if raw else None,
            raw_body=raw[0] if raw else None,
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
        """Receive up to `max_messages` (int, 1 to 10) messages as `Message`s (`body` is the
        text, or None when the body is not UTF-8; `body_bytes` always the bytes).

        - `wait_s` (int, 0 to 20): long poll until a message comes or this passes (default:
          the queue's `receive_wait_s`).
        - `visibility_timeout_s` (int, 0 to 43,200): hidden this long from other receives
          (default: the queue's).
        - `attempt_id` (str): a retry (the SDK's, or yours with the same `attempt_id` within
          5 minutes) is answered with the same messages and handles; drawn when not given."""
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
        self,
        queue: str,
        *,
        wait_s: int = 20,
        max_messages: int = 10,
        visibility_timeout_s: int | None = None,
    ) -> AsyncIterator[Message]:
        """Long-poll the queue for ever, yielding each message as it comes (delete it when
        done: this only receives). `wait_s` (int, 0 to 20), `max_messages` (int, 1 to 10) and
        `visibility_timeout_s` (int or None: the queue's) are each receive's."""
        while True:
            received = await self.receive(
                queue,
                max_messages=max_messages,
                wait_s=wait_s,
                visibility_timeout_s=visibility_timeout_s,
            )
            for message in received:
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
        """Hide the received message for `timeout_s` (int, 0 to 43,200) more seconds from now
        (0: visible again at once); returns `{succeeded, failed}` as `delete_batch` does."""
        entry = {"id": "v", "receipt_handle": receipt_handle, "visibility_timeout_s": timeout_s}
        return await self._call(
            operations.change_visibility(queue, receipt_handle),
            "POST",
            f"/v1/queues/{quote(queue)}/messages:visibility",
            {"entries": [entry]},
        )


def env_credentials() -> tuple[str, str, str]:
    names = ("RAFTQ_ENDPOINT", "RAFTQ_ACCESS_KEY_ID", "RAFTQ_SECRET_ACCESS_KEY")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise ValueError(f"set {', '.join(missing)} (raftq up writes them to client.env)")
    return os.environ[names[0]], os.environ[names[1]], os.environ[names[2]]

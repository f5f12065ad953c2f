"""The raftq Python SDK: `AsyncClient` (asyncio) and `Client` (blocking), over the REST API.

    client = Client.from_env()  # RAFTQ_ENDPOINT, RAFTQ_ACCESS_KEY_ID, RAFTQ_SECRET_ACCESS_KEY
    client.create_queue("orders")
    client.send("orders", "hello")
    for message in client.receive("orders", wait_s=20):
        handle(message.body)
        client.delete("orders", message.receipt_handle)

Requests are signed with SigV4 (raftq.common.sigv4). A send always carries an idempotency key
(the caller's, or one drawn for it), and every retry of it reuses that key, so a send retried
after a timeout or a 503 is stored once. Receives retry with the same attempt id for the same
reason. Errors come back as `RaftqApiError` with the service's code, message and field.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import threading
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from raftq.common.sigv4 import HttpRequest, sign

RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
T = TypeVar("T")


class RaftqApiError(Exception):
    """Raised when the service refuses a request; `status`, `code`, `field` say why."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" ({field})" if field else ""))
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str | None
    body_bytes: bytes
    attributes: dict[str, dict[str, str]]
    receive_count: int
    sent_at_ms: int
    group_id: str | None
    sequence_number: int


class AsyncClient:
    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        region: str = "us-east-1",
        timeout_s: float = 30.0,
        retries: int = 4,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the endpoint must be http(s)://host:port, not {endpoint!r}")
        self._endpoint = endpoint.rstrip("/")
        self._host = parts.netloc
        self._key = (access_key_id, secret_access_key)
        self._region = region
        self._timeout_s = timeout_s
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls) -> AsyncClient:
        return cls(*_env_credentials())

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- queues --------------------------------------------------------------------------------

    async def create_queue(
        self, name: str, *, fifo: bool = False, **attributes: Any
    ) -> dict[str, Any]:
        return await self._call(
            "POST", "/v1/queues", {"name": name, "fifo": fifo, "attributes": attributes}
        )

    async def get_queue(self, name: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/queues/{quote(name)}")

    async def list_queues(self, prefix: str = "") -> list[dict[str, Any]]:
        queues: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {"prefix": prefix, **({"next_token": token} if token else {})}
            page = await self._call("GET", "/v1/queues", query=query)
            queues += page["queues"]
            token = page.get("next_token")
            if not token:
                return queues

    async def update_queue(self, name: str, **attributes: Any) -> dict[str, Any]:
        return await self._call("PATCH", f"/v1/queues/{quote(name)}", attributes)

    async def delete_queue(self, name: str) -> None:
        await self._call("DELETE", f"/v1/queues/{quote(name)}")

    async def purge(self, name: str) -> None:
        await self._call("DELETE", f"/v1/queues/{quote(name)}/messages")

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
    ) -> dict[str, Any]:
        """Send one message; returns `{message_id, sequence_number, duplicate}`."""
        payload: dict[str, Any] = _body_field(body)
        payload |= {"attributes": attributes or {}, "priority": priority}
        if delay_s is not None:
            payload["delay_s"] = delay_s
        if group_id is not None:
            payload["group_id"] = group_id
        key = idempotency_key or secrets.token_urlsafe(16)
        return await self._call(
            "POST", f"/v1/queues/{quote(queue)}/messages", payload, headers={"Idempotency-Key": key}
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
        query: dict[str, str] = {
            "max": str(max_messages),
            "attempt_id": attempt_id or secrets.token_urlsafe(12),
        }
        if wait_s is not None:
            query["wait_s"] = str(wait_s)
        if visibility_timeout_s is not None:
            query["visibility_timeout_s"] = str(visibility_timeout_s)
        answer = await self._call(
            "GET", f"/v1/queues/{quote(queue)}/messages", query=query, extra_timeout_s=wait_s or 0
        )
        return [_message(raw) for raw in answer["messages"]]

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
            "DELETE", f"/v1/queues/{quote(queue)}/messages/{quote(receipt_handle, safe='')}"
        )

    async def delete_batch(self, queue: str, receipt_handles: list[str]) -> dict[str, Any]:
        entries = [{"id": f"d{i}", "receipt_handle": h} for i, h in enumerate(receipt_handles)]
        return await self._call(
            "POST", f"/v1/queues/{quote(queue)}/messages:delete", {"entries": entries}
        )

    async def change_visibility(
        self, queue: str, receipt_handle: str, timeout_s: int
    ) -> dict[str, Any]:
        entry = {"id": "v", "receipt_handle": receipt_handle, "visibility_timeout_s": timeout_s}
        return await self._call(
            "POST", f"/v1/queues/{quote(queue)}/messages:visibility", {"entries": [entry]}
        )

    # --- transport -----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        extra_timeout_s: float = 0,
    ) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        payload = b"" if body is None else json.dumps(body).encode()
        query_string = urlencode(query or {}, quote_via=quote)
        plain = {"Host": self._host, "Content-Type": "application/json", **(headers or {})}
        url = self._endpoint + path + (f"?{query_string}" if query_string else "")
        timeout = aiohttp.ClientTimeout(total=self._timeout_s + extra_timeout_s)
        for attempt in range(self._retries + 1):
            signed = sign(
                HttpRequest(method, path, query_string, plain, payload),
                *self._key,
                datetime.now(UTC),
                region=self._region,
            )
            try:
                async with self._session.request(
                    method, url, data=payload, headers={**plain, **signed}, timeout=timeout
                ) as answer:
                    text = await answer.text()
                    status = answer.status
                    retry_after = answer.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as error:
                if attempt == self._retries:
                    raise RaftqApiError(
                        0, "Unreachable", str(error) or type(error).__name__
                    ) from None
                await asyncio.sleep(0.1 * 2**attempt)
                continue
            if status < 300:
                return _json_object(text)  # a JSON object, or {} for an empty answer
            error_body = _json_object(text)
            if status in RETRY_STATUSES and attempt < self._retries:
                wait = (
                    float(retry_after)
                    if retry_after and retry_after.isdigit()
                    else 0.1 * 2**attempt
                )
                await asyncio.sleep(min(wait, 5.0))
                continue
            raise RaftqApiError(
                status,
                error_body.get("code", "Error"),
                error_body.get("message", text),
                error_body.get("field"),
            )
        raise AssertionError("unreachable")


class Client:
    """The blocking client: an `AsyncClient` driven on a private event loop thread."""

    def __init__(
        self, endpoint: str, access_key_id: str, secret_access_key: str, **options: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="raftq-sdk"
        )
        self._thread.start()
        self._client = AsyncClient(endpoint, access_key_id, secret_access_key, **options)

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

    def delete_queue(self, name: str) -> None:
        self._run(self._client.delete_queue(name))

    def send(self, queue: str, body: str | bytes, **options: Any) -> dict[str, Any]:
        return self._run(self._client.send(queue, body, **options))

    def receive(self, queue: str, **options: Any) -> list[Message]:
        return self._run(self._client.receive(queue, **options))

    def delete(self, queue: str, receipt_handle: str) -> None:
        self._run(self._client.delete(queue, receipt_handle))

    def delete_batch(self, queue: str, receipt_handles: list[str]) -> dict[str, Any]:
        return self._run(self._client.delete_batch(queue, receipt_handles))


def _env_credentials() -> tuple[str, str, str]:
    names = ("RAFTQ_ENDPOINT", "RAFTQ_ACCESS_KEY_ID", "RAFTQ_SECRET_ACCESS_KEY")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise ValueError(f"set {', '.join(missing)} (raftq up writes them to client.env)")
    return os.environ[names[0]], os.environ[names[1]], os.environ[names[2]]


def _body_field(body: str | bytes) -> dict[str, Any]:
    if isinstance(body, str):
        return {"body": body}
    return {"body_base64": base64.b64encode(body).decode()}


def _message(raw: dict[str, Any]) -> Message:
    return Message(
        message_id=raw["message_id"],
        receipt_handle=raw["receipt_handle"],
        body=raw["body"],
        body_bytes=base64.b64decode(raw["body_base64"]),
        attributes=raw["attributes"],
        receive_count=raw["receive_count"],
        sent_at_ms=raw["sent_at_ms"],
        group_id=raw.get("group_id"),
        sequence_number=raw["sequence_number"],
    )


def _json_object(text: str) -> dict[str, Any]:
    """The JSON object `text` holds, or {}."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}

"""Signed JSON requests to a frontend, with the SDK's retries.

A request is retried (same method, path and body, signed again) after a connection error, a
timeout, or 429/502/503/504, up to `retries` times with exponential backoff (or `Retry-After`).
That is safe only because every non-idempotent body the SDK sends carries its own idempotency
key: a send's dedup id, a receive's attempt id; deletes by receipt handle are idempotent.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp

from raftq.client.errors import RaftqApiError
from raftq.common.sigv4 import HttpRequest, sign

RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})


class Transport:
    def __init__(
        self,
        endpoint: str,
        host: str,
        key: tuple[str, str],
        *,
        region: str,
        timeout_s: float,
        retries: int,
    ) -> None:
        self._endpoint = endpoint
        self._host = host
        self._key = key
        self._region = region
        self._timeout_s = timeout_s
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        extra_timeout_s: float = 0,
    ) -> dict[str, Any]:
        """The answer's JSON object ({} for an empty answer); raises `RaftqApiError`."""
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
                return json_object(text)
            error_body = json_object(text)
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


def json_object(text: str) -> dict[str, Any]:
    """The JSON object `text` holds, or {}."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}

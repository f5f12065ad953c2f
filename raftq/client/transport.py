"""Signed JSON requests to a frontend, with the SDK's retries.

The rules it keeps:
- Every attempt ends in one of four ways: answered (2xx); refused before anything was done (429,
  503 with `Retry-After`, which the frontend sends only when nothing was proposed; a connection
  that could not be opened); of unknown outcome (a timeout or a lost connection once the request
  may have gone out; 500, 502, 504, or 503 without `Retry-After`); or refused for good (any other
  status).
- A refusal before anything was done is retried for every call. An unknown outcome is retried
  only for an `Operation` marked idempotent, whose repeat the service answers as it answered the
  first (same method, path and body, signed again: a send's dedup id, a receive's attempt id and
  a receipt handle go again unchanged). Any other call stops at its first unknown outcome.
- Once any attempt's outcome was unknown, the call can only fail with `OutcomeUnknown`, whatever
  the later attempts said (a later refusal says nothing about the earlier attempt), naming the
  keys that make calling again safe.
- The waits between attempts come from retry.py (full jitter, capped, within a total budget).
- aiohttp re-sends a DELETE or GET once by itself when its connection drops; that would repeat a
  purge or a queue deletion behind the SDK's back, so the session does not (see `_session_of`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp

from raftq.client.errors import OutcomeUnknown, RaftqApiError
from raftq.client.retry import Backoff, RetryPolicy
from raftq.common.sigv4 import HttpRequest, sign

# Statuses a frontend or a load balancer answers when the request may have been carried out.
UNKNOWN_OUTCOME_STATUSES: Final = frozenset({500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    """What a request does, as its retries and errors need to know: `what` names it and its
    queue for error messages ("purge of queue 'orders'"); `idempotent` says it may be repeated
    after an unknown outcome; `keys` are what makes repeating it safe (see `OutcomeUnknown`)."""

    what: str
    idempotent: bool
    keys: tuple[str, ...] = ()


class _Outcome(enum.Enum):
    REFUSED = "nothing was done"
    UNKNOWN = "it may have been done"
    FINAL = "refused for good"


@dataclass(frozen=True)
class _Failure:
    error: RaftqApiError
    outcome: _Outcome
    cause: str  # what happened, without the operation's name
    retry_after_s: float | None = None

    @classmethod
    def of_connection(
        cls, operation: Operation, code: str, cause: str, outcome: _Outcome
    ) -> _Failure:
        return cls(RaftqApiError(0, code, f"{operation.what}: {cause}"), outcome, cause)


class Transport:
    def __init__(
        self,
        endpoint: str,
        host: str,
        key: tuple[str, str],
        *,
        region: str,
        timeout_s: float,
        policy: RetryPolicy,
        sleep: Sleep,
        random: Callable[[], float],
    ) -> None:
        self._endpoint = endpoint
        self._host = host
        self._key = key
        self._region = region
        self._timeout_s = timeout_s
        self._policy = policy
        self._sleep = sleep
        self._random = random
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        operation: Operation,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        extra_timeout_s: float = 0,
        raw_body: bytes | None = None,
    ) -> dict[str, Any]:
        """The answer's JSON object ({} for an empty answer); raises `RaftqApiError`, and
        `OutcomeUnknown` when the call may have been done. `body` goes as JSON, `raw_body` as
        it is (`application/octet-stream`)."""
        payload = b"" if body is None else json.dumps(body).encode()
        content_type = "application/json"
        if raw_body is not None:
            payload, content_type = raw_body, "application/octet-stream"
        query_string = urlencode(query or {}, quote_via=quote)
        plain = {"Host": self._host, "Content-Type": content_type, **(headers or {})}
        request = HttpRequest(method, path, query_string, plain, payload)
        backoff = Backoff(self._policy, self._random)
        maybe_done = False
        while True:
            answer = await self._attempt(operation, request, extra_timeout_s)
            if not isinstance(answer, _Failure):
                return answer
            maybe_done = maybe_done or answer.outcome is _Outcome.UNKNOWN
            may_repeat = answer.outcome is _Outcome.REFUSED or (
                answer.outcome is _Outcome.UNKNOWN and operation.idempotent
            )
            wait_s = backoff.next_wait_s(answer.retry_after_s) if may_repeat else None
            if wait_s is None:
                if maybe_done:
                    raise _outcome_unknown(operation, answer, 1 + backoff.retries)
                raise answer.error
            await self._sleep(wait_s)

    async def _attempt(
        self, operation: Operation, request: HttpRequest, extra_timeout_s: float
    ) -> dict[str, Any] | _Failure:
        timeout_s = self._timeout_s + extra_timeout_s
        url = self._endpoint + request.path
        if request.query:
            url += f"?{request.query}"
        signed = sign(request, *self._key, datetime.now(UTC), region=self._region)
        try:
            async with self._session_of().request(
                request.method,
                url,
                data=request.body,
                headers={**request.headers, **signed},
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as answer:
                text = await answer.text()
                status = answer.status
                retry_after = answer.headers.get("Retry-After")
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            # No connection was made, so nothing was sent.
            return _Failure.of_connection(
                operation, "Unreachable", _describe(error), _Outcome.REFUSED
            )
        except TimeoutError:
            cause = f"no answer within {timeout_s:g} s"
            return _Failure.of_connection(operation, "Timeout", cause, _Outcome.UNKNOWN)
        except aiohttp.ClientError as error:
            cause = f"the connection was lost ({_describe(error)})"
            return _Failure.of_connection(operation, "ConnectionLost", cause, _Outcome.UNKNOWN)
        if status < 300:
            return json_object(text)
        error_body = json_object(text)
        refusal = RaftqApiError(
            status,
            error_body.get("code", "Error"),
            error_body.get("message", text),
            error_body.get("field"),
        )
        cause = f"{status} {refusal.code}: {refusal.message}"
        wait_s = float(retry_after) if retry_after and retry_after.isdigit() else None
        if status == 429 or (status == 503 and wait_s is not None):
            return _Failure(refusal, _Outcome.REFUSED, cause, wait_s)
        if status in UNKNOWN_OUTCOME_STATUSES:
            return _Failure(refusal, _Outcome.UNKNOWN, cause)
        return _Failure(refusal, _Outcome.FINAL, cause)

    def _session_of(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            # aiohttp re-sends a GET, PUT or DELETE once when its connection drops (RFC 9112
            # 9.3.1.1), and has no public switch for it (aio-libs/aiohttp#10790); its own test
            # client turns it off through this attribute. Our DELETEs include purge, which must
            # not be repeated; the retries of idempotent calls are this module's.
            self._session._retry_connection = False
        return self._session


def _outcome_unknown(operation: Operation, last: _Failure, attempts: int) -> OutcomeUnknown:
    tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
    if not operation.idempotent:
        advice = "the SDK does not repeat it, as a repeat is not safe: look before calling again"
    elif operation.keys:
        advice = "calling again with the same idempotency keys is safe"
    else:
        advice = "calling again is safe"
    message = (
        f"{operation.what} may or may not have been done ({tries}, last: {last.cause}); {advice}"
    )
    error = last.error
    if last.outcome is _Outcome.UNKNOWN and error.status:  # a 5xx: keep what it said
        return OutcomeUnknown(
            error.status, error.code, message, error.field, idempotency_keys=operation.keys
        )
    # A timeout, a lost connection, or a refusal of a repeat: no status that would read as a
    # definite answer (a 404 to a repeat says nothing about the first attempt).
    return OutcomeUnknown(0, "OutcomeUnknown", message, idempotency_keys=operation.keys)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def json_object(text: str) -> dict[str, Any]:
    """The JSON object `text` holds, or {}."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}

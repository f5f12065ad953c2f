"""Signing of internal requests, each with its caller's own credential (common/credentials.py).

    X-Raftq-Cluster-Auth: c=<caller>,t=<unix ms>,n=<32 hex digits>,s=<hex HMAC-SHA256(secret,
                          canonical)>
    caller    = node | operator | frontend.<frontend id>
    canonical = caller "\n" METHOD "\n" PATH[?QUERY] "\n" t "\n" n "\n" hex(SHA-256(body))

The secret never crosses the wire; a request is bound to its caller, method, path, body, time
and a random nonce, and is refused more than `MAX_SKEW_MS` away from the server's clock. The
server picks the secret by the caller the header names (and may refuse that caller on the
route before looking at anything else). Comparison is
constant-time. A server that keeps a `ReplayGuard` accepts each signed request once: a request
captured on the wire is useless after it was used (its nonce was seen, or its time is older
than anything the guard still remembers).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from raftq.common.credentials import FRONTEND_ID_PATTERN, NODE, Caller
from raftq.common.errors import Unauthenticated

HEADER: Final = "X-Raftq-Cluster-Auth"
MAX_SKEW_MS: Final = 5 * 60 * 1000
# Requests remembered by a guard: far more than a node serves in 2 x MAX_SKEW_MS (the data path
# uses the channel, not these requests); when full, the oldest is forgotten and nothing signed
# at or before its time is accepted any more, so no replay ever gets through.
REPLAY_GUARD_ENTRIES: Final = 200_000
_VALUE = re.compile(
    rf"c=(node|operator|frontend\.{FRONTEND_ID_PATTERN}),"
    r"t=(\d{1,16}),n=([0-9a-f]{32}),s=([0-9a-f]{64})"
)


def _signature(
    secret: bytes,
    caller: Caller,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp_ms: int,
    nonce: str,
) -> str:
    digest = hashlib.sha256(body).hexdigest()
    canonical = f"{caller.name}\n{method.upper()}\n{path}\n{timestamp_ms}\n{nonce}\n{digest}"
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def sign(
    secret: bytes,
    method: str,
    path: str,
    timestamp_ms: int,
    body: bytes,
    *,
    caller: Caller = NODE,
) -> str:
    nonce = secrets.token_hex(16)
    signature = _signature(
        secret, caller, method, path, body, timestamp_ms=timestamp_ms, nonce=nonce
    )
    return f"c={caller.name},t={timestamp_ms},n={nonce},s={signature}"


@dataclass(frozen=True, slots=True)
class SignedHeader:
    """A header that has the right shape; nothing about it is verified yet."""

    caller: Caller
    timestamp_ms: int
    nonce: str
    signature: str


def parse(header: str | None) -> SignedHeader:
    """The header's parts; `Unauthenticated` if it is missing or malformed (no part of a
    malformed header is echoed back)."""
    if not header:
        raise Unauthenticated(f"missing {HEADER} header", field=HEADER)
    match = _VALUE.fullmatch(header)
    caller = None if match is None else Caller.parse(match.group(1))
    if match is None or caller is None:
        raise Unauthenticated(f"malformed {HEADER} header", field=HEADER)
    return SignedHeader(caller, int(match.group(2)), match.group(3), match.group(4))


class ReplayGuard:
    """The (time, nonce) of every request accepted within the skew window, bounded."""

    def __init__(self, max_entries: int = REPLAY_GUARD_ENTRIES) -> None:
        self._max_entries = max_entries
        self._seen: set[str] = set()
        self._by_time: list[tuple[int, str]] = []
        self._watermark_ms = -1  # nothing signed at or before this is accepted

    def admit(self, timestamp_ms: int, nonce: str, now_ms: int) -> bool:
        """True the first time a (time, nonce) is offered; False for a replay."""
        while self._by_time and self._by_time[0][0] < now_ms - MAX_SKEW_MS:
            _, old = heapq.heappop(self._by_time)  # too old to pass the skew check anyway
            self._seen.discard(old)
        if timestamp_ms <= self._watermark_ms or nonce in self._seen:
            return False
        self._seen.add(nonce)
        heapq.heappush(self._by_time, (timestamp_ms, nonce))
        if len(self._by_time) > self._max_entries:
            forgotten_ms, forgotten = heapq.heappop(self._by_time)
            self._seen.discard(forgotten)
            self._watermark_ms = max(self._watermark_ms, forgotten_ms)
        return True


def verify(
    secret: bytes,
    header: str | SignedHeader | None,
    method: str,
    path: str,
    body: bytes,
    *,
    now_ms: int,
    replays: ReplayGuard | None = None,
) -> None:
    signed = header if isinstance(header, SignedHeader) else parse(header)
    timestamp_ms, nonce = signed.timestamp_ms, signed.nonce
    if abs(now_ms - timestamp_ms) > MAX_SKEW_MS:
        raise Unauthenticated("the request is too old or from the future", field=HEADER)
    expected = _signature(
        secret, signed.caller, method, path, body, timestamp_ms=timestamp_ms, nonce=nonce
    )
    if not hmac.compare_digest(expected, signed.signature):
        raise Unauthenticated("the request signature does not match", field=HEADER)
    if replays is not None and not replays.admit(timestamp_ms, nonce, now_ms):
        raise Unauthenticated("the request was already used once (a replay)", field=HEADER)

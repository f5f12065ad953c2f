"""Signing of internal requests with the cluster secret (frontends, backends, metadata, CLI).

    X-Raftq-Cluster-Auth: t=<unix ms>,s=<hex HMAC-SHA256(secret, canonical)>
    canonical = METHOD "\n" PATH[?QUERY] "\n" t "\n" hex(SHA-256(body))

The secret never crosses the wire; a request is bound to its method, path, body and time, and
is refused more than `MAX_SKEW_MS` away from the server's clock. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from raftq.common.errors import Unauthenticated

HEADER: Final = "X-Raftq-Cluster-Auth"
MAX_SKEW_MS: Final = 5 * 60 * 1000
_VALUE = re.compile(r"t=(\d{1,16}),s=([0-9a-f]{64})")


def _signature(secret: bytes, method: str, path: str, timestamp_ms: int, body: bytes) -> str:
    canonical = f"{method.upper()}\n{path}\n{timestamp_ms}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def sign(secret: bytes, method: str, path: str, timestamp_ms: int, body: bytes) -> str:
    return f"t={timestamp_ms},s={_signature(secret, method, path, timestamp_ms, body)}"


def verify(
    secret: bytes, header: str | None, method: str, path: str, body: bytes, *, now_ms: int
) -> None:
    if not header:
        raise Unauthenticated(f"missing {HEADER} header", field=HEADER)
    match = _VALUE.fullmatch(header)
    if match is None:
        raise Unauthenticated(f"malformed {HEADER} header", field=HEADER)
    timestamp_ms, given = int(match.group(1)), match.group(2)
    if abs(now_ms - timestamp_ms) > MAX_SKEW_MS:
        raise Unauthenticated("the request is too old or from the future", field=HEADER)
    expected = _signature(secret, method, path, timestamp_ms, body)
    if not hmac.compare_digest(expected, given):
        raise Unauthenticated("the request signature does not match", field=HEADER)

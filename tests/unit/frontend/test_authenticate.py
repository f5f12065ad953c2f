"""A frontend authenticates a request with SigV4, and looks its key up only when the request
could be valid: a flood of stale or malformed requests naming unknown keys costs the metadata
service nothing (issue 17, item 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from raftq.common.clock import FakeClock
from raftq.common.errors import Unauthenticated
from raftq.common.metadata_api import KeyCredentials
from raftq.common.sigv4 import REST_MAX_SKEW_S, HttpRequest, sign
from raftq.frontend.caches import KeyCache
from raftq.frontend.service import authenticate

KEY = KeyCredentials(key_id="RQKEY", principal_id="app", secret="s3cr3t", grants=())
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def signed(key_id: str, secret: str, at: datetime) -> HttpRequest:
    request = HttpRequest("GET", "/v1/queues", "", {"Host": "localhost:8080"}, b"")
    headers = {**request.headers, **sign(request, key_id, secret, at)}
    return HttpRequest("GET", "/v1/queues", "", headers, b"")


async def test_a_request_that_cannot_be_valid_costs_no_key_lookup() -> None:
    # Given a frontend's key cache over a metadata lookup that counts its calls
    asked: list[str] = []

    async def lookup(key_id: str) -> KeyCredentials | None:
        asked.append(key_id)
        return KEY if key_id == KEY.key_id else None

    keys = KeyCache(lookup, FakeClock())
    stale = NOW - timedelta(seconds=REST_MAX_SKEW_S + 1)
    fresh = signed("RQRANDOM1", "whatever", NOW)
    unsigned_host = HttpRequest(
        "GET", "/v1/queues", "", {k: v for k, v in fresh.headers.items() if k != "Host"}, b""
    )
    # When requests naming unknown keys arrive stale, or with a signed header missing
    for request in (signed("RQRANDOM0", "whatever", stale), unsigned_host):
        with pytest.raises(Unauthenticated):
            await authenticate(request, keys.get, NOW, REST_MAX_SKEW_S)
    # Then no key was looked up; a well-formed one is looked up once and verified
    assert asked == []
    assert await authenticate(signed("RQKEY", "s3cr3t", NOW), keys.get, NOW, REST_MAX_SKEW_S) == KEY
    with pytest.raises(Unauthenticated):
        await authenticate(signed("RQKEY", "wrong", NOW), keys.get, NOW, REST_MAX_SKEW_S)
    assert asked == ["RQKEY"]

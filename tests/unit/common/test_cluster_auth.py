"""Signed internal requests: a request verifies only with the same secret, method, path, body,
and a timestamp within `MAX_SKEW_MS` of the server's clock, and, where the server keeps a
`ReplayGuard`, only once."""

from __future__ import annotations

import pytest

from raftq.common.cluster_auth import HEADER, MAX_SKEW_MS, ReplayGuard, parse, sign, verify
from raftq.common.credentials import OPERATOR, Caller, Role
from raftq.common.errors import Unauthenticated

SECRET = b"a cluster secret of some length"
NOW_MS = 1_700_000_000_000
BODY = b'{"queue": "orders"}'


def signed(*, method: str = "POST", path: str = "/v1/execute", at_ms: int = NOW_MS) -> str:
    return sign(SECRET, method, path, at_ms, BODY)


def test_a_signed_request_verifies() -> None:
    # Given a request signed with the cluster secret
    header = signed()
    # When the server verifies it with the same secret, then it is accepted
    verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS)


def test_the_method_is_compared_regardless_of_case() -> None:
    verify(SECRET, signed(method="post"), "POST", "/v1/execute", BODY, now_ms=NOW_MS)


def test_a_request_with_an_empty_body_verifies() -> None:
    header = sign(SECRET, "GET", "/v1/status", NOW_MS, b"")
    verify(SECRET, header, "GET", "/v1/status", b"", now_ms=NOW_MS)


def test_the_header_holds_the_timestamp_and_no_secret() -> None:
    header = signed()
    assert header.startswith(f"c=node,t={NOW_MS},n=")
    assert SECRET.decode() not in header


@pytest.mark.parametrize(
    ("secret", "method", "path", "body"),
    [
        (b"another secret of the same size", "POST", "/v1/execute", BODY),
        (SECRET, "PUT", "/v1/execute", BODY),
        (SECRET, "POST", "/v1/status", BODY),
        (SECRET, "POST", "/v1/execute", BODY + b" "),
        (SECRET, "POST", "/v1/execute", b""),
    ],
    ids=["wrong-secret", "changed-method", "changed-path", "changed-body", "dropped-body"],
)
def test_a_request_that_differs_from_what_was_signed_is_refused(
    secret: bytes, method: str, path: str, body: bytes
) -> None:
    # Given a signed request
    header = signed()
    # When the server sees it with something changed (or checks it with another secret)
    # Then it is refused
    with pytest.raises(Unauthenticated) as caught:
        verify(secret, header, method, path, body, now_ms=NOW_MS)
    assert caught.value.field == HEADER


def test_a_changed_timestamp_breaks_the_signature() -> None:
    # Given a signature replayed with a fresher timestamp
    old = signed(at_ms=NOW_MS - 10 * 60 * 1000)
    caller, _, rest = old.split(",", 2)
    header = f"{caller},t={NOW_MS},{rest}"
    # When it is verified, then it is refused
    with pytest.raises(Unauthenticated):
        verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS)


@pytest.mark.parametrize("header", [None, ""])
def test_a_request_without_the_header_is_refused(header: str | None) -> None:
    with pytest.raises(Unauthenticated, match="missing"):
        verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"t={NOW_MS}",
        f"s={'0' * 64}",
        f"s={'0' * 64},t={NOW_MS}",
        f"t={NOW_MS},s={'0' * 63}",
        f"t={NOW_MS},s={'0' * 65}",
        f"t={NOW_MS},s={'A' * 64}",
        f"t=-{NOW_MS},s={'0' * 64}",
        f"t={'9' * 17},s={'0' * 64}",
        f" t={NOW_MS},s={'0' * 64}",
    ],
    ids=[
        "garbage",
        "no-signature",
        "no-timestamp",
        "swapped",
        "short-signature",
        "long-signature",
        "upper-case-hex",
        "negative-time",
        "huge-time",
        "leading-space",
    ],
)
def test_a_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS)


@pytest.mark.parametrize("skew_ms", [MAX_SKEW_MS, -MAX_SKEW_MS, 0], ids=["old", "early", "now"])
def test_a_request_within_five_minutes_of_the_server_clock_is_accepted(skew_ms: int) -> None:
    # Given a request signed exactly at the edge of the allowed skew, either way
    header = signed(at_ms=NOW_MS - skew_ms)
    # When it is verified, then it is accepted
    verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS)


@pytest.mark.parametrize(
    "skew_ms", [MAX_SKEW_MS + 1, -MAX_SKEW_MS - 1], ids=["too-old", "from-the-future"]
)
def test_a_request_just_beyond_five_minutes_is_refused(skew_ms: int) -> None:
    # Given a validly signed request one millisecond beyond the allowed skew
    assert MAX_SKEW_MS == 5 * 60 * 1000
    header = signed(at_ms=NOW_MS - skew_ms)
    # When it is verified, then it is refused as too old or from the future
    with pytest.raises(Unauthenticated, match="too old or from the future"):
        verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS)


def test_a_request_is_accepted_once_and_its_replay_is_refused() -> None:
    guard = ReplayGuard()
    header = signed()
    verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS, replays=guard)
    with pytest.raises(Unauthenticated, match="replay"):
        verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS + 1, replays=guard)
    # The same request signed again (a retry) carries a new nonce and is accepted
    verify(SECRET, signed(), "POST", "/v1/execute", BODY, now_ms=NOW_MS, replays=guard)


def test_a_full_guard_forgets_its_oldest_and_refuses_anything_as_old() -> None:
    # Given a guard that remembers three requests, and four signed one millisecond apart
    guard = ReplayGuard(max_entries=3)
    headers = [signed(at_ms=NOW_MS + i) for i in range(4)]
    for header in headers:
        verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS + 5, replays=guard)
    # When the first (forgotten) is replayed, or another is signed at its time, both are refused
    for header in (headers[0], signed(at_ms=NOW_MS)):
        with pytest.raises(Unauthenticated, match="replay"):
            verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS + 5, replays=guard)
    # While a fresh request is accepted
    fresh = signed(at_ms=NOW_MS + 10)
    verify(SECRET, fresh, "POST", "/v1/execute", BODY, now_ms=NOW_MS + 10, replays=guard)


def test_the_guard_forgets_requests_older_than_the_skew_window() -> None:
    guard = ReplayGuard()
    for i in range(100):
        assert guard.admit(NOW_MS, f"{i:032x}", NOW_MS)
    # Once they could no longer pass the skew check, they are forgotten
    assert guard.admit(NOW_MS + MAX_SKEW_MS + 1, "f" * 32, NOW_MS + MAX_SKEW_MS + 1)
    assert len(guard._seen) == 1


def test_the_header_names_its_caller_and_a_relabelled_one_is_refused() -> None:
    # Given a request an operator signed
    header = sign(SECRET, "GET", "/v1/status", NOW_MS, b"", caller=OPERATOR)
    assert parse(header).caller == OPERATOR
    verify(SECRET, header, "GET", "/v1/status", b"", now_ms=NOW_MS)
    # When its caller is changed to a node (or a frontend), the signature no longer matches
    frontend = "c=frontend.RF" + "A" * 18
    for relabelled in ("c=node", frontend):
        forged = relabelled + header.removeprefix("c=operator")
        with pytest.raises(Unauthenticated, match="does not match"):
            verify(SECRET, forged, "GET", "/v1/status", b"", now_ms=NOW_MS)
    assert parse(frontend + header.removeprefix("c=operator")).caller == Caller(
        Role.FRONTEND, "RF" + "A" * 18
    )


@pytest.mark.parametrize(
    "caller",
    ["", "c=admin,", "c=frontend.,", "c=frontend.rfaaaaaaaaaaaaaaaaaa,", "c=frontend.RF1,",
     "c=node\n,", "c=" + "n" * 5000 + ","],
)  # fmt: skip
def test_a_header_with_a_malformed_caller_is_refused_without_echoing_it(caller: str) -> None:
    header = caller + signed().split(",", 1)[1]
    with pytest.raises(Unauthenticated, match="malformed") as caught:
        verify(SECRET, header, "POST", "/v1/execute", BODY, now_ms=NOW_MS)
    assert "admin" not in caught.value.message and "nnnn" not in caught.value.message

"""SigV4: what botocore (boto3, the AWS CLI) signs verifies; anything changed does not; our own
signer agrees with botocore's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence
from hypothesis import given
from hypothesis import strategies as st

from raftq.common.errors import Unauthenticated
from raftq.common.sigv4 import (
    REST_MAX_SKEW_S,
    SQS_MAX_SKEW_S,
    HttpRequest,
    InvalidClientTokenId,
    RequestExpired,
    SignatureDoesNotMatch,
    sign,
    verify,
)

KEY_ID, SECRET = "RQ0123456789ABCDEFGH", "s3cr3t/with+odd=chars"
SECRETS = {KEY_ID: SECRET}


def botocore_signed(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[HttpRequest, datetime]:
    """A request as botocore signs it, as a frontend would receive it."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sqs", "eu-west-1").add_auth(request)
    parts = urlsplit(url)
    received = {"Host": parts.netloc, **{k: v for k, v in request.headers.items()}}
    signed_at = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    return HttpRequest(method, parts.path or "/", parts.query, received, body), signed_at.replace(
        tzinfo=UTC
    )


def replace(request: HttpRequest, **changes: Any) -> HttpRequest:
    fields = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": dict(request.headers),
        "body": request.body,
        **changes,
    }
    return HttpRequest(**fields)


SQS_JSON = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "AmazonSQS.SendMessage",
}


@pytest.mark.parametrize(
    ("method", "url", "body", "headers"),
    [
        ("POST", "http://localhost:8080/", b'{"QueueUrl":"q","MessageBody":"hi"}', SQS_JSON),
        ("POST", "http://127.0.0.1:9324/", b"Action=ListQueues&Version=2012-11-05", {}),
        ("GET", "http://localhost:8080/v1/queues?prefix=orders-&limit=10", b"", {}),
        ("GET", "http://localhost/v1/queues?b=2&a=1&a=0&empty=&sp=a%20b", b"", {}),
        ("DELETE", "http://h:1/v1/queues/orders/messages/a%2Fb", b"", {}),
        ("PUT", "http://h:1/v1/./queues//x/../orders/", b"\x00\xff binary", {}),
    ],
)
def test_what_botocore_signs_verifies(
    method: str, url: str, body: bytes, headers: dict[str, str]
) -> None:
    request, signed_at = botocore_signed(method, url, body, headers)
    verified = verify(request, SECRETS.get, signed_at, SQS_MAX_SKEW_S)
    assert (verified.access_key_id, verified.region) == (KEY_ID, "eu-west-1")


def test_our_signer_gives_botocores_signature() -> None:
    request, signed_at = botocore_signed("POST", "http://localhost:8080/", b"{}", SQS_JSON)
    unsigned = {
        k: v for k, v in request.headers.items() if k not in ("Authorization", "X-Amz-Date")
    }
    ours = sign(replace(request, headers=unsigned), KEY_ID, SECRET, signed_at, region="eu-west-1")
    assert ours["Authorization"] == request.header("Authorization")


def test_any_change_to_a_signed_request_is_refused() -> None:
    request, at = botocore_signed("POST", "http://localhost:8080/", b'{"a":1}', SQS_JSON)
    tampered = [
        replace(request, body=b'{"a":2}'),
        replace(request, method="PUT"),
        replace(request, path="/other"),
        replace(request, query="x=1"),
        replace(request, headers={**request.headers, "Host": "localhost:8081"}),
        replace(request, headers={**request.headers, "X-Amz-Target": "AmazonSQS.DeleteQueue"}),
    ]
    for changed in tampered:
        with pytest.raises(SignatureDoesNotMatch):
            verify(changed, SECRETS.get, at, SQS_MAX_SKEW_S)
    with pytest.raises(SignatureDoesNotMatch):
        verify(request, {KEY_ID: "another secret"}.get, at, SQS_MAX_SKEW_S)


def test_time_skew_unknown_keys_and_missing_parts_are_refused_with_their_reason() -> None:
    request, at = botocore_signed("GET", "http://localhost/v1/queues")
    verify(request, SECRETS.get, at + timedelta(seconds=REST_MAX_SKEW_S), REST_MAX_SKEW_S)
    for off in (REST_MAX_SKEW_S + 1, -REST_MAX_SKEW_S - 1):
        with pytest.raises(RequestExpired):
            verify(request, SECRETS.get, at + timedelta(seconds=off), REST_MAX_SKEW_S)
    nobody: dict[str, str] = {}
    with pytest.raises(InvalidClientTokenId):
        verify(request, nobody.get, at, REST_MAX_SKEW_S)
    headers = dict(request.headers)
    authorization = headers["Authorization"]
    cases: dict[str, dict[str, str]] = {
        "unsigned": {k: v for k, v in headers.items() if k != "Authorization"},
        "no date": {k: v for k, v in headers.items() if k != "X-Amz-Date"},
        "bad date": {**headers, "X-Amz-Date": "yesterday"},
        "month 13": {**headers, "X-Amz-Date": "20261304T000000Z"},
        "no Z": {**headers, "X-Amz-Date": headers["X-Amz-Date"][:-1]},
        "digits not ASCII": {**headers, "X-Amz-Date": "２０２６1204T000000Z"},
        "other algorithm": {**headers, "Authorization": authorization.replace("HMAC-SHA256", "X")},
        "short signature": {**headers, "Authorization": authorization[:-2]},
        "scope of another day": {
            **headers,
            "Authorization": authorization.replace(f"/{headers['X-Amz-Date'][:8]}/", "/20000101/"),
        },
        "host not signed": {
            **headers,
            "Authorization": authorization.replace("SignedHeaders=host;", "SignedHeaders="),
        },
        "signed header absent": {k: v for k, v in headers.items() if k != "Host"},
        "huge": {**headers, "Authorization": authorization + "0" * 100_000},
    }
    for name, changed in cases.items():
        with pytest.raises(Unauthenticated):
            verify(replace(request, headers=changed), SECRETS.get, at, REST_MAX_SKEW_S)
        assert name


@given(
    body=st.binary(max_size=512),
    path=st.lists(st.text("abc-_.~%20/", min_size=1, max_size=8), max_size=4),
    query=st.dictionaries(
        st.text("abz-_", min_size=1, max_size=5), st.text(max_size=8), max_size=4
    ),
)
def test_our_signature_verifies_and_matches_botocore_for_any_request(
    body: bytes, path: list[str], query: dict[str, str]
) -> None:
    # Encoded as botocore encodes the query strings it sends (RFC 3986, `%20` for a space).
    url = "http://h:8080/" + "/".join(path) + "?" + percent_encode_sequence(query)
    oracle = AWSRequest(method="POST", url=url, data=body, headers={"Host": "h:8080"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sqs", "us-east-1").add_auth(oracle)
    at = datetime.strptime(oracle.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    parts = urlsplit(url)
    plain = HttpRequest("POST", parts.path or "/", parts.query, {"Host": "h:8080"}, body)
    headers = {**plain.headers, **sign(plain, KEY_ID, SECRET, at)}
    assert headers["Authorization"] == oracle.headers["Authorization"]
    signed = replace(plain, headers=headers)
    assert verify(signed, SECRETS.get, at, REST_MAX_SKEW_S).access_key_id == KEY_ID


def test_a_path_signed_as_sent_verifies_as_curl_signs_it() -> None:
    """Recorded from `curl 7.88.1 --aws-sigv4 "aws:amz:us-east-1:sqs" --user AK:SECRET -H
    "Content-Type: application/json" -d '{"entries":[]}' http://127.0.0.1:18777/v1/queues/orders/
    messages:batch`: curl signs the path as sent, `:` unencoded, where AWS signers encode it."""
    headers = {
        "Host": "127.0.0.1:18777",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20261204/us-east-1/sqs/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5c963c0a44f51d22316a509c6261639a195e261b7d96f45d4e70b31bdb0edec5",
        "X-Amz-Date": "20261204T210941Z",
        "Content-Type": "application/json",
    }
    path = "/v1/queues/orders/messages:batch"
    request = HttpRequest("POST", path, "", headers, b'{"entries":[]}')
    at = datetime(2026, 12, 4, 21, 9, 41, tzinfo=UTC)
    assert verify(request, {"AK": "SECRET"}.get, at, REST_MAX_SKEW_S).access_key_id == "AK"
    with pytest.raises(SignatureDoesNotMatch):  # another route is not signed by it
        other = replace(request, path="/v1/queues/orders/messages:delete")
        verify(other, {"AK": "SECRET"}.get, at, REST_MAX_SKEW_S)

"""AWS Signature Version 4: how raftq clients sign requests and how frontends verify them.

One scheme serves both public APIs: the SQS-compatible API must accept what boto3 and the AWS
CLI send, and the native REST API uses the same signatures, so any AWS SDK signer, curl
(`--aws-sigv4`) or the raftq SDK can call either. The service name in the credential scope is
`sqs`; the region is whatever the client chose (it is only part of the scope).
It sits in common/ because the SDK signs with it and the frontend verifies with it.

Verification (pure: time and the secret lookup are inputs):
1. Parse `Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/<service>/
   aws4_request, SignedHeaders=<h1;h2;...>, Signature=<64 hex>` and `X-Amz-Date`.
2. Refuse a time more than `max_skew_s` from now, a scope date that is not the request's date,
   a signed-header list without `host` and `x-amz-date` (`check_form`: no secret needed, so a
   caller looks the key up only after these), and an unknown key id.
3. Rebuild the canonical request from the request as received (method, path, query, the signed
   headers with the Host header as sent, `X-Amz-Content-SHA256` or the SHA-256 of the raw
   body), derive the signing key from the secret and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final
from urllib.parse import quote, unquote

from raftq.common.errors import Unauthenticated

ALGORITHM: Final = "AWS4-HMAC-SHA256"
SERVICE: Final = "sqs"
# SQS allows 15 minutes of skew; the native REST API asks for 5 (the frontend passes its own).
SQS_MAX_SKEW_S: Final = 15 * 60
REST_MAX_SKEW_S: Final = 5 * 60

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 +Credential=(?P<key_id>[A-Za-z0-9]{1,128})/(?P<date>\d{8})/"
    r"(?P<region>[a-z0-9-]{1,32})/(?P<service>[a-z0-9-]{1,32})/aws4_request, *"
    r"SignedHeaders=(?P<headers>[a-z0-9-]+(?:;[a-z0-9-]+)*), *"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_SHAPE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()


class SignatureDoesNotMatch(Unauthenticated):
    """Raised when a request's signature is not the one its key's secret gives."""

    code = "SignatureDoesNotMatch"


class RequestExpired(Unauthenticated):
    """Raised when a signed request's time is too far from the server's."""

    code = "RequestExpired"


class InvalidClientTokenId(Unauthenticated):
    """Raised when a request is signed with an access key id the service does not know, or one
    that was revoked."""

    code = "InvalidClientTokenId"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What verification needs of a request, exactly as received."""

    method: str
    path: str  # the raw path, percent-encoded as sent
    query: str  # the raw query string, without `?`
    headers: Mapping[str, str]  # names in any case; one value each (joined with "," if repeated)
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Verified:
    access_key_id: str
    region: str


def sign(
    request: HttpRequest,
    access_key_id: str,
    secret: str,
    now: datetime,
    *,
    region: str = "us-east-1",
    service: str = SERVICE,
) -> dict[str, str]:
    """The headers to add so `request` carries a SigV4 signature (Host must be in it)."""
    amz_date = now.astimezone(UTC).strftime(_AMZ_DATE)
    headers = {**request.headers, "X-Amz-Date": amz_date}
    signed = sorted({name.lower() for name in headers} - _UNSIGNED)
    dated = HttpRequest(request.method, request.path, request.query, headers, request.body)
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    signature = _signature(
        dated, signed, amz_date, scope, secret, canonical_path=_canonical_path(request.path)
    )
    authorization = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return {"X-Amz-Date": amz_date, "Authorization": authorization}


@dataclass(frozen=True)
class SignedRequest:
    """What the Authorization header claims, once its form and time were checked."""

    key_id: str
    region: str
    scope: str
    signed_headers: list[str]
    amz_date: str
    signature: str


def verify(
    request: HttpRequest,
    secret_of: Callable[[str], str | None],
    now: datetime,
    max_skew_s: int,
) -> Verified:
    """The verified caller of `request`, or `Unauthenticated` (a subclass saying why)."""
    claimed = check_form(request, now, max_skew_s)
    return check_signature(request, claimed, secret_of(claimed.key_id))


def check_form(request: HttpRequest, now: datetime, max_skew_s: int) -> SignedRequest:
    """Steps 1 and 2 but the key: everything that needs no secret, so that a caller looks the
    key up (a round trip to the metadata group when it is not cached) only for a request that
    could be valid. `Unauthenticated` (a subclass saying why) otherwise."""
    authorization = request.header("Authorization")
    if authorization is None:
        raise Unauthenticated("the request is not signed (no Authorization header)")
    match = _AUTHORIZATION.fullmatch(authorization.strip())
    if match is None:
        raise Unauthenticated("the Authorization header is not an AWS4-HMAC-SHA256 signature")
    amz_date = request.header("X-Amz-Date")
    if amz_date is None:
        raise Unauthenticated("the request has no X-Amz-Date header")
    signed_at = _parse_amz_date(amz_date)
    if abs((now - signed_at).total_seconds()) > max_skew_s:
        raise RequestExpired(
            f"the request was signed at {amz_date}, more than {max_skew_s} s from the server's time"
        )
    if match["date"] != amz_date[:8]:
        raise SignatureDoesNotMatch("the credential scope's date is not the request's date")
    signed = match["headers"].split(";")
    if "host" not in signed or "x-amz-date" not in signed or signed != sorted(set(signed)):
        raise SignatureDoesNotMatch("SignedHeaders must be sorted and include host and x-amz-date")
    if any(request.header(name) is None for name in signed):
        raise SignatureDoesNotMatch("a signed header is missing from the request")
    return SignedRequest(
        key_id=match["key_id"],
        region=match["region"],
        scope=f"{match['date']}/{match['region']}/{match['service']}/aws4_request",
        signed_headers=signed,
        amz_date=amz_date,
        signature=match["signature"],
    )


def check_signature(request: HttpRequest, claimed: SignedRequest, secret: str | None) -> Verified:
    """Step 3, with the secret of `claimed.key_id` (None: unknown or revoked)."""
    if secret is None:
        raise InvalidClientTokenId("the access key id is unknown or revoked")
    for path in _signable_paths(request.path):
        expected = _signature(
            request,
            claimed.signed_headers,
            claimed.amz_date,
            claimed.scope,
            secret,
            canonical_path=path,
        )
        if hmac.compare_digest(expected, claimed.signature):
            return Verified(access_key_id=claimed.key_id, region=claimed.region)
    raise SignatureDoesNotMatch("the signature does not match the request and the key")


def _signable_paths(path: str) -> list[str]:
    """The canonical paths a genuine signer of `path` may have signed: AWS's (every character
    but unreserved ones and `/` encoded once more, as botocore and the raftq SDK sign), then the
    path exactly as sent, which curl's `--aws-sigv4` (7.75 to 8.x) signs: it does not encode the
    `:` of `/messages:batch`, so AWS's form alone refused curl on the batch routes. Both are
    derived from the request as received, so accepting either admits no other request."""
    canonical = _canonical_path(path)
    return [canonical] if canonical == path else [canonical, path]


# botocore leaves these out of a signature (proxies may change them).
_UNSIGNED: Final = frozenset(
    {
        "authorization",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def _signature(
    request: HttpRequest,
    signed: list[str],
    amz_date: str,
    scope: str,
    secret: str,
    *,
    canonical_path: str,
) -> str:
    canonical = "\n".join(
        [
            request.method.upper(),
            canonical_path,
            _canonical_query(request.query),
            "".join(f"{name}:{_canonical_value(request.header(name) or '')}\n" for name in signed),
            ";".join(signed),
            request.header("X-Amz-Content-SHA256") or _payload_hash(request.body),
        ]
    )
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    date, region, service, _ = scope.split("/")
    key = _signing_key(secret, date, region, service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The key a secret signs with on one day, in one region, for one service: the same for
    every request of that day, so derived (four HMACs) once, not per request."""
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _parse_amz_date(amz_date: str) -> datetime:
    """`YYYYMMDDTHHMMSSZ` as a UTC time (datetime.strptime took a tenth of a verify)."""
    shape = _AMZ_DATE_SHAPE.fullmatch(amz_date)
    if shape is None:
        raise Unauthenticated("X-Amz-Date is not YYYYMMDDTHHMMSSZ")
    try:
        year, month, day, hour, minute, second = (int(part) for part in shape.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise Unauthenticated("X-Amz-Date is not YYYYMMDDTHHMMSSZ") from None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256


def _canonical_path(path: str) -> str:
    """Dot segments and empty segments removed, then the raw path URI-encoded once more, as AWS
    signs paths for every service but S3 (a `%20` is signed as `%2520`)."""
    segments: list[str] = []
    for segment in (path or "/").split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    normalized = "/" + "/".join(segments)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return quote(normalized, safe="/~")


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        pairs.append((_encode(unquote(key)), _encode(unquote(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _canonical_value(value: str) -> str:
    return " ".join(value.split())

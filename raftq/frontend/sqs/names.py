"""Queue URLs and ARNs in SQS's shapes.

A raftq deployment is one account to SQS clients: URLs are `<scheme>://<host>/<account>/<name>`
(the Host the client used, so a URL works from where it was asked) and ARNs
`arn:aws:sqs:<region>:<account>:<name>`. Requests may name a queue by URL, by ARN where SQS takes
ARNs, or (as moto and ElasticMQ allow) by bare name.
"""

from __future__ import annotations

import re
from typing import Final

from raftq.common.errors import InvalidParameter, QueueNotFound

ACCOUNT_ID: Final = "000000000000"
# SQS clients put the region in the signature's scope only; ARNs carry this one.
REGION: Final = "us-east-1"
_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,75}(\.fifo)?$|^[A-Za-z0-9_-]{1,80}$")
_URL: Final = re.compile(r"^[a-z]+://[^/]+/(?P<account>[^/]+)/(?P<name>[^/]+)/?$")
_ARN: Final = re.compile(r"^arn:aws:sqs:[a-z0-9-]*:(?P<account>[^:]+):(?P<name>[^:]+)$")


def queue_url(scheme: str, host: str, name: str) -> str:
    return f"{scheme}://{host}/{ACCOUNT_ID}/{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def checked_name(name: str, field: str = "QueueName") -> str:
    if not _NAME.match(name):
        raise InvalidParameter(
            "queue names are 1-80 characters of A-Z, a-z, 0-9, '-' and '_', "
            "FIFO queue names ending in '.fifo'",
            field=field,
        )
    return name


def name_of_url(url: str, field: str = "QueueUrl") -> str:
    """The queue a `QueueUrl` names: a URL whose path is /<account>/<name>, or a bare name."""
    match = _URL.match(url)
    if match is None:
        if "/" in url or ":" in url:
            raise InvalidParameter(f"{url!r} is not a queue URL", field=field)
        return checked_name(url, field)
    if match["account"] != ACCOUNT_ID:
        raise QueueNotFound("The specified queue does not exist.", field=field)
    return checked_name(match["name"], field)


def name_of_arn(arn: str, field: str) -> str:
    match = _ARN.match(arn)
    if match is None:
        raise InvalidParameter(f"{arn!r} is not an SQS queue ARN", field=field)
    if match["account"] != ACCOUNT_ID:
        raise QueueNotFound("The specified queue does not exist.", field=field)
    return checked_name(match["name"], field)

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
_SHOWN_MAX: Final = 100
NO_SUCH_QUEUE: Final = "The specified queue does not exist."
_ARN: Final = re.compile(r"^arn:aws:sqs:[a-z0-9-]*:(?P<account>[^:]+):(?P<name>[^:]+)$")


def queue_url(scheme: str, host: str, name: str) -> str:
    return f"{scheme}://{host}/{ACCOUNT_ID}/{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def checked_name(name: str, field: str = "QueueName") -> str:
    if not _NAME.match(name):
        raise InvalidParameter(
            f"Value {name[:_SHOWN_MAX]} for parameter {field} is invalid. Reason: Can only "
            "include alphanumeric characters, hyphens, or underscores. 1 to 80 in length "
            "(a FIFO queue's name ends in .fifo, counted).",
            field=field,
        )
    return name


def name_of_url(url: str, field: str = "QueueUrl") -> str:
    """The queue a `QueueUrl` names: a URL whose path is /<account>/<name>, or a bare name.

    Anything else names no queue, and SQS answers so (`AWS.SimpleQueueService.NonExistentQueue`),
    not with a complaint about the URL's shape."""
    match = _URL.match(url)
    if match is None:
        name = url
    elif match["account"] != ACCOUNT_ID:
        raise QueueNotFound(NO_SUCH_QUEUE, field=field)
    else:
        name = match["name"]
    if not _NAME.match(name):
        raise QueueNotFound(NO_SUCH_QUEUE, field=field)
    return name


def name_of_arn(arn: str, field: str) -> str:
    match = _ARN.match(arn)
    if match is None:
        raise InvalidParameter(f"{arn!r} is not an SQS queue ARN", field=field)
    if match["account"] != ACCOUNT_ID:
        raise QueueNotFound(NO_SUCH_QUEUE, field=field)
    return checked_name(match["name"], field)

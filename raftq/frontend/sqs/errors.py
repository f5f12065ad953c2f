"""raftq errors as SQS reports them, in one table (../shared/notes/sqs.md §1.6, §2.2, §2.3).

Each error has a shape (the JSON `__type` after `com.amazonaws.sqs#`), a legacy query code
(the JSON `x-amzn-query-error` header and the query protocol's `<Code>`), a fault (`Sender` when
the caller is at fault) and an HTTP status, which comes from the frontend's one status table
(raftq/frontend/http_status.py). Errors not in the table keep their own code: raftq's codes for
client faults were chosen to be SQS's where SQS has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from raftq.common.errors import (
    AccessDenied,
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    ClientError,
    DeadLetterQueueInvalid,
    EmptyBatchRequest,
    InvalidAction,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidBatchEntryId,
    InvalidParameter,
    MessageNotInflight,
    MessageTooLarge,
    MissingParameter,
    MoveTaskNotFound,
    OverLimit,
    PayloadTooLarge,
    PurgeQueueInProgress,
    QueueAlreadyExists,
    QueueNotFound,
    RaftqError,
    ReceiptHandleInvalid,
    ResourceNotFound,
    Throttled,
    TooManyEntriesInBatch,
    Unauthenticated,
    UnsupportedOperation,
)
from raftq.frontend.http_status import statuses_of

_LEGACY_PREFIX: Final = "AWS.SimpleQueueService."


@dataclass(frozen=True)
class SqsError:
    shape: str
    legacy_code: str
    fault: str  # "Sender" or "Receiver"
    status: int
    message: str


# error class -> (shape, legacy code)
_TABLE: Final[tuple[tuple[type[RaftqError], str, str], ...]] = (
    (QueueNotFound, "QueueDoesNotExist", _LEGACY_PREFIX + "NonExistentQueue"),
    (QueueAlreadyExists, "QueueNameExists", "QueueAlreadyExists"),
    (PurgeQueueInProgress, "PurgeQueueInProgress", _LEGACY_PREFIX + "PurgeQueueInProgress"),
    (OverLimit, "OverLimit", "OverLimit"),
    (MessageNotInflight, "MessageNotInflight", _LEGACY_PREFIX + "MessageNotInflight"),
    (ReceiptHandleInvalid, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"),
    (
        BatchEntryIdsNotDistinct,
        "BatchEntryIdsNotDistinct",
        _LEGACY_PREFIX + "BatchEntryIdsNotDistinct",
    ),
    (BatchRequestTooLong, "BatchRequestTooLong", _LEGACY_PREFIX + "BatchRequestTooLong"),
    (EmptyBatchRequest, "EmptyBatchRequest", _LEGACY_PREFIX + "EmptyBatchRequest"),
    (InvalidBatchEntryId, "InvalidBatchEntryId", _LEGACY_PREFIX + "InvalidBatchEntryId"),
    (
        TooManyEntriesInBatch,
        "TooManyEntriesInBatchRequest",
        _LEGACY_PREFIX + "TooManyEntriesInBatchRequest",
    ),
    (UnsupportedOperation, "UnsupportedOperation", _LEGACY_PREFIX + "UnsupportedOperation"),
    (ResourceNotFound, "ResourceNotFoundException", "ResourceNotFoundException"),
    (MoveTaskNotFound, "ResourceNotFoundException", "ResourceNotFoundException"),
    (InvalidAttributeName, "InvalidAttributeName", "InvalidAttributeName"),
    (InvalidAttributeValue, "InvalidAttributeValue", "InvalidAttributeValue"),
    (DeadLetterQueueInvalid, "InvalidParameterValue", "InvalidParameterValue"),
    (MessageTooLarge, "InvalidParameterValue", "InvalidParameterValue"),
    (PayloadTooLarge, "InvalidParameterValue", "InvalidParameterValue"),
    (MissingParameter, "MissingParameter", "MissingParameter"),
    (InvalidAction, "InvalidAction", "InvalidAction"),
    (AccessDenied, "AccessDenied", "AccessDenied"),
    (Throttled, "RequestThrottled", "RequestThrottled"),
)


# The message SQS gives for a shape whatever the request, where it has one fixed message: raftq's
# own wording (which names its internals, such as "queue 'q' does not exist") never replaces it.
FIXED_MESSAGES: Final[dict[str, str]] = {
    "QueueDoesNotExist": "The specified queue does not exist.",
    "MessageNotInflight": (
        "Message does not exist or is not available for visibility timeout change."
    ),
    "InvalidBatchEntryId": (
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
        "It can be at most 80 letters long."
    ),
    # raftq's reason for refusing a signature stays in the frontend's request log.
    "SignatureDoesNotMatch": (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    ),
    "InvalidClientTokenId": "The security token included in the request is invalid.",
}


def describe(error: RaftqError) -> SqsError:
    status = statuses_of(error).sqs
    for kind, shape, legacy in _TABLE:
        if isinstance(error, kind):
            message = FIXED_MESSAGES.get(shape, error.message)
            return SqsError(shape, legacy, "Sender", status, message)
    if isinstance(error, Unauthenticated):
        # SignatureDoesNotMatch, RequestExpired, InvalidClientTokenId keep their own codes.
        code = error.code if error.code != Unauthenticated.code else "MissingAuthenticationToken"
        return SqsError(code, code, "Sender", status, FIXED_MESSAGES.get(code, error.message))
    if isinstance(error, InvalidParameter):
        return SqsError(
            "InvalidParameterValue", "InvalidParameterValue", "Sender", status, error.message
        )
    if isinstance(error, ClientError):
        return SqsError(error.code, error.code, "Sender", status, error.message)
    return SqsError("ServiceUnavailable", "ServiceUnavailable", "Receiver", status, error.message)

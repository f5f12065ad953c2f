"""raftq errors as SQS reports them, in one table (../shared/notes/sqs.md §1.6, §2.2, §2.3).

Each error has a shape (the JSON `__type` after `com.amazonaws.sqs#`), a legacy query code
(the JSON `x-amzn-query-error` header and the query protocol's `<Code>`), a fault (`Sender` when
the caller is at fault) and an HTTP status. Errors not in the table keep their own code: raftq's
codes for client faults were chosen to be SQS's where SQS has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from raftq.common.errors import (
    AccessDenied,
    BatchEntryIdsNotDistinct,
    ClientError,
    DeadLetterQueueInvalid,
    EmptyBatchRequest,
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
    Throttled,
    TooManyEntriesInBatch,
    Unauthenticated,
)

_LEGACY_PREFIX: Final = "AWS.SimpleQueueService."


class UnsupportedOperation(ClientError):
    """Raised when a request names an SQS action raftq does not serve."""

    code = "UnsupportedOperation"


class InvalidAction(ClientError):
    """Raised when a query-protocol request names no action, or one SQS does not have."""

    code = "InvalidAction"


class InvalidAttributeName(ClientError):
    """Raised when a queue or message attribute name is unknown or not allowed."""

    code = "InvalidAttributeName"


class InvalidAttributeValue(ClientError):
    """Raised when a queue attribute's value is malformed or out of range."""

    code = "InvalidAttributeValue"


class InvalidBatchEntryId(ClientError):
    """Raised when a batch entry id is not 1-80 characters of A-Z, a-z, 0-9, '-' and '_'."""

    code = "InvalidBatchEntryId"


class BatchRequestTooLong(ClientError):
    """Raised when the messages of one SendMessageBatch add up to more than a message may be."""

    code = "BatchRequestTooLong"


class ResourceNotFound(ClientError):
    """Raised when a message move task handle or source names nothing that exists."""

    code = "ResourceNotFoundException"


@dataclass(frozen=True)
class SqsError:
    shape: str
    legacy_code: str
    fault: str  # "Sender" or "Receiver"
    status: int
    message: str


# error class -> (shape, legacy code, HTTP status)
_TABLE: Final[tuple[tuple[type[RaftqError], str, str, int], ...]] = (
    (QueueNotFound, "QueueDoesNotExist", _LEGACY_PREFIX + "NonExistentQueue", 400),
    (QueueAlreadyExists, "QueueNameExists", "QueueAlreadyExists", 400),
    (PurgeQueueInProgress, "PurgeQueueInProgress", _LEGACY_PREFIX + "PurgeQueueInProgress", 403),
    (OverLimit, "OverLimit", "OverLimit", 403),
    (MessageNotInflight, "MessageNotInflight", _LEGACY_PREFIX + "MessageNotInflight", 400),
    (ReceiptHandleInvalid, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400),
    (
        BatchEntryIdsNotDistinct,
        "BatchEntryIdsNotDistinct",
        _LEGACY_PREFIX + "BatchEntryIdsNotDistinct",
        400,
    ),
    (BatchRequestTooLong, "BatchRequestTooLong", _LEGACY_PREFIX + "BatchRequestTooLong", 400),
    (EmptyBatchRequest, "EmptyBatchRequest", _LEGACY_PREFIX + "EmptyBatchRequest", 400),
    (InvalidBatchEntryId, "InvalidBatchEntryId", _LEGACY_PREFIX + "InvalidBatchEntryId", 400),
    (
        TooManyEntriesInBatch,
        "TooManyEntriesInBatchRequest",
        _LEGACY_PREFIX + "TooManyEntriesInBatchRequest",
        400,
    ),
    (UnsupportedOperation, "UnsupportedOperation", _LEGACY_PREFIX + "UnsupportedOperation", 400),
    (ResourceNotFound, "ResourceNotFoundException", "ResourceNotFoundException", 404),
    (MoveTaskNotFound, "ResourceNotFoundException", "ResourceNotFoundException", 404),
    (InvalidAttributeName, "InvalidAttributeName", "InvalidAttributeName", 400),
    (InvalidAttributeValue, "InvalidAttributeValue", "InvalidAttributeValue", 400),
    (DeadLetterQueueInvalid, "InvalidParameterValue", "InvalidParameterValue", 400),
    (MessageTooLarge, "InvalidParameterValue", "InvalidParameterValue", 400),
    (PayloadTooLarge, "InvalidParameterValue", "InvalidParameterValue", 400),
    (MissingParameter, "MissingParameter", "MissingParameter", 400),
    (InvalidAction, "InvalidAction", "InvalidAction", 400),
    (AccessDenied, "AccessDenied", "AccessDenied", 403),
    (Throttled, "RequestThrottled", "RequestThrottled", 403),
)


def describe(error: RaftqError) -> SqsError:
    for kind, shape, legacy, status in _TABLE:
        if isinstance(error, kind):
            return SqsError(shape, legacy, "Sender", status, error.message)
    if isinstance(error, Unauthenticated):
        # SignatureDoesNotMatch, RequestExpired, InvalidClientTokenId: AWS answers 403.
        code = error.code if error.code != Unauthenticated.code else "MissingAuthenticationToken"
        return SqsError(code, code, "Sender", 403, error.message)
    if isinstance(error, InvalidParameter):
        return SqsError(
            "InvalidParameterValue", "InvalidParameterValue", "Sender", 400, error.message
        )
    if isinstance(error, ClientError):
        return SqsError(error.code, error.code, "Sender", 400, error.message)
    return SqsError("ServiceUnavailable", "ServiceUnavailable", "Receiver", 503, error.message)

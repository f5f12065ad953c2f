"""Every raftq error an SQS caller can get maps to SQS's shape, legacy code and status."""

from __future__ import annotations

import pytest

from raftq.common.errors import (
    AccessDenied,
    BackendUnavailable,
    InvalidBatchEntryId,
    InvalidParameter,
    MessageNotInflight,
    MoveTaskNotFound,
    PurgeQueueInProgress,
    QueueAlreadyExists,
    QueueNotFound,
    RaftqError,
    Throttled,
    UnsupportedOperation,
)
from raftq.common.sigv4 import SignatureDoesNotMatch
from raftq.frontend.sqs.errors import describe

LEGACY = "AWS.SimpleQueueService."


@pytest.mark.parametrize(
    ("error", "shape", "legacy", "status"),
    [
        (QueueNotFound("x"), "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400),
        (QueueAlreadyExists("x"), "QueueNameExists", "QueueAlreadyExists", 400),
        (PurgeQueueInProgress("x"), "PurgeQueueInProgress", LEGACY + "PurgeQueueInProgress", 403),
        (UnsupportedOperation("x"), "UnsupportedOperation", LEGACY + "UnsupportedOperation", 400),
        (MoveTaskNotFound("x"), "ResourceNotFoundException", "ResourceNotFoundException", 404),
        (SignatureDoesNotMatch("x"), "SignatureDoesNotMatch", "SignatureDoesNotMatch", 403),
        (AccessDenied("x"), "AccessDenied", "AccessDenied", 403),
        (Throttled("x"), "RequestThrottled", "RequestThrottled", 403),
        (InvalidParameter("x"), "InvalidParameterValue", "InvalidParameterValue", 400),
    ],
)  # fmt: skip
def test_client_faults_are_the_senders(
    error: RaftqError, shape: str, legacy: str, status: int
) -> None:
    described = describe(error)
    assert (described.shape, described.legacy_code, described.status) == (shape, legacy, status)
    assert described.fault == "Sender"


def test_peer_faults_are_the_receivers_and_retryable() -> None:
    described = describe(BackendUnavailable("down"))
    assert (described.status, described.fault) == (503, "Receiver")


def test_shapes_with_one_sqs_message_have_it_whatever_raftq_said() -> None:
    assert describe(QueueNotFound("queue 'q' does not exist")).message == (
        "The specified queue does not exist."
    )
    assert describe(MessageNotInflight("the message is not in flight")).message == (
        "Message does not exist or is not available for visibility timeout change."
    )
    assert describe(InvalidBatchEntryId("x")).message.startswith("A batch entry id can only")
    assert describe(SignatureDoesNotMatch("the scope's date is not the request's")).message == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    )
    assert describe(InvalidParameter("Value 5 for parameter X is invalid.")).message == (
        "Value 5 for parameter X is invalid."
    )

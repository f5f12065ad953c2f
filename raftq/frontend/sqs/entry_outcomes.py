"""What SQS answers where raftq's backend refuses a delete or a change of visibility.

The backend keeps the strict rule the REST API and the task layer rely on: only a message's
latest receipt handle acts on it. SQS is lenient, and its clients count on it (SQS: "the request
succeeds, but the message might not be deleted"), so the SQS edge maps the backend's refusals:

- DeleteMessage with an old handle of a message that still exists succeeds and deletes
  nothing: the message stays for the consumer that holds its latest handle.
- ChangeMessageVisibility of a message whose lease has already run out succeeds and changes
  nothing: the message stays visible.
- ChangeMessageVisibility of a message deleted or expired, or received again since the handle
  was issued, is InvalidParameterValue ("Message does not exist or is not available for
  visibility timeout change").
"""

from __future__ import annotations

from raftq.common.errors import InvalidParameter, MessageNotInflight, ReceiptHandleInvalid
from raftq.common.results import EntryFailure


def _not_latest(failure: EntryFailure) -> bool:
    return (
        failure.code == ReceiptHandleInvalid.code
        and failure.message == ReceiptHandleInvalid.NOT_LATEST
    )


def accepted_delete(failure: EntryFailure) -> bool:
    """Whether SQS would report this refused delete as a success."""
    return _not_latest(failure)


def accepted_visibility_change(failure: EntryFailure) -> bool:
    """Whether SQS would report this refused change of visibility as a success."""
    return (
        failure.code == MessageNotInflight.code and failure.message == MessageNotInflight.NOT_LEASED
    )


def unavailable_for_visibility(failure: EntryFailure, handle: str) -> InvalidParameter | None:
    """SQS's error for a change of visibility of a message gone or re-received, if it is one."""
    if failure.code == MessageNotInflight.code or _not_latest(failure):
        return InvalidParameter(
            f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not "
            "exist or is not available for visibility timeout change.",
            field="ReceiptHandle",
        )
    return None

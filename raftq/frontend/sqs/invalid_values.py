"""A value raftq's models refuse, told as SQS tells it: `Value <v> for parameter <Name> is
invalid. Reason: <why>.`, with SQS's parameter name, never pydantic's wording.

The actions check most members themselves; this is for the checks the shared models make
(patterns and lengths of ids, tokens, handles), and the net under any other, so that a client
never reads "String should match pattern" or "validation error for"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from raftq.common.errors import InvalidParameter

# raftq's model fields -> the SQS member they come from.
SQS_NAMES: Final[Mapping[str, str]] = {
    "id": "Id",
    "body": "MessageBody",
    "attributes": "MessageAttributes",
    "delay_s": "DelaySeconds",
    "dedup_id": "MessageDeduplicationId",
    "group_id": "MessageGroupId",
    "trace_header": "AWSTraceHeader",
    "attempt_id": "ReceiveRequestAttemptId",
    "receipt_handle": "ReceiptHandle",
    "visibility_timeout_s": "VisibilityTimeout",
    "wait_s": "WaitTimeSeconds",
    "max": "MaxNumberOfMessages",
    "permission": "redrivePermission",
    "source_queues": "sourceQueueArns",
    "tags": "Tags",
    "name": "QueueName",
}
_SHOWN_MAX: Final = 64  # characters of the refused value the message repeats


def invalid_value(error: ValidationError, parameter: str | None = None) -> InvalidParameter:
    """The first refusal in `error`, as SQS words it; `parameter` names the SQS member when
    the caller knows it better than the model's field name does."""
    details = error.errors()[0]
    name = parameter or _parameter_of(details)
    return InvalidParameter(
        f"Value {_shown(details.get('input'))} for parameter {name} is invalid. "
        f"Reason: {_reason(details)}.",
        field=name,
    )


def _parameter_of(details: ErrorDetails) -> str:
    fields = [part for part in details["loc"] if isinstance(part, str)]
    if not fields:
        return "request"
    return SQS_NAMES.get(fields[0], fields[0])


def _shown(value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        return "(given)"
    text = str(value)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."


def _reason(details: ErrorDetails) -> str:
    kind = details["type"]
    context = details.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return "it contains characters that are not allowed"
    if kind == "string_too_long":
        return f"it must be at most {context.get('max_length')} characters long"
    if kind in ("string_too_short", "too_short"):
        return "it must not be empty"
    if kind == "too_long":
        return f"it takes at most {context.get('max_length')} entries"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return "it is out of range"
    if kind == "literal_error":
        return f"it must be one of {context.get('expected')}"
    if kind == "value_error":
        return str(context.get("error", "it is not valid")).rstrip(".")
    return "it is not valid"

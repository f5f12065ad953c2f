"""SendMessageBatch's rules that refuse the whole request, checked before any entry on its own.

SQS refuses a batch as a request (not entry by entry in `Failed[]`) when its messages add up to
more than the size limit, even with one entry, and, on a FIFO queue, when an entry lacks its
group id or the deduplication id the queue needs."""

from __future__ import annotations

import contextlib
from typing import Any

from raftq.common import limits
from raftq.common.errors import (
    BatchRequestTooLong,
    InvalidParameter,
    MissingParameter,
    RaftqError,
)
from raftq.frontend.sqs import message_attributes as attrs


def entry_bytes(entry: dict[str, Any]) -> int:
    """What an entry counts toward its batch's size, as sent: its body and, when they parse,
    its attributes (an entry whose attributes do not parse fails on its own afterwards)."""
    body = entry.get("MessageBody")
    size = len(body.encode(errors="replace")) if isinstance(body, str) else 0
    with contextlib.suppress(RaftqError):
        size += attrs.size_of(attrs.parse(entry.get("MessageAttributes")))
    return size


def check_batch_size(entries: list[dict[str, Any]]) -> None:
    total = sum(entry_bytes(entry) for entry in entries)
    if total > limits.MESSAGE_SIZE_MAX_BYTES:
        raise BatchRequestTooLong(
            f"Batch requests cannot be longer than {limits.MESSAGE_SIZE_MAX_BYTES} bytes. "
            f"You have sent {total} bytes."
        )


def check_fifo_batch_ids(entries: list[dict[str, Any]], content_based_dedup: bool) -> None:
    for entry in entries:
        if entry.get("MessageGroupId") is None:
            raise MissingParameter(
                "The request must contain the parameter MessageGroupId.", field="MessageGroupId"
            )
        if entry.get("MessageDeduplicationId") is None and not content_based_dedup:
            raise InvalidParameter(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly",
                field="MessageDeduplicationId",
            )

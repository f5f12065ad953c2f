"""Base of every frozen wire model and the constrained field types they share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from raftq.common import limits


class WireModel(BaseModel):
    """Frozen, strict about unknown fields: a value on the wire means exactly one thing."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


# Queue ids are chosen by the metadata service; names follow SQS (letters, digits, `-`, `_`,
# optional `.fifo`), ids allow a little more so they can carry an incarnation suffix.
QueueId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
# SQS batch entry ids: 1–80 of [A-Za-z0-9_-].
EntryId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=limits.ENTRY_ID_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$"
    ),
]
# SQS dedup ids, group ids, receive attempt ids: 1–128 printable ASCII characters (no space).
Token = Annotated[
    str,
    StringConstraints(min_length=1, max_length=limits.TOKEN_MAX_CHARS, pattern=r"^[\x21-\x7e]+$"),
]
ReceiptHandle = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TimestampMs = Annotated[int, Field(ge=0, le=2**53)]
Priority = Annotated[int, Field(ge=0, le=limits.PRIORITY_MAX)]
VisibilityTimeoutMs = Annotated[int, Field(ge=0, le=limits.VISIBILITY_TIMEOUT_MAX_MS)]
DelayMs = Annotated[int, Field(ge=0, le=limits.DELAY_MAX_MS)]
MessageBytes = Annotated[
    bytes, Field(max_length=limits.MESSAGE_SIZE_MAX_BYTES + limits.STORED_OVERHEAD_ALLOWANCE_BYTES)
]

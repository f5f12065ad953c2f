"""Queue attributes as the backend replicas store them (milliseconds, bytes)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from raftq.common import limits
from raftq.common.wire import QueueId, VisibilityTimeoutMs, WireModel

RetentionMs = Annotated[int, Field(ge=limits.RETENTION_MIN_MS, le=limits.RETENTION_MAX_MS)]
QueueDelayMs = Annotated[int, Field(ge=0, le=limits.DELAY_MAX_MS)]
MaxMessageBytes = Annotated[
    int, Field(ge=limits.MESSAGE_SIZE_MIN_BYTES, le=limits.MESSAGE_SIZE_MAX_BYTES)
]
ReceiveWaitMs = Annotated[int, Field(ge=0, le=limits.RECEIVE_WAIT_MAX_MS)]
DedupWindowMs = Annotated[int, Field(ge=limits.DEDUP_WINDOW_MIN_MS, le=limits.DEDUP_WINDOW_MAX_MS)]
StatusRetentionMs = Annotated[int, Field(ge=0, le=limits.STATUS_RETENTION_MAX_MS)]
MaxReceiveCount = Annotated[int, Field(ge=1, le=limits.MAX_RECEIVE_COUNT_MAX)]


class RedrivePolicy(WireModel):
    """After `max_receive_count` receives, the next receive moves the message to the DLQ."""

    dead_letter_queue: QueueId
    max_receive_count: MaxReceiveCount = 10


class QueueAttributes(WireModel):
    visibility_timeout_ms: VisibilityTimeoutMs = limits.VISIBILITY_TIMEOUT_DEFAULT_MS
    retention_ms: RetentionMs = limits.RETENTION_DEFAULT_MS
    delay_ms: QueueDelayMs = 0
    max_message_bytes: MaxMessageBytes = limits.MESSAGE_SIZE_MAX_BYTES
    receive_wait_ms: ReceiveWaitMs = 0
    dedup_window_ms: DedupWindowMs = limits.DEDUP_WINDOW_DEFAULT_MS
    content_based_dedup: bool = False
    status_retention_ms: StatusRetentionMs = limits.STATUS_RETENTION_DEFAULT_MS
    redrive: RedrivePolicy | None = None


class QueueAttributeChanges(WireModel):
    """A partial update: `None` leaves an attribute as it is; `clear_redrive` removes the policy."""

    visibility_timeout_ms: VisibilityTimeoutMs | None = None
    retention_ms: RetentionMs | None = None
    delay_ms: QueueDelayMs | None = None
    max_message_bytes: MaxMessageBytes | None = None
    receive_wait_ms: ReceiveWaitMs | None = None
    dedup_window_ms: DedupWindowMs | None = None
    content_based_dedup: bool | None = None
    status_retention_ms: StatusRetentionMs | None = None
    redrive: RedrivePolicy | None = None
    clear_redrive: bool = False

    @model_validator(mode="after")
    def _redrive_set_or_cleared(self) -> QueueAttributeChanges:
        if self.clear_redrive and self.redrive is not None:
            raise ValueError("redrive and clear_redrive are mutually exclusive")
        return self

    def applied_to(self, current: QueueAttributes) -> QueueAttributes:
        updates = {
            name: value
            for name, value in self.model_dump(exclude={"clear_redrive"}).items()
            if value is not None
        }
        if "redrive" in updates:
            updates["redrive"] = self.redrive
        if self.clear_redrive:
            updates["redrive"] = None
        return current.model_copy(update=updates)

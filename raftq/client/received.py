"""A received message as the SDK hands it to its caller."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str | None
    body_bytes: bytes
    attributes: dict[str, dict[str, str]]
    receive_count: int
    sent_at_ms: int
    group_id: str | None
    sequence_number: int
    trace_context: dict[str, str] | None = None  # the producer's, when it was traced


def message_of(raw: dict[str, Any]) -> Message:
    """The `Message` of one entry of a receive's answer (`MessageView` JSON)."""
    return Message(
        message_id=raw["message_id"],
        receipt_handle=raw["receipt_handle"],
        body=raw["body"],
        body_bytes=_bytes_of(raw),
        attributes=raw["attributes"],
        receive_count=raw["receive_count"],
        sent_at_ms=raw["sent_at_ms"],
        group_id=raw.get("group_id"),
        sequence_number=raw["sequence_number"],
        trace_context=raw.get("trace_context"),
    )


def _bytes_of(raw: dict[str, Any]) -> bytes:
    """The body's bytes: a receive answers `body` for UTF-8 text, else `body_base64`."""
    if raw.get("body_base64") is not None:
        return base64.b64decode(raw["body_base64"])
    return str(raw["body"]).encode()

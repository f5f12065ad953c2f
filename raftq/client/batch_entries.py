"""Batch entries of the REST API as the SDK builds and reads them.

A send entry always carries a dedup id (the caller's idempotency key, or one drawn for it), so
a batch retried after an unknown outcome stores each message once: the frontend passes the id
to the backend, which answers a repeat within the queue's dedup window with the first message's
id and `duplicate: true`. Entry ids are the entry's position in its request ("0", "1", ...).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from raftq.client.errors import InvalidRequest, RaftqApiError
from raftq.common import limits

# `{"entries":[` ... `]}` around the entries of a batch request.
BATCH_FRAMING_BYTES: Final = 16


@dataclass(frozen=True)
class SendEntry:
    """One message of `send_batch`, with the options `send` takes."""

    body: str | bytes
    idempotency_key: str | None = None
    attributes: dict[str, dict[str, str]] | None = None
    delay_s: int | None = None
    group_id: str | None = None
    priority: int = 0
    # The producer's W3C {"traceparent": …, "tracestate": …} (docs/tracing.md).
    trace_context: Mapping[str, str] | None = None


@dataclass(frozen=True)
class EntryResult:
    """One entry's outcome: `sent` is what `send` would have returned for it, else `error` is
    what `send` would have raised. `idempotency_key` is the dedup id it went with: sending the
    message again with it (`SendEntry(..., idempotency_key=...)`) stores it once."""

    idempotency_key: str
    sent: dict[str, Any] | None = None
    error: RaftqApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message_id(self) -> str | None:
        return None if self.sent is None else str(self.sent["message_id"])

    def result(self) -> dict[str, Any]:
        """`sent`, or raise the entry's error."""
        if self.error is not None:
            raise self.error
        assert self.sent is not None
        return self.sent


def body_field(body: str | bytes) -> dict[str, Any]:
    if isinstance(body, str):
        return {"body": body}
    return {"body_base64": base64.b64encode(body).decode()}


def raw_send(body: dict[str, Any]) -> tuple[bytes, dict[str, str]] | None:
    """A single send's JSON `body` as the bytes and query of an `application/octet-stream`
    send, when it can go so: a binary body, and nothing but `delay_s`, `group_id` and
    `priority` besides (attributes and trace context need JSON)."""
    options = {k: v for k, v in body.items() if k not in ("body_base64", "attributes")}
    if "body_base64" not in body or body.get("attributes") or set(options) - _RAW_OPTIONS:
        return None
    return base64.b64decode(body["body_base64"]), {k: str(v) for k, v in options.items()}


_RAW_OPTIONS: Final = frozenset({"delay_s", "group_id", "priority"})


def send_payload(message: SendEntry) -> dict[str, Any]:
    """The JSON of one message (without an entry id), its dedup id drawn when not given."""
    payload: dict[str, Any] = body_field(message.body)
    payload |= {"attributes": message.attributes or {}, "priority": message.priority}
    if message.delay_s is not None:
        payload["delay_s"] = message.delay_s
    if message.group_id is not None:
        payload["group_id"] = message.group_id
    if message.trace_context is not None:
        payload["trace_context"] = dict(message.trace_context)
    payload["dedup_id"] = message.idempotency_key or secrets.token_urlsafe(16)
    return payload


def encoded_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload)) + 1  # and the comma that separates it from the next


def check_entry_count(queue: str, parameter: str, count: int, batch_max: int) -> None:
    if not 1 <= count <= batch_max:
        raise InvalidRequest(
            400,
            "InvalidParameter",
            f"a batch to queue {queue!r} holds 1 to {batch_max} entries, not {count}",
            field=parameter,
        )


def check_send_batch(
    queue: str, messages: Sequence[SendEntry], payloads: Sequence[dict[str, Any]], max_bytes: int
) -> None:
    """Refuse what the frontend would refuse as a whole (413), naming the entry at fault."""
    for position, message in enumerate(messages):
        size = len(message.body.encode() if isinstance(message.body, str) else message.body)
        if size > limits.MESSAGE_SIZE_MAX_BYTES:
            raise InvalidRequest(
                413,
                "PayloadTooLarge",
                f"entry {position} to queue {queue!r} has a body of {size} bytes; a message "
                f"holds at most {limits.MESSAGE_SIZE_MAX_BYTES}",
                field=f"entries.{position}.body",
            )
    total = BATCH_FRAMING_BYTES + sum(encoded_size(p) for p in payloads)
    if total > max_bytes:
        raise InvalidRequest(
            413,
            "PayloadTooLarge",
            f"the batch to queue {queue!r} encodes to {total} bytes, over the request limit of "
            f"{max_bytes}; send it in smaller batches",
            field="entries",
        )


def sent_outcomes(answer: dict[str, Any], count: int) -> list[dict[str, Any] | RaftqApiError]:
    """Each entry's `send`-shaped result or its error, in entry order, from a `SentBatchView`."""
    sent: dict[str, Any] = answer.get("sent") or {}
    failed = {str(f.get("id")): f for f in answer.get("failed") or []}
    outcomes: list[dict[str, Any] | RaftqApiError] = []
    for position in range(count):
        entry_id = str(position)
        if entry_id in sent:
            view = sent[entry_id]
            outcomes.append(
                {
                    "message_id": view["message_id"],
                    "sequence_number": view["sequence_number"],
                    "duplicate": view["duplicate"],
                }
            )
        elif entry_id in failed:
            failure = failed[entry_id]
            outcomes.append(
                RaftqApiError(
                    400,
                    str(failure.get("code", "Error")),
                    str(failure.get("message", "")),
                    failure.get("field"),
                )
            )
        else:  # the service answers every entry; an answer that does not is not believed
            outcomes.append(
                RaftqApiError(502, "BadAnswer", f"the answer named no outcome for entry {position}")
            )
    return outcomes


def is_entry_fault(error: RaftqApiError) -> bool:
    """Whether a refusal of a whole batch may be one entry's fault (a body over the queue's
    limit, a field of one entry that does not validate), so each entry deserves its own try.
    Such refusals happen before anything is stored."""
    return error.status == 413 or (
        error.status == 400 and (error.field or "").startswith("entries")
    )

"""The public REST API's request and response bodies (JSON). The same models validate requests
and generate `/openapi.json` (openapi.py), so the document cannot drift from the code.

Units are the public ones: seconds for times the caller sets, milliseconds since the epoch for
timestamps; bodies are UTF-8 text (`body`) or base64 (`body_base64`), exactly one of them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from raftq.common import limits

QueueName = Annotated[
    str,
    Field(
        min_length=1, max_length=limits.QUEUE_NAME_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+(\.fifo)?$"
    ),
]
Token = Annotated[
    str, Field(min_length=1, max_length=limits.TOKEN_MAX_CHARS, pattern=r"^[\x21-\x7e]+$")
]
EntryId = Annotated[
    str, Field(min_length=1, max_length=limits.ENTRY_ID_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$")
]
ReceiptHandle = Annotated[str, Field(min_length=1, max_length=1024)]
# An X-Ray style header: `Root=1-...;Parent=...;Sampled=1`.
TraceHeader = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
# SQS Number attributes: up to 38 significant digits, from -10^128 to 10^126.
_NUMBER = re.compile(r"^[+-]?(\d{1,38}(\.\d{0,38})?|\.\d{1,38})([eE][+-]?\d{1,3})?$")


class RestModel(BaseModel):
    """Strict: an unknown field is an error naming it, not ignored, and a value of the wrong
    JSON type (`0` for a boolean, `"5"` for a number) is refused, not converted."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class QueryModel(BaseModel):
    """Query parameters arrive as text: numbers are parsed from it; unknown names are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DeadLetterPolicy(RestModel):
    queue: QueueName = Field(description="the dead-letter queue (of the same type)")
    max_receive_count: Annotated[int, Field(ge=1, le=limits.MAX_RECEIVE_COUNT_MAX)] = 10


class QueueAttributesBody(RestModel):
    """Queue attributes; on update, the ones given change and the others stay."""

    visibility_timeout_s: (
        Annotated[int, Field(ge=0, le=limits.VISIBILITY_TIMEOUT_MAX_MS // 1000)] | None
    ) = None
    retention_s: (
        Annotated[
            int, Field(ge=limits.RETENTION_MIN_MS // 1000, le=limits.RETENTION_MAX_MS // 1000)
        ]
        | None
    ) = None
    delay_s: Annotated[int, Field(ge=0, le=limits.DELAY_MAX_MS // 1000)] | None = None
    max_message_bytes: (
        Annotated[int, Field(ge=limits.MESSAGE_SIZE_MIN_BYTES, le=limits.MESSAGE_SIZE_MAX_BYTES)]
        | None
    ) = None
    receive_wait_s: Annotated[int, Field(ge=0, le=limits.RECEIVE_WAIT_MAX_MS // 1000)] | None = None
    dedup_window_s: (
        Annotated[
            int, Field(ge=limits.DEDUP_WINDOW_MIN_MS // 1000, le=limits.DEDUP_WINDOW_MAX_MS // 1000)
        ]
        | None
    ) = None
    content_based_dedup: bool | None = None
    dead_letter: DeadLetterPolicy | None = None
    status_retention_s: Annotated[
        int | None,
        Field(
            ge=0,
            le=limits.STATUS_RETENTION_MAX_MS // 1000,
            description="how long a removed message's status, and a finished task's status, "
            "result and error, are kept (0: not kept)",
        ),
    ] = None


class CreateQueueBody(RestModel):
    name: QueueName
    fifo: bool = False
    attributes: QueueAttributesBody = QueueAttributesBody()

    @model_validator(mode="after")
    def _fifo_names_end_in_fifo(self) -> CreateQueueBody:
        if self.name.endswith(".fifo") != self.fifo:
            raise ValueError("a FIFO queue's name ends in .fifo, and only a FIFO queue's")
        return self


class QueueCounts(RestModel):
    visible: int
    in_flight: int
    delayed: int
    dead_letter_pending: int


class QueueView(RestModel):
    name: str
    fifo: bool
    attributes: QueueAttributesBody
    created_at_ms: int
    counts: QueueCounts | None = Field(default=None, description="exact, at the time of the read")
    oldest_message_age_s: int | None = Field(
        default=None,
        description="seconds since the oldest message the queue holds (in any state) was sent; "
        "null when it holds none or the counts were not read",
    )


class QueueList(RestModel):
    queues: list[QueueView]
    next_token: str | None = Field(default=None, description="pass as `next_token` for more")


class MessageAttribute(RestModel):
    # SQS's data types, each optionally with a custom label after a dot (`Number.float`).
    type: Annotated[
        str, Field(max_length=256, pattern=r"^(String|Number|Binary)(\.[A-Za-z0-9_.:/+=@-]+)?$")
    ]
    value: Annotated[str, Field(max_length=limits.MESSAGE_SIZE_MAX_BYTES)] = Field(
        description="the value; base64 for Binary, a decimal number for Number"
    )

    @model_validator(mode="after")
    def _value_fits_type(self) -> MessageAttribute:
        if self.type.startswith("Binary"):
            try:
                base64.b64decode(self.value, validate=True)
            except ValueError:
                raise ValueError("a Binary attribute's value must be base64") from None
        elif self.type.startswith("Number") and not _NUMBER.match(self.value):
            raise ValueError("a Number attribute's value must be a decimal number")
        return self


class TraceContextBody(RestModel):
    """W3C Trace Context of the span that made a message; kept with it as its `traceparent`
    and `tracestate` String attributes (counted among its 10), as OpenTelemetry's SQS
    instrumentation writes them."""

    traceparent: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`"
    )
    tracestate: Annotated[str, Field(min_length=1, max_length=512)] | None = None


class SendBody(RestModel):
    # No length limit here: a message is measured in bytes after decoding, against its queue's
    # limit (413, message_sealing.py), and the request's size is bounded by the frontend's.
    body: str | None = None
    body_base64: str | None = None
    attributes: Annotated[dict[Token, MessageAttribute], Field(max_length=10)] = Field(
        default_factory=dict
    )
    delay_s: Annotated[int, Field(ge=0, le=limits.DELAY_MAX_MS // 1000)] | None = None
    deliver_at_ms: Annotated[int, Field(ge=0, le=2**53)] | None = Field(
        default=None,
        description="deliver at this time (ms since the epoch) rather than after delay_s, up to "
        "the queue's retention period from now; standard queues only",
    )
    dedup_id: Token | None = Field(default=None, description="or the Idempotency-Key header")
    group_id: Token | None = Field(default=None, description="FIFO queues: the message group")
    priority: Annotated[int, Field(ge=0, le=limits.PRIORITY_MAX)] = 0
    trace_header: TraceHeader | None = Field(
        default=None, description="a tracing header kept with the message (SQS AWSTraceHeader)"
    )
    trace_context: TraceContextBody | None = Field(
        default=None,
        description="the producer's W3C trace context; by default, the frontend's send span's",
    )

    # A field validator of the later field, so that the refusal names it.
    @field_validator("deliver_at_ms")
    @classmethod
    def _one_schedule(cls, deliver_at_ms: int | None, info: ValidationInfo) -> int | None:
        if deliver_at_ms is not None and info.data.get("delay_s") is not None:
            raise ValueError("give at most one of delay_s and deliver_at_ms")
        return deliver_at_ms

    @model_validator(mode="after")
    def _one_body(self) -> SendBody:
        if (self.body is None) == (self.body_base64 is None):
            raise ValueError("give exactly one of body and body_base64")
        return self

    def body_bytes(self) -> bytes:
        if self.body is not None:
            return self.body.encode()
        try:
            return base64.b64decode(self.body_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("body_base64 is not base64") from None


class RawSendQuery(QueryModel):
    """A send whose request body is the message itself (`Content-Type:
    application/octet-stream`): its options travel in the query string (attributes need JSON)."""

    delay_s: Annotated[int, Field(ge=0, le=limits.DELAY_MAX_MS // 1000)] | None = None
    group_id: Token | None = Field(default=None, description="FIFO queues: the message group")
    priority: Annotated[int, Field(ge=0, le=limits.PRIORITY_MAX)] = 0


class SendBatchEntry(SendBody):
    id: EntryId


class SendBatchBody(RestModel):
    entries: Annotated[
        list[SendBatchEntry], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class SentView(RestModel):
    message_id: str
    sequence_number: int
    duplicate: bool = Field(description="an earlier send with this dedup id stands")


class BatchEntryFailure(RestModel):
    id: str
    code: str
    message: str
    field: str | None = Field(default=None, description="the entry's field at fault")


class SentBatchView(RestModel):
    sent: dict[str, SentView]
    failed: list[BatchEntryFailure]


class ReceivedView(RestModel):
    message_id: str
    receipt_handle: str
    body: str | None = Field(description="the body as text, when it is UTF-8 (else null)")
    body_base64: str | None = Field(
        description="the body in base64, when it is not UTF-8 (else null; `bodies=both`: always)"
    )
    attributes: dict[str, MessageAttribute]
    trace_context: TraceContextBody | None = Field(
        default=None, description="the producer's trace context (its traceparent attributes)"
    )
    receive_count: int
    sent_at_ms: int
    first_received_at_ms: int
    group_id: str | None = None
    sequence_number: int


class UndeliverableView(RestModel):
    """A received message that could not be opened; it stays in flight until its visibility
    timeout (and is dead-lettered by a redrive policy like any message received too often)."""

    message_id: str
    reason: str


class ReceivedList(RestModel):
    messages: list[ReceivedView]
    undeliverable: list[UndeliverableView] = []


class HandleEntry(RestModel):
    id: EntryId
    receipt_handle: ReceiptHandle


class DeleteEntry(HandleEntry):
    result_base64: (
        Annotated[str, Field(max_length=limits.DELETE_RESULT_MAX_BYTES * 4 // 3 + 4)] | None
    ) = Field(
        default=None, description="the work's result, kept with the message's status (base64)"
    )


class DeleteBatchBody(RestModel):
    entries: Annotated[list[DeleteEntry], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)]


class VisibilityBody(RestModel):
    visibility_timeout_s: Annotated[int, Field(ge=0, le=limits.VISIBILITY_TIMEOUT_MAX_MS // 1000)]


class VisibilityEntry(HandleEntry):
    visibility_timeout_s: Annotated[int, Field(ge=0, le=limits.VISIBILITY_TIMEOUT_MAX_MS // 1000)]


class VisibilityBatchBody(RestModel):
    entries: Annotated[
        list[VisibilityEntry], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class BatchView(RestModel):
    succeeded: list[str]
    failed: list[BatchEntryFailure]


class MessageStatusView(RestModel):
    message_id: str
    state: str
    receive_count: int
    at_ms: int
    result_base64: str | None = None


class ErrorView(RestModel):
    """Every error: a stable code, a sentence, and the field at fault when there is one."""

    code: str
    message: str
    field: str | None = None
    retry_with_idempotency_key: str | None = Field(
        default=None, description="on an unknown outcome (503): retry with this key"
    )


class ReceiveQuery(QueryModel):
    max: Annotated[int, Field(ge=1, le=limits.BATCH_ENTRIES_MAX)] = 10
    wait_s: Annotated[int, Field(ge=0, le=limits.RECEIVE_WAIT_MAX_MS // 1000)] | None = Field(
        default=None, description="long poll; default: the queue's receive_wait_s"
    )
    visibility_timeout_s: (
        Annotated[int, Field(ge=0, le=limits.VISIBILITY_TIMEOUT_MAX_MS // 1000)] | None
    ) = None
    attempt_id: Token | None = Field(
        default=None, description="a retried receive with this id returns the same messages"
    )
    bodies: Literal["one", "both"] = Field(
        default="one",
        description="one: `body` for a UTF-8 body, else `body_base64`; both: `body_base64` "
        "always too (the earlier answer, a third larger)",
    )


class ListQuery(QueryModel):
    prefix: Annotated[str, Field(max_length=limits.QUEUE_NAME_MAX_CHARS)] = ""
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    next_token: Annotated[str, Field(max_length=256)] | None = None

"""The trace context a message or task carries from its producer to its consumers.

It is kept as two String message attributes, `traceparent` and `tracestate` (W3C Trace
Context), exactly as OpenTelemetry's botocore / boto3sqs instrumentation writes them into an SQS
message: so a message sent by an instrumented boto3 client, one sent over REST with a
`trace_context`, and a task all carry it the same way, every API reads it back, and it counts
among a message's 10 attributes as SQS counts it.

Rules:
- A REST `trace_context` is checked (call_context.py's W3C rules); a bad one is refused (400
  naming the field and the queue) and nothing is stored. It becomes the two attributes; with the
  caller's own attributes it must fit in 10.
- A REST message or a task without one gets the frontend's send span's context, when tracing is
  on and (like the instrumentation) both attributes still fit; never on the SQS API, whose
  clients see exactly the attributes they sent.
- Attributes named `traceparent` that break the rules stay ordinary attributes: they are
  returned as sent, but never become a parent or a link.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry.trace import Span, SpanContext, SpanKind

from raftq.common import call_context, tracing
from raftq.common.errors import InvalidParameter
from raftq.common.limits import MESSAGE_ATTRIBUTES_MAX
from raftq.common.results import SendResult
from raftq.frontend import rest_models as m
from raftq.frontend.received import Received

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


def carried(queue: str, entries: Sequence[m.SendBatchEntry]) -> list[m.SendBatchEntry]:
    """The entries with their `trace_context` moved into their attributes, checked."""
    return [
        _carried(queue, entry, "" if len(entries) == 1 else f"entries.{position}.")
        for position, entry in enumerate(entries)
    ]


def _carried(queue: str, entry: m.SendBatchEntry, where: str) -> m.SendBatchEntry:
    given = entry.trace_context
    if given is None:
        return entry
    attributes = dict(entry.attributes)
    attributes.update(trace_attributes(queue, given, f"{where}trace_context"))
    if len(attributes) > MESSAGE_ATTRIBUTES_MAX:
        raise InvalidParameter(
            f"a message of queue {queue} has at most {MESSAGE_ATTRIBUTES_MAX} attributes, its "
            "trace context's traceparent and tracestate among them",
            field=f"{where}attributes",
        )
    return entry.model_copy(update={"attributes": attributes, "trace_context": None})


def trace_attributes(
    queue: str, given: m.TraceContextBody, field: str
) -> dict[str, m.MessageAttribute]:
    """`given` as the attributes that carry it; InvalidParameter naming `field` if it is bad."""
    if call_context.valid_traceparent(given.traceparent) is None:
        raise InvalidParameter(
            f"the trace context of a message to queue {queue} is not a W3C traceparent "
            "(00-<32 hex>-<16 hex>-<2 hex>, lower case, ids not all zero)",
            field=f"{field}.traceparent",
        )
    if given.tracestate is not None and call_context.valid_tracestate(given.tracestate) is None:
        raise InvalidParameter(
            f"the trace context of a message to queue {queue} has a tracestate that is not "
            "printable ASCII of at most 512 characters",
            field=f"{field}.tracestate",
        )
    return _attributes(given.traceparent, given.tracestate)


@contextmanager
def send_span(queue: str, entries: Sequence[m.SendBatchEntry]) -> Iterator[Span | None]:
    """The frontend's `send <queue>` span: under the caller's span (a `traceparent` header),
    else a single message's producer; linked to every message's producer."""
    producers = [producer_of(entry.attributes) for entry in entries]
    with tracing.messaging_span(
        "send",
        "send",
        queue,
        SpanKind.PRODUCER,
        parent=producers[0] if len(producers) == 1 else None,
        links=producers,
        count=len(entries),
    ) as span:
        yield span


def sent(span: Span | None, result: SendResult) -> None:
    if span is not None and len(result.sent) == 1:
        span.set_attribute(tracing.MESSAGE_ID, result.sent[0].message_id)


def stamped(span: Span | None, entries: list[m.SendBatchEntry]) -> list[m.SendBatchEntry]:
    """Entries without a trace context given that get `span`'s, where both attributes fit."""
    made = attributes_of(span)
    if not made:
        return entries
    return [
        entry
        if TRACEPARENT in entry.attributes or len(entry.attributes) + 2 > MESSAGE_ATTRIBUTES_MAX
        else entry.model_copy(update={"attributes": {**entry.attributes, **made}})
        for entry in entries
    ]


def attributes_of(span: Span | None) -> dict[str, m.MessageAttribute]:
    """The attributes that carry `span`'s context (none when tracing is off)."""
    if span is None:
        return {}
    traceparent, tracestate = tracing.carrier_of(span)
    return {} if traceparent is None else _attributes(traceparent, tracestate)


def received(span: Span, received: Received) -> None:
    """The receive span links to each message's producer, and counts them."""
    span.set_attribute(tracing.BATCH_COUNT, len(received.opened))
    if len(received.opened) == 1:
        span.set_attribute(tracing.MESSAGE_ID, received.opened[0].message.message_id)
    for opened in received.opened:
        producer = producer_of(opened.attributes)
        if producer is not None:
            span.add_link(producer, {tracing.MESSAGE_ID: opened.message.message_id})


def producer_of(attributes: Mapping[str, m.MessageAttribute]) -> SpanContext | None:
    """The span that produced a message, from its attributes (None if absent or bad)."""
    traceparent, tracestate = attributes.get(TRACEPARENT), attributes.get(TRACESTATE)
    if traceparent is None or not traceparent.type.startswith("String"):
        return None
    state = tracestate.value if tracestate and tracestate.type.startswith("String") else None
    return tracing.span_context_of(traceparent.value, state)


def view_of(attributes: Mapping[str, m.MessageAttribute]) -> m.TraceContextBody | None:
    """The REST `trace_context` of a received message or leased task."""
    traceparent, tracestate = attributes.get(TRACEPARENT), attributes.get(TRACESTATE)
    if traceparent is None or call_context.valid_traceparent(traceparent.value) is None:
        return None
    state = tracestate.value if tracestate is not None else None
    return m.TraceContextBody(
        traceparent=traceparent.value, tracestate=call_context.valid_tracestate(state)
    )


def _attributes(traceparent: str, tracestate: str | None) -> dict[str, m.MessageAttribute]:
    made = {TRACEPARENT: m.MessageAttribute(type="String", value=traceparent)}
    if tracestate:
        made[TRACESTATE] = m.MessageAttribute(type="String", value=tracestate)
    return made

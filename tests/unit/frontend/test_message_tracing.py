"""A message's trace context as message attributes (raftq/frontend/message_tracing.py): the
REST `trace_context` checked and stored as `traceparent`/`tracestate`, counted among the 10
attributes; the frontend's own span stamped only where both still fit; read back on receive."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from raftq.common import tracing
from raftq.common.errors import InvalidParameter
from raftq.frontend import message_tracing
from raftq.frontend import rest_models as m
from tests.span_recorder import recording

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def entry(trace_context: m.TraceContextBody | None = None, attributes: int = 0) -> m.SendBatchEntry:
    return m.SendBatchEntry(
        id="e",
        body="hello",
        attributes={
            f"a{i}": m.MessageAttribute(type="String", value="v") for i in range(attributes)
        },
        trace_context=trace_context,
    )


def test_a_given_trace_context_becomes_the_two_string_attributes() -> None:
    given = m.TraceContextBody(traceparent=PARENT, tracestate="vendor=abc")
    [carried] = message_tracing.carried("orders", [entry(given, attributes=2)])
    assert carried.trace_context is None
    assert carried.attributes["traceparent"] == m.MessageAttribute(type="String", value=PARENT)
    assert carried.attributes["tracestate"] == m.MessageAttribute(type="String", value="vendor=abc")
    assert len(carried.attributes) == 4
    assert message_tracing.view_of(carried.attributes) == given
    producer = message_tracing.producer_of(carried.attributes)
    assert producer is not None and f"{producer.span_id:016x}" == "b7ad6b7169203331"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (m.TraceContextBody(traceparent="00-abc-def-01"), "trace_context.traceparent"),
        (m.TraceContextBody(traceparent=PARENT.upper()), "trace_context.traceparent"),
        (
            m.TraceContextBody(traceparent=PARENT, tracestate="caf\u00e9=1"),
            "trace_context.tracestate",
        ),
    ],
)
def test_a_bad_trace_context_is_refused_naming_the_field_and_the_queue(
    given: m.TraceContextBody, field: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        message_tracing.carried("orders", [entry(given)])
    assert refused.value.field == field
    assert "orders" in refused.value.message


def test_in_a_batch_the_refusal_names_the_entry() -> None:
    bad = m.TraceContextBody(traceparent="nope")
    with pytest.raises(InvalidParameter) as refused:
        message_tracing.carried("orders", [entry(), entry(bad)])
    assert refused.value.field == "entries.1.trace_context.traceparent"


def test_the_trace_context_counts_among_the_ten_attributes() -> None:
    given = m.TraceContextBody(traceparent=PARENT, tracestate="vendor=abc")
    assert len(message_tracing.carried("q", [entry(given, attributes=8)])[0].attributes) == 10
    with pytest.raises(InvalidParameter) as refused:
        message_tracing.carried("orders", [entry(given, attributes=9)])
    assert refused.value.field == "attributes"
    assert "orders" in refused.value.message


def test_the_frontend_stamps_its_span_only_where_both_attributes_fit() -> None:
    with recording(), tracing.messaging_span("send", "send", "q", SpanKind.PRODUCER) as span:
        roomy, full = message_tracing.stamped(span, [entry(attributes=8), entry(attributes=9)])
        assert span is not None
        assert roomy.attributes["traceparent"].value == tracing.carrier_of(span)[0]
        assert "traceparent" not in full.attributes


def test_a_given_trace_context_is_not_replaced_by_the_frontends() -> None:
    given = m.TraceContextBody(traceparent=PARENT)
    [carried] = message_tracing.carried("q", [entry(given)])
    with recording(), tracing.messaging_span("send", "send", "q", SpanKind.PRODUCER) as span:
        [stamped] = message_tracing.stamped(span, [carried])
    assert stamped.attributes["traceparent"].value == PARENT


def test_tracing_off_stamps_nothing() -> None:
    [same] = message_tracing.stamped(None, [entry()])
    assert same.attributes == {}


def test_an_attribute_named_traceparent_that_breaks_the_rules_is_only_an_attribute() -> None:
    attributes = {"traceparent": m.MessageAttribute(type="String", value="not a parent")}
    assert message_tracing.producer_of(attributes) is None
    assert message_tracing.view_of(attributes) is None

"""Tracing helpers (raftq/common/tracing.py): when the standard variables turn export on, how a
W3C pair becomes a parent, and that a messaging span is what the frontend forwards under."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from raftq.common import call_context, tracing
from tests.span_recorder import recording

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        pytest.param({}, False, id="nothing set: off"),
        pytest.param({"OTEL_TRACES_EXPORTER": "otlp"}, True, id="otlp exporter"),
        pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True, id="endpoint"),
        pytest.param({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        pytest.param(
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"},
            False,
            id="exporter none wins",
        ),
        pytest.param({"OTEL_TRACES_EXPORTER": "console"}, False, id="another exporter"),
        pytest.param(
            {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False, id="disabled"
        ),
    ],
)
def test_export_is_on_only_when_the_standard_variables_ask(
    env: dict[str, str], wanted: bool
) -> None:
    assert tracing.wanted(env) is wanted


def test_configure_installs_nothing_without_the_variables() -> None:
    assert tracing.configure("raftq-test", environ={}) is False
    assert not tracing.active()


def test_a_valid_traceparent_names_its_remote_span() -> None:
    found = tracing.span_context_of(PARENT, "vendor=abc")
    assert found is not None and found.is_remote
    assert f"{found.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{found.span_id:016x}" == "b7ad6b7169203331"
    assert found.trace_state.get("vendor") == "abc"


@pytest.mark.parametrize(
    "value",
    [
        None,
        7,
        "",
        PARENT.upper(),
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        PARENT + "-extra",
    ],
)
def test_a_bad_traceparent_names_no_span(value: object) -> None:
    assert tracing.span_context_of(value) is None


def test_off_a_messaging_span_is_nothing_and_binds_nothing() -> None:
    with tracing.messaging_span("send", "send", "orders", SpanKind.PRODUCER) as span:
        assert span is None
        assert call_context.current() == call_context.EMPTY


def test_a_messaging_span_is_bound_into_the_call_context_under_its_parent() -> None:
    remote = tracing.span_context_of(PARENT)
    with recording() as recorded:
        with tracing.messaging_span(
            "send", "send", "orders", SpanKind.PRODUCER, parent=remote, links=[remote], count=3
        ) as span:
            assert span is not None
            bound = call_context.current()
            assert bound.traceparent == tracing.carrier_of(span)[0]
        sent = recorded.one("send orders")
    assert call_context.current() == call_context.EMPTY
    assert sent.kind is SpanKind.PRODUCER
    assert sent.parent is not None and sent.parent.span_id == remote.span_id  # type: ignore[union-attr]
    assert [link.context for link in sent.links] == [remote]
    assert dict(sent.attributes or {}) == {
        "messaging.system": "raftq",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "orders",
        "messaging.batch.message_count": 3,
    }
    assert bound.traceparent is not None
    assert bound.traceparent.split("-")[2] == f"{sent.context.span_id:016x}"

"""Tools built for SQS, pointed at raftq and otherwise unchanged (docs/ecosystem.md).

KEDA's `aws-sqs-queue` scaler (pkg/scalers/aws_sqs_queue_scaler.go) asks, through
aws-sdk-go-v2 (AWS JSON 1.0, `X-Amz-Target: AmazonSQS.GetQueueAttributes`), for

    {"QueueUrl": <the trigger's queueURL, verbatim>,
     "AttributeNames": ["ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",   # scaleOnInFlight (default on)
                        "ApproximateNumberOfMessagesDelayed"]}     # scaleOnDelayed (default off)

and its metric is the sum of the named attributes, each parsed as an integer; an attribute missing
from the answer is an error. botocore speaks the same protocol, so the test sends exactly that.

OpenTelemetry's botocore instrumentation (opentelemetry-instrumentation-botocore) makes a span for
each SQS call and puts the span's context, as an X-Ray header, on the HTTP request
(`X-Amzn-Trace-Id`); SQS keeps that header as the message's `AWSTraceHeader` system attribute,
which consumers (the Lambda instrumentation, X-Ray's SDKs) extract. Producers that want W3C
`traceparent` inject it into the message attributes with OpenTelemetry's propagation API, the way
the same instrumentation does for SNS; a consumer extracts it from the received attributes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.conftest import Deployment
from tests.sqs_clients import scenario

pytestmark = pytest.mark.integration

VISIBLE = "ApproximateNumberOfMessages"
IN_FLIGHT = "ApproximateNumberOfMessagesNotVisible"
DELAYED = "ApproximateNumberOfMessagesDelayed"


def keda_attribute_names(
    scale_on_in_flight: bool = True, scale_on_delayed: bool = False
) -> list[str]:
    """The AttributeNames KEDA's scaler asks for, in its order, with its defaults."""
    names = [VISIBLE]
    if scale_on_in_flight:
        names.append(IN_FLIGHT)
    if scale_on_delayed:
        names.append(DELAYED)
    return names


def keda_queue_length(attributes: dict[str, str], names: list[str]) -> int:
    """KEDA's processQueueLengthFromSqsQueueAttributesOutput: the sum, or an error if one is
    missing or not an integer."""
    total = 0
    for name in names:
        if name not in attributes:
            raise LookupError(f"metric {name} not found in SQS queue attributes")
        total += int(attributes[name], 10)
    return total


def _sent_bodies(sqs: Any) -> list[tuple[str, bytes]]:
    sent: list[tuple[str, bytes]] = []

    def keep(request: Any, **_: Any) -> None:
        sent.append((request.headers["X-Amz-Target"].decode(), request.body))

    sqs.meta.events.register("before-send.sqs.GetQueueAttributes", keep)
    return sent


def test_keda_sqs_scaler_reads_visible_in_flight_and_delayed(deployment: Deployment) -> None:
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    url = sqs.create_queue(QueueName="keda-scaled")["QueueUrl"]
    # Given 3 messages received (in flight), 2 waiting (visible), 1 delayed for a minute
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = 0
    deadline = time.monotonic() + 10
    while received < 3 and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=3 - received, VisibilityTimeout=300
        )
        received += len(got.get("Messages", []))
    assert received == 3
    for body in ("d", "e"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="f", DelaySeconds=60)
    sent = _sent_bodies(sqs)

    lengths = {}
    for in_flight, delayed in ((True, False), (False, False), (True, True)):
        names = keda_attribute_names(in_flight, delayed)
        answer = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
        lengths[in_flight, delayed] = keda_queue_length(answer["Attributes"], names)

    # The request is KEDA's, byte for byte in meaning: JSON 1.0, the queue URL and the names.
    target, request_body = sent[-1]
    assert target == "AmazonSQS.GetQueueAttributes"
    assert json.loads(request_body) == {
        "QueueUrl": url,
        "AttributeNames": [VISIBLE, IN_FLIGHT, DELAYED],
    }
    # KEDA's default (in flight counted, delayed not), then each switch
    assert lengths[True, False] == 2 + 3
    assert lengths[False, False] == 2
    assert lengths[True, True] == 2 + 3 + 1


@dataclass(frozen=True)
class Traced:
    provider: TracerProvider
    exporter: InMemorySpanExporter

    def spans(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]


@pytest.fixture
def instrumented() -> Iterator[Traced]:
    """botocore instrumented by OpenTelemetry, its spans kept in memory, for one test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield Traced(provider, exporter)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


class _AttributeSetter(Setter[dict[str, Any]]):
    def set(self, carrier: dict[str, Any], key: str, value: str) -> None:
        carrier[key] = {"DataType": "String", "StringValue": value}


class _AttributeGetter(Getter[dict[str, Any]]):
    def get(self, carrier: dict[str, Any], key: str) -> list[str] | None:
        found = carrier.get(key)
        return [found["StringValue"]] if found else None

    def keys(self, carrier: dict[str, Any]) -> list[str]:
        return list(carrier)


def _receive_one(sqs: Any, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        if got.get("Messages"):
            message: dict[str, Any] = got["Messages"][0]
            return message
    raise AssertionError(f"nothing received from {url}")


def test_traceparent_in_message_attributes_crosses_raftq(
    deployment: Deployment, instrumented: Traced
) -> None:
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    url = sqs.create_queue(QueueName="otel-traceparent")["QueueUrl"]
    tracer = trace.get_tracer("producer", tracer_provider=instrumented.provider)
    carrier: dict[str, Any] = {}
    with tracer.start_as_current_span("produce") as producer:
        propagate.inject(carrier, setter=_AttributeSetter())
        sqs.send_message(QueueUrl=url, MessageBody="traced", MessageAttributes=carrier)
    assert "traceparent" in carrier

    message = _receive_one(sqs, url)
    extracted = propagate.extract(message["MessageAttributes"], getter=_AttributeGetter())
    consumer_parent = trace.get_current_span(extracted).get_span_context()

    producer_trace = producer.get_span_context().trace_id
    assert consumer_parent.trace_id == producer_trace
    assert consumer_parent.span_id == producer.get_span_context().span_id
    # the instrumentation's own span of the send is in the same trace
    sends = instrumented.spans("SQS.SendMessage")
    assert [s.context.trace_id for s in sends] == [producer_trace]


def test_the_instrumentations_xray_header_becomes_aws_trace_header(
    deployment: Deployment, instrumented: Traced
) -> None:
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    url = sqs.create_queue(QueueName="otel-xray")["QueueUrl"]
    headers: list[str] = []
    sqs.meta.events.register(
        "before-send.sqs.SendMessage",
        lambda request, **_: headers.append(request.headers.get("X-Amzn-Trace-Id")),
    )
    sqs.send_message(QueueUrl=url, MessageBody="traced")
    assert headers and headers[0], "the instrumentation put no X-Amzn-Trace-Id on the request"
    sends = instrumented.spans("SQS.SendMessage")
    assert len(sends) == 1

    message = _receive_one(sqs, url)
    header = message.get("Attributes", {}).get("AWSTraceHeader")
    assert header, message
    extracted = AwsXRayPropagator().extract({"X-Amzn-Trace-Id": header})
    consumer_parent = trace.get_current_span(extracted).get_span_context()
    assert consumer_parent.trace_id == sends[0].context.trace_id

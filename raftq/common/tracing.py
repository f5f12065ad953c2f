"""OpenTelemetry traces: off unless the standard environment variables turn them on.

Rules:
- `configure(service)` runs once in a process's `main`. It installs the SDK's tracer provider
  with a batching OTLP/HTTP exporter when `OTEL_TRACES_EXPORTER` is `otlp`, or when it is unset
  and `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is; `none`, any
  other exporter name, or `OTEL_SDK_DISABLED=true` leave tracing off. The exporter reads the
  rest of the standard variables itself (endpoint, headers, timeout, compression), the
  provider the resource and sampler ones (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, …).
- Off, nothing is installed and `active()` is False: callers test it first and skip every
  span, attribute and carrier they would build, so the hot path pays one function call.
- Trace context crosses processes only as W3C `traceparent` / `tracestate` strings checked by
  call_context.py's rules: a value that breaks them is never turned into a parent or a link.
- Messaging spans follow OpenTelemetry's messaging conventions; `messaging.system` is `raftq`
  on both public APIs (docs/tracing.md says why).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from raftq.common import call_context

TRACER_NAME: Final = "raftq"
MESSAGING_SYSTEM: Final = "raftq"
_W3C: Final = TraceContextTextMapPropagator()

# OpenTelemetry's messaging attribute names (semantic conventions 1.27+), spelled out here so
# the package needs no pre-release semantic-conventions module.
SYSTEM: Final = "messaging.system"
OPERATION_TYPE: Final = "messaging.operation.type"
OPERATION_NAME: Final = "messaging.operation.name"
DESTINATION: Final = "messaging.destination.name"
MESSAGE_ID: Final = "messaging.message.id"
BATCH_COUNT: Final = "messaging.batch.message_count"


def configure(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install the exporting tracer provider if the environment asks for one; True if it did."""
    env = os.environ if environ is None else environ
    if not wanted(env):
        return False
    # Imported only when used: the exporter pulls in protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # also for spans a worker's handlers make themselves
    install(provider)
    return True


# The provider raftq's spans go to: set by `configure`, or by a test (`install`), never read
# from OpenTelemetry's global, so a test can turn tracing on and off again.
_provider: TracerProvider | None = None


def install(provider: TracerProvider | None) -> None:
    """Record raftq's spans with `provider` from now on (None: tracing off)."""
    global _provider  # noqa: PLW0603  (one switch per process, as OpenTelemetry's own)
    _provider = provider


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the standard variables ask this process to export traces over OTLP."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {
        name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",") if name
    }
    if exporters:
        return "otlp" in exporters
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def active() -> bool:
    """Whether raftq's spans are recorded in this process."""
    return _provider is not None


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME, tracer_provider=_provider)


def span_context_of(traceparent: object, tracestate: object = None) -> SpanContext | None:
    """The remote span a W3C pair names, or None when `traceparent` breaks the rules."""
    parent = call_context.valid_traceparent(traceparent)
    if parent is None:
        return None
    carrier = {"traceparent": parent}
    state = call_context.valid_tracestate(tracestate)
    if state is not None:
        carrier["tracestate"] = state
    found = trace.get_current_span(_W3C.extract(carrier)).get_span_context()
    return found if found.is_valid else None


def context_of(span_context: SpanContext | None) -> Context | None:
    """A context whose current span is `span_context` (a parent for a new span)."""
    if span_context is None:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def carrier_of(span: Span) -> tuple[str | None, str | None]:
    """`span`'s (traceparent, tracestate), as W3C Trace Context writes them."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent"), carrier.get("tracestate")


def links_to(span_contexts: Sequence[SpanContext | None]) -> list[Link]:
    return [Link(found) for found in span_contexts if found is not None]


def has_current_parent() -> bool:
    """Whether a span is current here (a caller's `traceparent` header, or a span of ours)."""
    return trace.get_current_span().get_span_context().is_valid


@contextmanager
def attached(context: Context | None) -> Iterator[None]:
    """`context` is the current OpenTelemetry context inside the block (None: nothing)."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def messaging_span(
    operation: str,
    operation_type: str,
    queue: str,
    kind: SpanKind,
    *,
    parent: SpanContext | None = None,
    links: Sequence[SpanContext | None] = (),
    count: int | None = None,
) -> Iterator[Span | None]:
    """A span named `{operation} {queue}` with the messaging attributes, current inside the
    block, and its context bound into the call context (call_context.py), so the command the
    block forwards carries it to the backend leader. `parent`: the span to hang it under when
    none is current. Yields None, and does nothing, when tracing is off."""
    if not active():
        yield None
        return
    attributes: dict[str, str | int] = {
        SYSTEM: MESSAGING_SYSTEM,
        OPERATION_TYPE: operation_type,
        OPERATION_NAME: operation,
        DESTINATION: queue,
    }
    if count is not None and count != 1:
        attributes[BATCH_COUNT] = count
    start_in = None if has_current_parent() else context_of(parent)
    with (
        tracer().start_as_current_span(
            f"{operation} {queue}",
            context=start_in,
            kind=kind,
            links=links_to(links),
            attributes=attributes,
        ) as span,
        bound_to(span),
    ):
        yield span


@contextmanager
def bound_to(span: Span) -> Iterator[None]:
    """The call context names `span` as the trace parent inside the block."""
    traceparent, tracestate = carrier_of(span)
    with call_context.bound(call_context.current().with_trace(traceparent, tracestate)):
        yield

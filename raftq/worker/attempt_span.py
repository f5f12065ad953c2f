"""The span of one task attempt: `process <queue>`, kind CONSUMER, per OpenTelemetry's messaging
conventions (`messaging.operation.type` = `process`).

Its parent is the submitter's span, read from the leased task's trace context, and it links to
that span too: the conventions let a single-message process span take the creation context as
its parent, which keeps submit → run → finish in one trace (a link alone would start a new
one). The attempt's report carries the span's own context (`TaskFinish.trace_context`), so the
frontend's `finish` span, and the leader's spans under it, join the same trace even when the
report shares its call with other tasks' reports. Tracing off: nothing is made or carried.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from raftq.client.task_models import LeasedTask, TaskFinish
from raftq.common import tracing


class AttemptTrace:
    def __init__(self, span: Span | None) -> None:
        self._span = span

    def reported(self, report: TaskFinish) -> TaskFinish:
        """`report` carrying this attempt's trace context; a failed attempt marks its span."""
        if self._span is None:
            return report
        if report.outcome in ("retry", "failed"):
            message = report.error.message if report.error else report.outcome
            self._span.set_status(Status(StatusCode.ERROR, message))
        traceparent, tracestate = tracing.carrier_of(self._span)
        if traceparent is None:
            return report
        carried = {"traceparent": traceparent}
        if tracestate:
            carried["tracestate"] = tracestate
        return dataclasses.replace(report, trace_context=carried)


@contextmanager
def attempt_span(queue: str, task: LeasedTask, worker_id: str) -> Iterator[AttemptTrace]:
    if not tracing.active():
        yield AttemptTrace(None)
        return
    given = task.trace_context or {}
    producer = tracing.span_context_of(given.get("traceparent"), given.get("tracestate"))
    with tracing.tracer().start_as_current_span(
        f"process {queue}",
        context=tracing.context_of(producer),
        kind=SpanKind.CONSUMER,
        links=tracing.links_to([producer]),
        attributes={
            tracing.SYSTEM: tracing.MESSAGING_SYSTEM,
            tracing.OPERATION_TYPE: "process",
            tracing.OPERATION_NAME: "process",
            tracing.DESTINATION: queue,
            tracing.MESSAGE_ID: task.task_id,
            "messaging.client.id": worker_id,
            "raftq.task.type": task.type,
            "raftq.task.attempt": task.attempt,
        },
    ) as span:
        yield AttemptTrace(span)

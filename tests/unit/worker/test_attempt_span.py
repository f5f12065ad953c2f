"""The span of a task attempt (raftq/worker/attempt_span.py): `process <queue>` under the
submitter's span and linked to it, and the report that carries the attempt's own context."""

from __future__ import annotations

from opentelemetry.trace import SpanKind, StatusCode

from raftq.client.task_models import LeasedTask, TaskError, TaskFinish
from raftq.common import tracing
from raftq.worker.attempt_span import attempt_span
from tests.span_recorder import recording

SUBMITTER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def leased(trace_context: dict[str, str] | None) -> LeasedTask:
    return LeasedTask(
        task_id="t-1",
        lease="lease-1",
        type="resize",
        payload=None,
        attempt=2,
        max_attempts=3,
        timeout_s=10,
        lease_deadline=0,
        trace_context=trace_context,
    )


def test_the_attempt_runs_under_the_submitters_span_and_reports_its_own() -> None:
    with recording() as recorded:
        with attempt_span("images", leased({"traceparent": SUBMITTER}), "w-1") as traced:
            report = traced.reported(TaskFinish(lease="lease-1", outcome="succeeded"))
        process = recorded.one("process images")
    submitter = tracing.span_context_of(SUBMITTER)
    assert submitter is not None
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None and process.parent.span_id == submitter.span_id
    assert process.context.trace_id == submitter.trace_id
    assert [link.context for link in process.links] == [submitter]
    attributes = dict(process.attributes or {})
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.destination.name"] == "images"
    assert attributes["messaging.message.id"] == "t-1"
    assert attributes["raftq.task.attempt"] == 2
    assert report.trace_context == {
        "traceparent": f"00-{process.context.trace_id:032x}-{process.context.span_id:016x}-01"
    }


def test_a_failed_attempt_marks_its_span() -> None:
    with recording() as recorded:
        with attempt_span("images", leased(None), "w-1") as traced:
            traced.reported(
                TaskFinish(lease="lease-1", outcome="retry", error=TaskError("E", "it broke"))
            )
        process = recorded.one("process images")
    assert process.status.status_code is StatusCode.ERROR
    assert process.parent is None and not process.links  # an untraced task: a new trace


def test_tracing_off_the_report_is_unchanged() -> None:
    report = TaskFinish(lease="lease-1", outcome="succeeded")
    with attempt_span("images", leased({"traceparent": SUBMITTER}), "w-1") as traced:
        assert traced.reported(report) is report

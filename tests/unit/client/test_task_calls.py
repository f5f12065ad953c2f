"""The SDK's task calls, as pure conversions: what a submission sends (always an idempotency
key), what it refuses before sending, and how answers become task_models.py's values."""

from __future__ import annotations

import math

import pytest

from raftq.client.batch_entries import SendEntry, send_payload
from raftq.client.errors import InvalidRequest, RaftqApiError, TaskBatchFailed
from raftq.client.task_calls import _report, limits_of, outcome_of, task_body, task_of
from raftq.client.task_models import SubmittedTask, TaskError, TaskFinish, TaskRequest


def test_a_submission_without_a_key_gets_a_fresh_one_and_keeps_what_was_given() -> None:
    first = task_body("jobs", TaskRequest("email.send", {"to": "x"}), "")
    second = task_body("jobs", TaskRequest("email.send", {"to": "x"}), "")
    assert first["idempotency_key"] and first["idempotency_key"] != second["idempotency_key"]
    mine = task_body("jobs", TaskRequest("a", idempotency_key="k", run_at=12.5, delay_s=None), "")
    assert mine["idempotency_key"] == "k" and mine["run_at_ms"] == 12_500
    assert "delay_s" not in mine and "max_attempts" not in mine


@pytest.mark.parametrize("payload", [math.nan, {"x": math.inf}, object(), {1j: 1}])
def test_a_payload_that_is_not_json_is_refused_before_sending(payload: object) -> None:
    with pytest.raises(InvalidRequest) as refused:
        task_body("jobs", TaskRequest("a", payload), "requests.3.")
    assert refused.value.field == "requests.3.payload" and "'jobs'" in refused.value.message


def test_a_report_result_must_be_json_and_errors_are_trimmed_to_what_the_api_takes() -> None:
    with pytest.raises(InvalidRequest) as refused:
        _report("jobs", TaskFinish("h", "succeeded", result=math.nan), 2)
    assert refused.value.field == "reports.2.result"
    raw = _report("jobs", TaskFinish("h", "failed", error=TaskError("E" * 300, "m" * 5000)), 0)
    assert len(raw["error"]["type"]) == 256 and len(raw["error"]["message"]) == 4096
    assert "result" not in raw


def test_answers_become_values_in_seconds() -> None:
    task = task_of(
        {
            "task_id": "t1",
            "type": "a",
            "state": "failed",
            "priority": 1,
            "attempt": 3,
            "max_attempts": 3,
            "timeout_s": 30.0,
            "created_at_ms": 1_500,
            "run_at_ms": None,
            "finished_at_ms": 2_000,
            "duration_ms": 250,
            "last_error": {"type": "E", "message": "m", "traceback": None},
            "result": None,
        }
    )
    assert (task.created_at, task.finished_at, task.duration_s, task.run_at) == (
        1.5,
        2.0,
        0.25,
        None,
    )
    assert task.last_error == TaskError("E", "m", None)
    outcome = outcome_of(
        {"succeeded": ["a"], "failed": [{"lease": "b", "code": "C", "message": "m"}]}
    )
    assert outcome.succeeded == ["a"] and outcome.failed == {"b": ("C", "m")}
    limits = limits_of({"type": "a", "starts_per_s": 2.5, "max_running": None, "running": 1})
    assert (limits.starts_per_s, limits.max_running, limits.running) == (2.5, None, 1)


def test_a_partly_refused_batch_names_the_first_refusal_and_keeps_the_rest() -> None:
    failed = TaskBatchFailed(
        "jobs",
        [SubmittedTask("t0", False), None],
        {1: RaftqApiError(400, "InvalidParameterValue", "bad", "payload")},
        ("k0", "k1"),
    )
    assert failed.field == "requests.1.payload" and "1 of 2" in failed.message
    assert failed.copy().submitted == failed.submitted and failed.idempotency_keys == ("k0", "k1")


def test_a_trace_context_travels_in_the_submission_and_the_report() -> None:
    given = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    body = task_body("q", TaskRequest("resize", trace_context=given), "")
    assert body["trace_context"] == given
    assert "trace_context" not in task_body("q", TaskRequest("resize"), "")
    report = _report("q", TaskFinish(lease="l", outcome="succeeded", trace_context=given), 0)
    assert report["trace_context"] == given
    assert "trace_context" not in _report("q", TaskFinish(lease="l", outcome="succeeded"), 0)


def test_a_sent_message_carries_its_trace_context() -> None:
    given = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert send_payload(SendEntry("hi", trace_context=given))["trace_context"] == given
    assert "trace_context" not in send_payload(SendEntry("hi"))

"""The task API's request models and what the frontend does to tasks on their way in and out:
malformed input is refused naming its field (and the queue), schedules map to the backend's
delay or run-at time, bodies/results/errors are sealed so that only the queue's key opens them."""

from __future__ import annotations

import json
import os
import typing

import pytest
from pydantic import BaseModel

from raftq.common import limits
from raftq.common.envelope import QueueCipher
from raftq.common.errors import CorruptState, InvalidParameter, PayloadTooLarge
from raftq.common.metadata_models import Placement, Queue
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.tasks_wire import TASK_ERROR_MAX_BYTES, TaskState
from raftq.frontend import task_models as t
from raftq.frontend.task_routes import parse
from raftq.frontend.task_sealing import (
    open_envelope,
    open_error,
    open_result,
    seal_error,
    seal_result,
    sealed_tasks,
)
from raftq.frontend.tasks import _cursor_bytes

CIPHER = QueueCipher("q-1", {1: os.urandom(32)}, current=1)
NOW_MS = 1_000_000_000_000
HOUR_S = 3_600


def _queue(*, fifo: bool = False, retention_s: int = 4 * 24 * HOUR_S) -> Queue:
    return Queue(
        queue_id="q-1",
        name="jobs.fifo" if fifo else "jobs",
        owner="root",
        fifo=fifo,
        attributes=QueueAttributes(max_message_bytes=1024, retention_ms=retention_s * 1000),
        placement=Placement(cluster_id="c1", epoch=1),
        lifecycle="active",
        created_at_ms=0,
    )


def _task(**fields: object) -> t.TaskFields:
    return parse(t.SubmitBody, json.dumps({"type": "email.send", **fields}).encode(), "jobs")


def _refusal(model: type[BaseModel], body: bytes) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as refused:
        parse(model, body, "jobs")
    assert "'jobs'" in refused.value.message  # the queue is named
    return refused.value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"type": "a", "colour": 1}', "colour"),
        (b'{"type": "9lives"}', "type"),
        (b'{"type": "has space"}', "type"),
        (b'{"type": "a", "payload": NaN}', "payload"),
        (b'{"type": "a", "payload": {"x": [Infinity]}}', "payload"),
        (b'{"type": "a", "delay_s": -1}', "delay_s"),
        (b'{"type": "a", "run_at_ms": -5}', "run_at_ms"),
        (b'{"type": "a", "max_attempts": 0}', "max_attempts"),
        (b'{"type": "a", "max_attempts": 101}', "max_attempts"),
        (b'{"type": "a", "timeout_s": 0.5}', "timeout_s"),
        (b'{"type": "a", "priority": "5"}', "priority"),
        (b'{"payload": 1}', "type"),
        (b"{not json", "body"),
    ],
)
def test_a_malformed_submission_is_refused_naming_its_field(body: bytes, field: str) -> None:
    assert _refusal(t.SubmitBody, body).field == field


def test_a_delay_and_a_run_at_time_together_are_refused() -> None:
    refused = _refusal(t.SubmitBody, b'{"type": "a", "delay_s": 1, "run_at_ms": 5}')
    assert "delay_s and run_at_ms" in refused.message and refused.field == "run_at_ms"


def test_a_batch_refusal_names_the_task_at_fault() -> None:
    body = b'{"tasks": [{"id": "a", "type": "ok"}, {"id": "b", "type": "-bad"}]}'
    assert _refusal(t.SubmitBatchBody, body).field == "tasks.1.type"


def test_any_json_value_is_a_payload() -> None:
    for payload in (None, 0, 1.5, "text", [1, [2]], {"nested": {"a": None}}, True):
        assert _task(payload=payload).payload == payload


def test_only_a_succeeded_report_carries_a_result() -> None:
    body = b'{"reports": [{"lease": "h", "outcome": "retry", "result": 1}]}'
    refused = _refusal(t.FinishBody, body)
    assert "only a succeeded task" in refused.message and refused.field == "reports.0.result"
    ok = parse(
        t.FinishBody, b'{"reports": [{"lease": "h", "outcome": "succeeded", "result": 1}]}', "q"
    )
    assert ok.reports[0].result == 1


def test_a_bad_state_name_is_refused_and_the_names_are_the_wire_states() -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse(t.TaskListQuery, {"state": "pending"}, "jobs")
    assert refused.value.field == "state"
    assert set(typing.get_args(t.TaskStateName)) == {state.value for state in TaskState}


def test_a_cursor_round_trips_and_anything_else_is_refused() -> None:
    assert _cursor_bytes("AAEC_w", "jobs") == b"\x00\x01\x02\xff"
    for bad in ("not base64!", "A", "////", "=="):
        with pytest.raises(InvalidParameter) as refused:
            _cursor_bytes(bad, "jobs")
        assert refused.value.field == "cursor"


def test_a_short_delay_stays_a_delay_and_a_long_one_becomes_a_run_at_time() -> None:
    tasks = [
        ("short", _task(delay_s=limits.DELAY_MAX_MS / 1000)),
        ("long", _task(delay_s=HOUR_S)),
        ("at", _task(run_at_ms=NOW_MS + 5)),
        ("now", _task()),
    ]
    sealed, _ = sealed_tasks(_queue(), CIPHER, tasks, sender_id="a", now_ms=NOW_MS, field_prefix="")
    schedule = {e.entry_id: (e.delay_ms, e.deliver_at_ms) for e in sealed}
    assert schedule == {
        "short": (limits.DELAY_MAX_MS, None),
        "long": (None, NOW_MS + HOUR_S * 1000),
        "at": (None, NOW_MS + 5),
        "now": (None, None),
    }


def test_a_task_due_after_its_queue_retention_is_refused() -> None:
    queue = _queue(retention_s=HOUR_S)
    for fields, field in (
        ({"delay_s": HOUR_S + 1}, "tasks.1.delay_s"),
        ({"run_at_ms": NOW_MS + HOUR_S * 1000 + 1}, "tasks.1.run_at_ms"),
    ):
        tasks = [("ok", _task()), ("late", _task(**fields))]
        with pytest.raises(InvalidParameter) as refused:
            sealed_tasks(
                queue, CIPHER, tasks, sender_id="a", now_ms=NOW_MS, field_prefix="tasks.N."
            )
        assert refused.value.field == field and "'jobs'" in refused.value.message


def test_a_payload_over_the_queue_message_size_is_refused_and_tasks_need_a_standard_queue() -> None:
    with pytest.raises(PayloadTooLarge) as too_large:
        sealed_tasks(
            _queue(),
            CIPHER,
            [("a", _task(payload="x" * 1024))],
            sender_id="a",
            now_ms=0,
            field_prefix="",
        )
    assert too_large.value.field == "payload"
    with pytest.raises(InvalidParameter) as fifo:
        sealed_tasks(
            _queue(fifo=True), CIPHER, [("a", _task())], sender_id="a", now_ms=0, field_prefix=""
        )
    assert fifo.value.field == "name"


def test_a_submission_carries_its_spec_and_a_sealed_envelope_and_a_dedup_id() -> None:
    tasks = [
        ("a", _task(payload={"to": "x"}, max_attempts=5, timeout_s=30, idempotency_key="k")),
        ("b", _task()),
    ]
    sealed, dedup_ids = sealed_tasks(
        _queue(), CIPHER, tasks, sender_id="a", now_ms=0, field_prefix=""
    )
    assert dedup_ids["a"] == "k" and dedup_ids["b"] and dedup_ids["b"] != "k"
    assert [e.dedup_id for e in sealed] == [dedup_ids["a"], dedup_ids["b"]]
    spec = sealed[0].task
    assert spec is not None and (spec.type, spec.max_attempts, spec.timeout_ms) == (
        "email.send",
        5,
        30_000,
    )
    assert b"email" not in sealed[0].body  # sealed
    envelope = open_envelope(CIPHER, sealed[0].body)
    assert (envelope.type, envelope.payload, envelope.max_attempts, envelope.timeout_s) == (
        "email.send",
        {"to": "x"},
        5,
        30,
    )


def test_a_plain_message_body_is_not_a_task() -> None:
    with pytest.raises(ValueError):
        open_envelope(CIPHER, CIPHER.seal(b"hello", "body"))


def test_results_and_errors_open_only_as_what_they_were_sealed_as() -> None:
    sealed = seal_result(CIPHER, {"ok": [1, 2]}, "reports.result", "jobs")
    assert open_result(CIPHER, sealed) == {"ok": [1, 2]}
    with pytest.raises(CorruptState):  # a result does not open as an error
        open_error(CIPHER, sealed)
    with pytest.raises(PayloadTooLarge) as too_large:
        seal_result(CIPHER, "x" * limits.DELETE_RESULT_MAX_BYTES, "reports.0.result", "jobs")
    assert too_large.value.field == "reports.0.result"


def test_a_long_traceback_keeps_its_end_and_the_error_fits() -> None:
    traceback = "".join(f"  frame {i}\n" for i in range(10_000)) + "ValueError: the end"
    error = t.TaskErrorView(type="ValueError", message="bad", traceback=traceback)
    sealed = seal_error(CIPHER, error, "reports.error", "jobs")
    assert len(sealed) <= TASK_ERROR_MAX_BYTES
    opened = open_error(CIPHER, sealed)
    assert opened is not None and opened.message == "bad"
    assert opened.traceback is not None and opened.traceback.endswith("ValueError: the end")
    assert opened.traceback.startswith("…") and len(opened.traceback) < len(traceback)

"""Histories: pairing invocations with completions, and the JSON-lines artifact."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.chaos.history import Delivery, Event, History


def event(process: str, type_: str, f: str, t_ms: int, **fields: object) -> Event:
    return Event.model_validate(
        {"process": process, "type": type_, "f": f, "t_mono_ns": t_ms * 1_000_000, "t_wall": 1.5}
        | fields
    )


def test_operations_pair_each_invocation_with_the_next_event_of_its_process() -> None:
    # Given two processes whose operations interleave, one still in flight at the end
    history = History(
        [
            event("p0", "invoke", "send", 0, value="p0-0"),
            event("p1", "invoke", "send", 1, value="p1-0"),
            event("p1", "info", "send", 5, value="p1-0", error="TimeoutError"),
            event("p0", "ok", "send", 6, value="p0-0", message_id="m"),
            event("p0", "invoke", "send", 7, value="p0-1"),
        ]
    )
    # When paired
    operations = list(history.operations())
    # Then in invocation order, with the in-flight one unknown
    assert [(op.invoke.value, op.type) for op in operations] == [
        ("p0-0", "ok"),
        ("p1-0", "info"),
        ("p0-1", "info"),
    ]
    assert operations[0].completed_ns == 6_000_000
    assert operations[2].completion is None


def test_a_process_that_invokes_twice_without_completing_is_refused() -> None:
    history = History(
        [
            event("p0", "invoke", "send", 0, value="p0-0"),
            event("p0", "invoke", "send", 1, value="p0-1"),
        ]
    )
    with pytest.raises(ValueError, match="invoked twice"):
        list(history.operations())


def test_a_completion_without_its_invocation_is_refused() -> None:
    history = History([event("p0", "ok", "delete", 0, value="p0-0", receipt_handle="h")])
    with pytest.raises(ValueError, match="without invoke"):
        list(history.operations())


def test_a_history_streamed_to_a_file_loads_back_equal(tmp_path: Path) -> None:
    # Given a history recorded while streaming to a sink, and dumped
    sink = io.StringIO()
    history = History(sink=sink)
    delivery = Delivery(value="p0-0", message_id="m", receipt_handle="h", receive_count=2)
    history.record(event("c0", "invoke", "receive", 0, visibility_timeout_ms=5000))
    history.record(event("c0", "ok", "receive", 3, deliveries=(delivery,)))
    path = tmp_path / "history.jsonl"
    history.dump(path)
    # When loaded back
    loaded = History.load(path)
    # Then the events are equal, and the stream holds the same lines as the dump
    assert loaded.events == history.events
    assert sink.getvalue() == path.read_text()

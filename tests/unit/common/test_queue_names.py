"""Errors on their way to people name the queue, never its internal id."""

from __future__ import annotations

import os

import pytest

from raftq.common.envelope import KeyUnavailable, QueueCipher
from raftq.common.errors import QueueMoved, UndeclaredTaskType
from raftq.common.queue_names import named_error, named_result
from raftq.common.results import BatchResult, EntryFailure, QueueStats, SendResult

QUEUE_ID = "q-0ad4e5f6a7b8c9d0"


def test_an_error_names_the_queue_in_its_message_and_its_text() -> None:
    # Given a backend's error about a queue, by id
    error = QueueMoved(f"queue {QUEUE_ID!r} is moving", field="queue")
    # When it is renamed where the name is known
    renamed = named_error(error, QUEUE_ID, "orders")
    # Then it is the same error, naming the queue
    assert renamed is error and renamed.field == "queue"
    assert renamed.message == "queue 'orders' is moving" == str(renamed)


def test_failed_entries_of_a_batch_name_the_queue() -> None:
    failure = EntryFailure.of(
        "e1", UndeclaredTaskType(f"no worker of queue {QUEUE_ID!r} declared the task type 'x'")
    )
    sent = named_result(SendResult(sent=(), failed=(failure,)), QUEUE_ID, "jobs")
    assert isinstance(sent, SendResult)
    assert sent.failed[0].message == "no worker of queue 'jobs' declared the task type 'x'"
    deleted = named_result(BatchResult(succeeded=(), failed=(failure,)), QUEUE_ID, "jobs")
    assert isinstance(deleted, BatchResult) and QUEUE_ID not in deleted.failed[0].message


def test_a_result_without_failures_is_left_as_it_is() -> None:
    stats = QueueStats(visible=1, in_flight=0, delayed=0, dead_letter_pending=0)
    assert named_result(stats, QUEUE_ID, "jobs") is stats


def test_a_message_that_does_not_open_is_reported_by_its_queue_name() -> None:
    # Given a message sealed with a data key version the queue's cipher does not hold
    sealed = QueueCipher(QUEUE_ID, {7: os.urandom(32)}, current=7).seal(b"x", "body")
    cipher = QueueCipher(QUEUE_ID, {1: os.urandom(32)}, current=1, name="orders")
    # When it is opened, Then the error names the queue, not its id
    with pytest.raises(KeyUnavailable) as refused:
        cipher.open(sealed, "body")
    assert refused.value.message == "queue 'orders' has no data key version 7"

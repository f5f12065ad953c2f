"""SQS queue attributes: ranges and names checked before anything is asked of the metadata
service, so a bad attribute changes nothing."""

from __future__ import annotations

import json

import pytest

from raftq.common.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameter,
    QueueNotFound,
)
from raftq.common.metadata_models import Placement, Queue
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import QueueStats
from raftq.frontend.sqs import queue_attributes

ARN = "arn:aws:sqs:us-east-1:000000000000:dlq"


def test_every_settable_attribute_at_its_bounds() -> None:
    parsed = queue_attributes.parse(
        {
            "DelaySeconds": "900",
            "MaximumMessageSize": "1024",
            "MessageRetentionPeriod": "1209600",
            "ReceiveMessageWaitTimeSeconds": "20",
            "VisibilityTimeout": "43200",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": ARN, "maxReceiveCount": "3"}),
            "RedriveAllowPolicy": json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [ARN]}
            ),
            "ContentBasedDeduplication": "true",
            "SqsManagedSseEnabled": "true",
        },
        fifo=True,
        creating=True,
    )
    attributes = parsed.new_queue_attributes()
    assert attributes.delay_ms == 900_000 and attributes.max_message_bytes == 1024
    assert attributes.visibility_timeout_ms == 43_200_000 and attributes.content_based_dedup
    assert attributes.redrive is not None and attributes.redrive.max_receive_count == 3
    assert parsed.redrive_allow is not None and parsed.redrive_allow.source_queues == ("dlq",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DelaySeconds", "901"),
        ("DelaySeconds", "-1"),
        ("MaximumMessageSize", "1023"),
        ("MaximumMessageSize", "1048577"),
        ("MessageRetentionPeriod", "59"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
        ("VisibilityTimeout", "43201"),
        ("VisibilityTimeout", "1e3"),
        ("VisibilityTimeout", "９"),  # a digit, but not ASCII
        ("ContentBasedDeduplication", "yes"),
        ("SqsManagedSseEnabled", "false"),
        ("DeduplicationScope", "messageGroup"),
        ("RedrivePolicy", "{not json"),
        ("RedrivePolicy", "[]"),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": ARN, "maxReceiveCount": 0})),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": ARN, "maxReceiveCount": True})),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": ARN, "extra": 1})),
        ("RedriveAllowPolicy", json.dumps({"redrivePermission": "sometimes"})),
        ("RedriveAllowPolicy", json.dumps({"redrivePermission": "byQueue"})),
        ("RedriveAllowPolicy", json.dumps({"redrivePermission": "byQueue",
                                           "sourceQueueArns": [ARN] * 11})),
    ],
)  # fmt: skip
def test_values_out_of_range_are_refused(name: str, value: str) -> None:
    with pytest.raises(InvalidAttributeValue):
        queue_attributes.parse({name: value}, fifo=True, creating=False)


def test_names_sqs_does_not_take_are_refused() -> None:
    for name in ("Colour", "QueueArn", "ApproximateNumberOfMessages", "FifoQueue", "Policy"):
        with pytest.raises(InvalidAttributeName):
            queue_attributes.parse({name: "1"}, fifo=False, creating=False)
    with pytest.raises(InvalidAttributeName):  # FIFO-only attributes on a standard queue
        queue_attributes.parse({"ContentBasedDeduplication": "true"}, fifo=False, creating=True)


def test_a_dead_letter_target_must_be_an_arn_of_this_account() -> None:
    other = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:dlq", "maxReceiveCount": 1})
    with pytest.raises(QueueNotFound):
        queue_attributes.parse({"RedrivePolicy": other}, fifo=False, creating=False)
    not_arn = json.dumps({"deadLetterTargetArn": "dlq", "maxReceiveCount": 1})
    with pytest.raises(InvalidParameter):
        queue_attributes.parse({"RedrivePolicy": not_arn}, fifo=False, creating=False)


def test_an_empty_redrive_policy_clears_it() -> None:
    parsed = queue_attributes.parse({"RedrivePolicy": ""}, fifo=False, creating=False)
    assert parsed.queue_changes().clear_redrive


def test_non_string_values_are_refused() -> None:
    for bad in ({"VisibilityTimeout": 30}, ["VisibilityTimeout"], {"VisibilityTimeout": None}):
        with pytest.raises(InvalidAttributeValue):
            queue_attributes.parse(bad, fifo=False, creating=False)


def test_messages_waiting_to_be_dead_lettered_count_as_not_visible() -> None:
    # Given a queue with 4 visible, 1 in flight, 2 delayed and 3 waiting for their DLQ
    queue = Queue(
        queue_id="q-1",
        name="orders",
        owner="root",
        fifo=False,
        attributes=QueueAttributes(),
        placement=Placement(cluster_id="c1", epoch=1),
        lifecycle="active",
        created_at_ms=0,
    )
    stats = QueueStats(visible=4, in_flight=1, delayed=2, dead_letter_pending=3)
    # Then SQS's three counts hold all ten
    described = queue_attributes.describe(queue, stats, None)
    assert described["ApproximateNumberOfMessages"] == "4"
    assert described["ApproximateNumberOfMessagesNotVisible"] == "4"
    assert described["ApproximateNumberOfMessagesDelayed"] == "2"

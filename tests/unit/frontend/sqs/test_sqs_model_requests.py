"""The conformance test's own logic (tests/integration/sqs_model_requests.py), on botocore's SQS
model without a server: which requests it builds, and that its answer check catches each way an
answer can depart from the output shape."""

from __future__ import annotations

from typing import Any

import botocore.session

from tests.integration.sqs_model_requests import Requests, member_paths, variants, violations

MODEL = botocore.session.get_session().get_service_model("sqs")


def _requests() -> Requests:
    def dynamic(operation: str, member: str, request: dict[str, Any]) -> Any:
        return f"<{member}{' fifo' if request['__fifo'] else ''}>"

    return Requests(dynamic)


def test_variants_are_the_required_members_then_each_optional_one_nested_too() -> None:
    batch = variants(MODEL.operation_model("SendMessageBatch"))
    assert batch[0] == ()
    assert ("Entries", "DelaySeconds") in batch
    assert ("Entries", "MessageGroupId") in batch
    # a whole value (message attributes) is sent as one member, not walked
    assert ("Entries", "MessageAttributes") in batch
    assert not any(len(path) > 2 for path in batch)


def test_a_request_holds_the_required_members_and_the_one_optional_member() -> None:
    send = MODEL.operation_model("SendMessage")
    assert _requests().build(send, ()) == {"QueueUrl": "<QueueUrl>", "MessageBody": "conformance"}
    delayed = _requests().build(send, ("DelaySeconds",))
    assert set(delayed) == {"QueueUrl", "MessageBody", "DelaySeconds"}
    # a FIFO-only member sends to the FIFO queue, with the group id FIFO needs
    deduplicated = _requests().build(send, ("MessageDeduplicationId",))
    assert deduplicated["QueueUrl"] == "<QueueUrl fifo>"
    assert set(deduplicated) == {
        "QueueUrl",
        "MessageBody",
        "MessageGroupId",
        "MessageDeduplicationId",
    }
    entries = _requests().build(
        MODEL.operation_model("SendMessageBatch"), ("Entries", "DelaySeconds")
    )
    assert entries["Entries"] == [{"Id": "e0", "MessageBody": "conformance", "DelaySeconds": 1}]


def test_an_answer_of_the_shape_has_no_violation() -> None:
    receive = MODEL.operation_model("ReceiveMessage").output_shape
    answer = {
        "Messages": [
            {
                "MessageId": "m",
                "Body": "b",
                "Attributes": {"SentTimestamp": "1"},
                "MessageAttributes": {"a": {"DataType": "Binary", "BinaryValue": "eA=="}},
            }
        ]
    }
    assert violations(receive, answer) == []
    assert "Messages[].Attributes" in member_paths(receive, answer)
    assert "Messages[].MD5OfBody" not in member_paths(receive, answer)


def test_each_departure_from_the_shape_is_named() -> None:
    receive = MODEL.operation_model("ReceiveMessage").output_shape
    assert violations(receive, {"Messages": [], "Extra": 1}) == [
        ".Extra: not in ReceiveMessageResult"
    ]
    assert violations(receive, {"Messages": {}}) == [".Messages: dict, not a list"]
    assert violations(receive, {"Messages": [{"Body": 3}]}) == [
        ".Messages[0].Body: 3 is not a string"
    ]
    unknown_key = {"Messages": [{"Attributes": {"NotAnAttribute": "1"}}]}
    assert violations(receive, unknown_key) == [
        ".Messages[0].Attributes<key>: 'NotAnAttribute' is not one of MessageSystemAttributeName"
    ]
    not_base64 = {
        "Messages": [{"MessageAttributes": {"a": {"DataType": "Binary", "BinaryValue": "*"}}}]
    }
    assert violations(receive, not_base64) == [
        ".Messages[0].MessageAttributes[a].BinaryValue: '*' is not base64"
    ]
    moved = MODEL.operation_model("CancelMessageMoveTask").output_shape
    assert violations(moved, {"ApproximateNumberOfMessagesMoved": True}) == [
        ".ApproximateNumberOfMessagesMoved: True is not a long"
    ]
    batch = MODEL.operation_model("DeleteMessageBatch").output_shape
    assert violations(batch, {"Successful": []}) == [".Failed: required, missing"]
    assert violations(None, {"Anything": 1}) == ["answer: no output expected"]

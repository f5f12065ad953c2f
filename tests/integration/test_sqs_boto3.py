"""boto3 against the SQS-compatible API (AWS JSON 1.0) with only the endpoint changed: the
first actions of issue 7, with SQS's error shapes and legacy codes."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def sqs(deployment: Deployment, secret: str | None = None) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=deployment.endpoint,
        region_name="us-east-1",
        aws_access_key_id=deployment.key_id,
        aws_secret_access_key=secret or deployment.secret,
    )


def test_boto3_sends_receives_and_deletes(deployment: Deployment) -> None:
    client = sqs(deployment)
    url = client.create_queue(QueueName="boto", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    assert url.endswith("/000000000000/boto")
    assert client.get_queue_url(QueueName="boto")["QueueUrl"] == url
    attributes = {"trace": {"DataType": "String", "StringValue": "t-1"}}
    sent = client.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"  # md5("hello")
    counts = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "1" and counts["VisibilityTimeout"] == "30"
    [message] = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert message["Body"] == "hello" and message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"]["trace"]["StringValue"] == "t-1"
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in client.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert url in client.list_queues(QueueNamePrefix="bo")["QueueUrls"]
    client.delete_queue(QueueUrl=url)


def test_errors_have_sqs_shapes_and_legacy_codes(deployment: Deployment) -> None:
    client = sqs(deployment)
    with pytest.raises(ClientError) as missing:
        client.get_queue_url(QueueName="no-such-queue")
    error = missing.value.response
    assert error["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"  # query-compatible
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError) as wrong:
        sqs(deployment, secret="not the secret").list_queues()
    assert wrong.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    url = client.create_queue(QueueName="boto-errors")["QueueUrl"]
    with pytest.raises(ClientError) as bad_handle:
        client.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert bad_handle.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    with pytest.raises(ClientError) as unsupported:
        client.tag_queue(QueueUrl=url, Tags={"a": "b"})
    assert unsupported.value.response["Error"]["Code"] == (
        "AWS.SimpleQueueService.UnsupportedOperation"
    )


def test_batches_report_each_entry(deployment: Deployment) -> None:
    client = sqs(deployment)
    url = client.create_queue(QueueName="boto-batch")["QueueUrl"]
    sent = client.send_message_batch(
        QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": f"m{i}"} for i in range(3)]
    )
    assert sorted(s["Id"] for s in sent["Successful"]) == ["e0", "e1", "e2"]
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in messages) == ["m0", "m1", "m2"]
    changed = client.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "v", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 60}
        ],
    )
    assert [s["Id"] for s in changed["Successful"]] == ["v"]
    entries = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    entries.append({"Id": "stale", "ReceiptHandle": "not-a-handle"})
    deleted = client.delete_message_batch(QueueUrl=url, Entries=entries)
    assert len(deleted["Successful"]) == 3 and [f["Id"] for f in deleted["Failed"]] == ["stale"]
    for bad, code in [
        ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
        ([{"Id": "a", "MessageBody": "x"}] * 2, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        (
            [{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)],
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
    ]:
        with pytest.raises(ClientError) as refused:
            client.send_message_batch(QueueUrl=url, Entries=bad)
        assert refused.value.response["Error"]["Code"] == code


def test_set_queue_attributes_with_a_redrive_policy(deployment: Deployment) -> None:
    client = sqs(deployment)
    dlq = client.create_queue(QueueName="boto-dlq")["QueueUrl"]
    url = client.create_queue(QueueName="boto-source")["QueueUrl"]
    arn = "arn:aws:sqs:us-east-1:000000000000:boto-dlq"
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "1"})
    client.set_queue_attributes(
        QueueUrl=url, Attributes={"VisibilityTimeout": "0", "RedrivePolicy": policy}
    )
    got = client.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert got["Attributes"] == {"VisibilityTimeout": "0"}
    client.send_message(QueueUrl=url, MessageBody="poison")
    client.receive_message(QueueUrl=url)  # the first receive; visibility 0 makes it visible again
    assert "Messages" not in client.receive_message(QueueUrl=url)  # the next one moves it
    # The message moved with the ciphertext its source sealed, and still opens
    [moved] = client.receive_message(QueueUrl=dlq)["Messages"]
    assert moved["Body"] == "poison"
    for bad, code in [
        ({"Colour": "red"}, "InvalidAttributeName"),
        ({"VisibilityTimeout": "soon"}, "InvalidAttributeValue"),
        ({"RedrivePolicy": "{not json"}, "InvalidAttributeValue"),
    ]:
        with pytest.raises(ClientError) as refused:
            client.set_queue_attributes(QueueUrl=url, Attributes=bad)
        assert refused.value.response["Error"]["Code"] == code

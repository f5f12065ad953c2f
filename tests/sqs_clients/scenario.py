"""Every SQS action raftq serves, driven by boto3 and checked as SQS's documentation says it
behaves. It imports nothing of raftq, so it runs under any boto3: the current one (AWS JSON 1.0,
from tests/integration/test_sqs_boto3.py) and a query-era one (<= 1.34.89, in its own virtual
environment, run as `python scenario.py` by tests/integration/test_sqs_query_era.py).

    python scenario.py <endpoint> <access key id> <secret> <principal id> <queue name prefix>
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import threading
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"


def client(endpoint: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    """As SQS documents it: sorted names; name, type and value length-prefixed."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        for part in (name.encode(), value["DataType"].encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            digest.update(b"\x02" + struct.pack(">I", len(raw)) + raw)
        else:
            raw = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    try:
        call(*args, **kwargs)
    except ClientError as error:
        assert error.response["ResponseMetadata"]["RequestId"], error.response
        code: str = error.response["Error"]["Code"]
        return code
    raise AssertionError(f"{call.__name__} should have failed")


def wait_for(predicate: Any, what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def system_names(sqs: Any) -> dict[str, list[str]]:
    """ReceiveMessage's system attribute names: `MessageSystemAttributeNames` since botocore
    1.34.101, the deprecated `AttributeNames` before."""
    members = sqs.meta.service_model.operation_model("ReceiveMessage").input_shape.members
    name = (
        "MessageSystemAttributeNames"
        if "MessageSystemAttributeNames" in members
        else "AttributeNames"
    )
    return {name: ["All"]}


def queues(sqs: Any, prefix: str) -> None:
    url = sqs.create_queue(
        QueueName=f"{prefix}-q",
        Attributes={"VisibilityTimeout": "30", "DelaySeconds": "0"},
        tags={"team": "payments"},
    )["QueueUrl"]
    assert url.endswith(f"/{ACCOUNT}/{prefix}-q"), url
    # CreateQueue is idempotent for the same attributes, refused for different ones
    again = sqs.create_queue(QueueName=f"{prefix}-q", Attributes={"VisibilityTimeout": "30"})
    assert again["QueueUrl"] == url
    assert (
        error_code(
            sqs.create_queue, QueueName=f"{prefix}-q", Attributes={"VisibilityTimeout": "31"}
        )
        == "QueueAlreadyExists"
    )
    assert sqs.get_queue_url(QueueName=f"{prefix}-q")["QueueUrl"] == url
    for i in range(3):
        sqs.create_queue(QueueName=f"{prefix}-page{i}")
    first = sqs.list_queues(QueueNamePrefix=f"{prefix}-page", MaxResults=2)
    assert len(first["QueueUrls"]) == 2 and "NextToken" in first
    rest = sqs.list_queues(
        QueueNamePrefix=f"{prefix}-page", MaxResults=2, NextToken=first["NextToken"]
    )
    assert len(rest["QueueUrls"]) == 1 and "NextToken" not in rest
    # Tags
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "payments"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "billing"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test", "team": "billing"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    # Attributes, counts exact
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert got["VisibilityTimeout"] == "45", got
    assert got["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{prefix}-q"
    assert got["ApproximateNumberOfMessages"] == "0"
    assert (
        error_code(
            sqs.set_queue_attributes, QueueUrl=url, Attributes={"VisibilityTimeout": "43201"}
        )
        == "InvalidAttributeValue"
    )
    assert (
        error_code(sqs.set_queue_attributes, QueueUrl=url, Attributes={"Colour": "red"})
        == "InvalidAttributeName"
    )
    # Purge, delete, and the legacy code of a queue that does not exist
    sqs.send_message(QueueUrl=url, MessageBody="to purge")
    sqs.purge_queue(QueueUrl=url)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0"}
    sqs.delete_queue(QueueUrl=url)
    try:
        sqs.get_queue_url(QueueName=f"{prefix}-q")
    except sqs.exceptions.QueueDoesNotExist as error:
        assert error.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    else:
        raise AssertionError("the deleted queue is still there")


def messages(sqs: Any, prefix: str) -> None:
    url = sqs.create_queue(QueueName=f"{prefix}-m")["QueueUrl"]
    attributes: dict[str, dict[str, Any]] = {
        "trace": {"DataType": "String", "StringValue": "t-1"},
        "count": {"DataType": "Number", "StringValue": "42"},
        "ratio": {"DataType": "Number.float", "StringValue": "0.5"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        "cust.label": {"DataType": "String.custom", "StringValue": "x"},
    }
    body = "hello \u00e9\U0001f600"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "1"
    [message] = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], **system_names(sqs)
    )["Messages"]
    assert message["Body"] == body and message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(message["Attributes"]["SentTimestamp"]) > 1_600_000_000_000
    assert message["Attributes"]["SenderId"]
    # Visibility 0 makes it visible at once; a prefix picks attributes
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    [again] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["cust.*"])["Messages"]
    assert again["MessageAttributes"] == {"cust.label": attributes["cust.label"]}
    assert again["MD5OfMessageAttributes"] == md5_of_attributes(
        {"cust.label": attributes["cust.label"]}
    )
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert (
        error_code(sqs.delete_message, QueueUrl=url, ReceiptHandle="junk")
        == "ReceiptHandleIsInvalid"
    )
    assert (
        error_code(sqs.send_message, QueueUrl=url, MessageBody="bad \x01")
        == "InvalidMessageContents"
    )
    # Batches report each entry
    batch = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"e{i}", "MessageBody": f"m{i}"} for i in range(3)]
        + [{"Id": "bad", "MessageBody": "m", "DelaySeconds": 901}],
    )
    assert sorted(s["Id"] for s in batch["Successful"]) == ["e0", "e1", "e2"]
    assert [f["Id"] for f in batch["Failed"]] == ["bad"] and batch["Failed"][0]["SenderFault"]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["m0", "m1", "m2"]
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "v", "ReceiptHandle": received[0]["ReceiptHandle"], "VisibilityTimeout": 60}
        ],
    )
    assert [s["Id"] for s in changed["Successful"]] == ["v"]
    entries = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    deleted = sqs.delete_message_batch(
        QueueUrl=url, Entries=[*entries, {"Id": "junk", "ReceiptHandle": "junk"}]
    )
    assert len(deleted["Successful"]) == 3 and [f["Id"] for f in deleted["Failed"]] == ["junk"]
    for bad, code in [
        ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
        ([{"Id": "a", "MessageBody": "x"}] * 2, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        (
            [{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)],
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        ([{"Id": "no spaces", "MessageBody": "x"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
    ]:
        assert error_code(sqs.send_message_batch, QueueUrl=url, Entries=bad) == code
    # Long polling: a receive waiting for up to 10 s returns soon after a send
    got: list[Any] = []
    waiter = threading.Thread(
        target=lambda: got.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10))
    )
    started = time.monotonic()
    waiter.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="late")
    waiter.join()
    assert got[0]["Messages"][0]["Body"] == "late", got
    assert time.monotonic() - started < 9
    sqs.delete_queue(QueueUrl=url)


def fifo(sqs: Any, prefix: str) -> None:
    url = sqs.create_queue(
        QueueName=f"{prefix}-f.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    numbers = []
    for i in range(4):
        sent = sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="a")
        numbers.append(int(sent["SequenceNumber"]))
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    # The same body within 5 minutes is the same message (content-based deduplication)
    first = sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="b")
    duplicate = sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="b")
    assert duplicate["MessageId"] == first["MessageId"]
    explicit = sqs.send_message(
        QueueUrl=url, MessageBody="b1", MessageGroupId="b", MessageDeduplicationId="d-1"
    )
    assert (
        sqs.send_message(
            QueueUrl=url, MessageBody="other", MessageGroupId="b", MessageDeduplicationId="d-1"
        )["MessageId"]
        == explicit["MessageId"]
    )
    assert error_code(sqs.send_message, QueueUrl=url, MessageBody="x") == "MissingParameter"
    # Group a in order; while a message of a group is in flight, the group waits
    [head] = sqs.receive_message(
        QueueUrl=url, ReceiveRequestAttemptId="attempt-1", **system_names(sqs)
    )["Messages"]
    assert head["Body"] == "a0" and head["Attributes"]["MessageGroupId"] == "a"
    assert int(head["Attributes"]["SequenceNumber"]) == numbers[0]
    # A retried receive with the same attempt id returns the same message
    [retried] = sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId="attempt-1")["Messages"]
    assert retried["MessageId"] == head["MessageId"]
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert all(not m["Body"].startswith("a") for m in rest), rest
    for m in rest:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=retried["ReceiptHandle"])
    bodies = []
    for _ in range(3):
        [m] = sqs.receive_message(QueueUrl=url)["Messages"]
        bodies.append(m["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == ["a1", "a2", "a3"]
    sqs.delete_queue(QueueUrl=url)


def dead_letters(sqs: Any, prefix: str) -> None:
    dlq = sqs.create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url = sqs.create_queue(
        QueueName=f"{prefix}-src", Attributes={"VisibilityTimeout": "0", "RedrivePolicy": policy}
    )["QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(got["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 2,
    }
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):  # received maxReceiveCount times, never deleted
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "poison"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the next receive moves it
    [moved] = sqs.receive_message(QueueUrl=dlq, **system_names(sqs))["Messages"]
    assert moved["Body"] == "poison"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"].endswith(f":{prefix}-src")
    sqs.change_message_visibility(
        QueueUrl=dlq, ReceiptHandle=moved["ReceiptHandle"], VisibilityTimeout=0
    )
    # Redrive it back to its source with a message move task
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    done = wait_for(
        lambda: [
            t
            for t in sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
            if t["TaskHandle"] == handle and t["Status"] == "COMPLETED"
        ],
        "the move task to complete",
    )
    assert done[0]["ApproximateNumberOfMessagesMoved"] == 1, done
    [back] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert back["Body"] == "poison"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=back["ReceiptHandle"])
    assert (
        error_code(sqs.cancel_message_move_task, TaskHandle="no-such-task")
        == "ResourceNotFoundException"
    )
    assert (
        error_code(
            sqs.start_message_move_task, SourceArn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:{prefix}-src"
        )
        == "InvalidParameterValue"
    )
    # A DLQ that allows no sources refuses to become one
    sqs.set_queue_attributes(
        QueueUrl=dlq,
        Attributes={"RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})},
    )
    other = sqs.create_queue(QueueName=f"{prefix}-other")["QueueUrl"]
    assert (
        error_code(sqs.set_queue_attributes, QueueUrl=other, Attributes={"RedrivePolicy": policy})
        == "InvalidParameterValue"
    )
    for queue in (url, dlq, other):
        sqs.delete_queue(QueueUrl=queue)


def permissions(sqs: Any, prefix: str, principal: str) -> None:
    url = sqs.create_queue(QueueName=f"{prefix}-p")["QueueUrl"]
    sqs.add_permission(
        QueueUrl=url, Label="senders", AWSAccountIds=[principal], Actions=["SendMessage"]
    )
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    [statement] = policy["Statement"]
    assert statement["Sid"] == "senders" and statement["Action"] == ["SQS:SendMessage"]
    assert (
        error_code(
            sqs.add_permission,
            QueueUrl=url,
            Label="senders",
            AWSAccountIds=[principal],
            Actions=["*"],
        )
        == "InvalidParameterValue"
    )
    sqs.remove_permission(QueueUrl=url, Label="senders")
    assert (
        "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    )
    assert (
        error_code(sqs.remove_permission, QueueUrl=url, Label="senders") == "InvalidParameterValue"
    )
    sqs.delete_queue(QueueUrl=url)


def run(endpoint: str, key_id: str, secret: str, principal: str, prefix: str) -> None:
    sqs = client(endpoint, key_id, secret)
    queues(sqs, prefix)
    messages(sqs, prefix)
    fifo(sqs, prefix)
    dead_letters(sqs, prefix)
    permissions(sqs, prefix, principal)
    wrong = client(endpoint, key_id, "not the secret")
    assert error_code(wrong.list_queues) == "SignatureDoesNotMatch"


if __name__ == "__main__":
    run(*sys.argv[1:6])
    protocol = client(*sys.argv[1:4]).meta.service_model.protocol
    print(f"scenario passed with boto3 {boto3.__version__} ({protocol})")

"""SQS answering as SQS does where clients read more than the error code: the messages of its
errors (never pydantic's wording), GetQueueAttributes' choice of attributes, the wildcards of
MessageAttributeNames, and what a QueueUrl that is no queue URL gets."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.integration.conftest import Deployment
from tests.integration.test_sqs_hostile_input import form_call, json_call
from tests.sqs_clients import scenario

pytestmark = pytest.mark.integration
NO_SUCH_QUEUE = "The specified queue does not exist."
PYDANTIC_PHRASES = (
    "should match pattern",
    "validation error",
    "Input should",
    "Field required",
    "type=",
    "pydantic",
    "Value error,",
)


def _sqs(deployment: Deployment) -> Any:
    return scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)


def _error_of(call: Any, **members: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**members)
    error: dict[str, str] = raised.value.response["Error"]
    return error


def test_a_missing_queue_is_told_in_sqs_words_by_every_path(deployment: Deployment) -> None:
    sqs = _sqs(deployment)
    url = sqs.create_queue(QueueName="exact-gone")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    missing = url.replace("exact-gone", "exact-never")
    for call, members in [
        (sqs.get_queue_url, {"QueueName": "exact-never"}),
        (sqs.send_message, {"QueueUrl": missing, "MessageBody": "x"}),
        (sqs.receive_message, {"QueueUrl": missing}),
        (sqs.get_queue_attributes, {"QueueUrl": missing, "AttributeNames": ["All"]}),
        (sqs.purge_queue, {"QueueUrl": missing}),
    ]:
        error = _error_of(call, **members)
        assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue", (call, error)
        assert error["Message"] == NO_SUCH_QUEUE, (call, error)
        assert error["Type"] == "Sender"


@pytest.mark.parametrize(
    "url", ["not a url", "s3://bucket/key", "http://h/000000000000/a/b", "../../etc/passwd"]
)
def test_a_queue_url_that_is_no_queue_url_names_no_queue(deployment: Deployment, url: str) -> None:
    error = _error_of(_sqs(deployment).send_message, QueueUrl=url, MessageBody="x")
    assert (error["Code"], error["Message"]) == (
        "AWS.SimpleQueueService.NonExistentQueue",
        NO_SUCH_QUEUE,
    )


def _hostile_json_cases(url: str, fifo_url: str) -> list[tuple[str, dict[str, Any], str]]:
    """(action, members, the parameter the refusal must name) for values raftq's models check."""
    spaced = "has a space"
    return [
        ("SendMessage", {"QueueUrl": url, "MessageBody": "x", "MessageGroupId": spaced},
         "MessageGroupId"),
        ("SendMessage", {"QueueUrl": fifo_url, "MessageBody": "x", "MessageGroupId": "g",
                         "MessageDeduplicationId": spaced}, "MessageDeduplicationId"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "x", "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "String", "StringValue": spaced}}}, "AWSTraceHeader"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {
            "a": {"DataType": "Strange", "StringValue": "v"}}}, "'a'"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {
            "n": {"DataType": "Number", "StringValue": "twelve"}}}, "'n'"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {
            "b": {"DataType": "Binary", "BinaryValue": "!!not base64!!"}}}, "'b'"),
        ("ReceiveMessage", {"QueueUrl": fifo_url, "ReceiveRequestAttemptId": spaced},
         "ReceiveRequestAttemptId"),
        ("SetQueueAttributes", {"QueueUrl": url, "Attributes": {
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "sometimes"})}},
         "RedriveAllowPolicy"),
        ("CreateQueue", {"QueueName": "x" * 81}, "QueueName"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": 5}, "MessageBody"),
        ("ReceiveMessage", {"QueueUrl": url, "MessageAttributeNames": "All"},
         "MessageAttributeNames"),
        ("ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": "h",
                                     "VisibilityTimeout": 50000}, "VisibilityTimeout"),
    ]  # fmt: skip


def _assert_sqs_wording(text: str, context: object) -> None:
    for phrase in PYDANTIC_PHRASES:
        assert phrase not in text, (phrase, context, text)


def test_no_refusal_reads_as_pydantic(deployment: Deployment) -> None:
    sqs = _sqs(deployment)
    url = sqs.create_queue(QueueName="exact-hostile")["QueueUrl"]
    fifo_url = sqs.create_queue(
        QueueName="exact-hostile.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for action, members, parameter in _hostile_json_cases(url, fifo_url):
        response = json_call(deployment, action, members)
        assert response.status_code == 400, (action, members, response.text)
        message = response.json()["message"]
        _assert_sqs_wording(response.text, (action, members))
        assert parameter in message, (action, message)
    # A batch reports the same refusal per entry, in the same words
    batch = sqs.send_message_batch(
        QueueUrl=fifo_url,
        Entries=[{"Id": "e", "MessageBody": "x", "MessageGroupId": "has a space"}],
    )
    failed = batch["Failed"][0]
    _assert_sqs_wording(failed["Message"], failed)
    assert "MessageGroupId" in failed["Message"]
    # The query protocol's refusals, in XML
    for form in [
        f"Action=SendMessage&QueueUrl={url}&MessageBody=x&MessageGroupId=a%20b",
        f"Action=SendMessage&QueueUrl={url}&MessageBody=x&MessageAttribute.1.Name=a"
        "&MessageAttribute.1.Value.DataType=Strange&MessageAttribute.1.Value.StringValue=v",
        "Action=CreateQueue&QueueName=bad%20name",
        "Action=GetQueueUrl&QueueName=" + "x" * 81,
    ]:
        xml = form_call(deployment, form)
        assert xml.status_code == 400 and "<Code>" in xml.text, (form, xml.text)
        _assert_sqs_wording(xml.text, form)


def test_get_queue_attributes_answers_what_was_asked(deployment: Deployment) -> None:
    sqs = _sqs(deployment)
    url = sqs.create_queue(QueueName="exact-attributes")["QueueUrl"]
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url)
    raw = json_call(deployment, "GetQueueAttributes", {"QueueUrl": url})
    assert raw.status_code == 200 and "Attributes" not in raw.json()
    # Attributes SQS has and raftq never sets are no error: they are simply not there
    unset = ["KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"]
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=unset)
    error = _error_of(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Colour"])
    assert (error["Code"], error["Message"]) == (
        "InvalidAttributeName",
        "Unknown Attribute Colour.",
    )
    created = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert created["LastModifiedTimestamp"] == created["CreatedTimestamp"]
    time.sleep(1.1)  # SQS's timestamps are whole seconds
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"})
    changed = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["LastModifiedTimestamp", "CreatedTimestamp"]
    )["Attributes"]
    assert int(changed["LastModifiedTimestamp"]) > int(changed["CreatedTimestamp"])
    assert changed["CreatedTimestamp"] == created["CreatedTimestamp"]
    assert abs(int(changed["LastModifiedTimestamp"]) - time.time()) < 60


def _received_names(sqs: Any, url: str, names: list[str] | None) -> set[str]:
    members: dict[str, Any] = {"QueueUrl": url, "VisibilityTimeout": 0, "WaitTimeSeconds": 5}
    if names is not None:
        members["MessageAttributeNames"] = names
    (message,) = sqs.receive_message(**members)["Messages"]
    attributes = message.get("MessageAttributes", {})
    assert ("MD5OfMessageAttributes" in message) == bool(attributes)
    return set(attributes)


def test_message_attribute_names_take_sqs_wildcards(deployment: Deployment) -> None:
    sqs = _sqs(deployment)
    url = sqs.create_queue(QueueName="exact-wildcards")["QueueUrl"]
    names = ["Custom.a", "Custom.b.c", "Custom", "CustomX", "Other"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="x",
        MessageAttributes={n: {"DataType": "String", "StringValue": n} for n in names},
    )
    assert _received_names(sqs, url, None) == set()
    assert _received_names(sqs, url, ["All"]) == set(names)
    assert _received_names(sqs, url, [".*"]) == set(names)
    assert _received_names(sqs, url, ["Custom.*"]) == {"Custom.a", "Custom.b.c"}
    assert _received_names(sqs, url, ["Custom.b.*", "Other"]) == {"Custom.b.c", "Other"}
    assert _received_names(sqs, url, ["Nothing.*"]) == set()
    # The query protocol's MessageAttributeName.N, as old SDKs send it
    form = (
        f"Action=ReceiveMessage&QueueUrl={url}&VisibilityTimeout=0&WaitTimeSeconds=5"
        "&MessageAttributeName.1=Custom.*&MessageAttributeName.2=Other"
    )
    xml = form_call(deployment, form).text
    shown = set(re.findall(r"<MessageAttribute><Name>([^<]+)</Name>", xml))
    assert shown == {"Custom.a", "Custom.b.c", "Other"}, xml


def test_raw_requests_read_the_same(deployment: Deployment) -> None:
    # requests' own call, to be sure nothing of the above depends on botocore's parsing
    response = json_call(deployment, "GetQueueUrl", {"QueueName": "exact-never-made"})
    assert isinstance(response, requests.Response)
    assert response.json() == {"__type": "com.amazonaws.sqs#QueueDoesNotExist",
                               "message": NO_SUCH_QUEUE}  # fmt: skip
    assert (
        response.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    )

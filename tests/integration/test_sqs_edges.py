"""Edges where raftq answers as SQS does: old receipt handles, FIFO sends and batches, CreateQueue
of an existing queue, and limits (request body, batch size, tags). Driven by boto3 (and signed
raw requests where boto3 would refuse to send) against a real `raftq up` deployment."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from raftq.common import limits
from tests.integration.conftest import Deployment
from tests.integration.test_sqs_hostile_input import form_call, json_call
from tests.sqs_clients import scenario

pytestmark = pytest.mark.integration


def sqs_of(deployment: Deployment) -> Any:
    return scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)


def new_queue(sqs: Any, prefix: str, **attributes: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    code: str = raised.value.response["Error"]["Code"]
    return code


def receive_one(sqs: Any, url: str, visibility_timeout_s: int) -> dict[str, Any] | None:
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=visibility_timeout_s)
    messages = got.get("Messages", [])
    return messages[0] if messages else None


# --- item: old receipt handles ------------------------------------------------------------------


def test_delete_with_an_old_handle_succeeds_and_leaves_the_message(deployment: Deployment) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "old-handle")
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    # Given a message received twice: the first lease ends at once, the second holds it
    first = receive_one(sqs, url, 0)
    second = receive_one(sqs, url, 60)
    assert first is not None and second is not None
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    # When the first (old) handle deletes it, alone or in a batch
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    batch = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": "old", "ReceiptHandle": first["ReceiptHandle"]}]
    )
    # Then both succeed, and the message stays for the holder of its latest handle
    assert [e["Id"] for e in batch["Successful"]] == ["old"] and not batch.get("Failed")
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0
    )
    again = receive_one(sqs, url, 60)
    assert again is not None and again["Body"] == "kept"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    assert receive_one(sqs, url, 0) is None


def test_change_visibility_with_an_old_handle_or_of_a_deleted_message_is_refused(
    deployment: Deployment,
) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "old-visibility")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    first = receive_one(sqs, url, 0)
    second = receive_one(sqs, url, 60)
    assert first is not None and second is not None
    # An old handle of a message received again since: InvalidParameterValue
    change = sqs.change_message_visibility
    old = {"QueueUrl": url, "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 5}
    assert error_code(change, **old) == "InvalidParameterValue"
    batch = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "old", "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 5}],
    )
    assert [(e["Id"], e["Code"]) for e in batch["Failed"]] == [("old", "InvalidParameterValue")]
    # A deleted message: InvalidParameterValue too
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    gone = {"QueueUrl": url, "ReceiptHandle": second["ReceiptHandle"], "VisibilityTimeout": 5}
    assert error_code(change, **gone) == "InvalidParameterValue"


def test_change_visibility_after_the_lease_ran_out_succeeds_and_changes_nothing(
    deployment: Deployment,
) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "expired-lease")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    # Given a message whose lease has already run out (a visibility timeout of 0)
    leased = receive_one(sqs, url, 0)
    assert leased is not None
    # When its (latest) handle asks for more time
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=leased["ReceiptHandle"], VisibilityTimeout=600
    )
    # Then the call succeeds and the message is still visible to the next receive
    again = receive_one(sqs, url, 60)
    assert again is not None and again["MessageId"] == leased["MessageId"]


# --- item: FIFO sends and batches ---------------------------------------------------------------


def test_fifo_takes_a_delay_of_zero_and_refuses_any_other(deployment: Deployment) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "fifo-delay", FifoQueue="true")
    ids = {"MessageGroupId": "g", "MessageDeduplicationId": "d1"}
    sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0, **ids)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {
                "Id": "a",
                "MessageBody": "b",
                "DelaySeconds": 0,
                **ids | {"MessageDeduplicationId": "d2"},
            }
        ],
    )
    delayed = {"QueueUrl": url, "MessageBody": "later", "DelaySeconds": 5, **ids}
    assert error_code(sqs.send_message, **delayed) == "InvalidParameterValue"


def test_fifo_batch_lacking_group_or_dedup_ids_is_refused_as_a_whole(
    deployment: Deployment,
) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "fifo-batch", FifoQueue="true")
    good = {"Id": "good", "MessageBody": "g", "MessageGroupId": "g", "MessageDeduplicationId": "1"}
    no_group = {"Id": "nogroup", "MessageBody": "x", "MessageDeduplicationId": "2"}
    no_dedup = {"Id": "nodedup", "MessageBody": "x", "MessageGroupId": "g"}
    batch = sqs.send_message_batch
    assert error_code(batch, QueueUrl=url, Entries=[good, no_group]) == "MissingParameter"
    assert error_code(batch, QueueUrl=url, Entries=[good, no_dedup]) == "InvalidParameterValue"
    # Nothing of either request was sent
    assert receive_one(sqs, url, 0) is None


# --- item: CreateQueue of an existing queue -----------------------------------------------------


def test_create_queue_of_an_existing_queue_returns_its_url_unless_an_attribute_differs(
    deployment: Deployment,
) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "again", VisibilityTimeout="60")
    name = url.rsplit("/", 1)[1]
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name, Attributes={})["QueueUrl"] == url
    same = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})
    assert same["QueueUrl"] == url
    different = {"QueueName": name, "Attributes": {"VisibilityTimeout": "61"}}
    assert error_code(sqs.create_queue, **different) == "QueueAlreadyExists"


# --- item: limits -------------------------------------------------------------------------------


def test_a_body_over_the_limit_gets_an_sqs_error_with_a_request_id(
    deployment: Deployment,
) -> None:
    big = b" " * (limits.REQUEST_BODY_MAX_BYTES + 1)
    over_json = json_call(deployment, "ListQueues", b"{}" + big)
    assert over_json.status_code == 400
    assert over_json.headers["x-amzn-RequestId"]
    assert over_json.json()["__type"] == "com.amazonaws.sqs#InvalidParameterValue"
    assert over_json.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    over_form = form_call(deployment, "Action=ListQueues&Padding=" + "x" * len(big))
    assert over_form.status_code == 400
    assert over_form.headers["x-amzn-RequestId"]
    assert "<Code>InvalidParameterValue</Code>" in over_form.text
    assert over_form.headers["x-amzn-RequestId"] in over_form.text


def test_a_one_entry_batch_over_the_size_limit_is_batch_request_too_long(
    deployment: Deployment,
) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "batch-size")
    entry = {"Id": "big", "MessageBody": "x" * (limits.MESSAGE_SIZE_MAX_BYTES + 1)}
    code = error_code(sqs.send_message_batch, QueueUrl=url, Entries=[entry])
    assert code == "AWS.SimpleQueueService.BatchRequestTooLong"


def test_tag_limits_are_invalid_parameter_value(deployment: Deployment) -> None:
    sqs = sqs_of(deployment)
    url = new_queue(sqs, "tags")
    too_many = {f"k{i}": "v" for i in range(limits.TAGS_PER_QUEUE_MAX + 1)}
    long_key = {"k" * (limits.TAG_KEY_MAX_CHARS + 1): "v"}
    long_value = {"k": "v" * (limits.TAG_VALUE_MAX_CHARS + 1)}
    for tags in (too_many, long_key, long_value):
        assert error_code(sqs.tag_queue, QueueUrl=url, Tags=tags) == "InvalidParameterValue"
        name = f"tagged-{uuid.uuid4().hex[:8]}"
        assert error_code(sqs.create_queue, QueueName=name, tags=tags) == "InvalidParameterValue"
    keys = list(too_many)
    assert error_code(sqs.untag_queue, QueueUrl=url, TagKeys=keys) == "InvalidParameterValue"
    # Nothing changed, and the limits themselves are taken
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)
    at_limit = {
        f"k{i:02}": "v" * limits.TAG_VALUE_MAX_CHARS for i in range(limits.TAGS_PER_QUEUE_MAX)
    }
    sqs.tag_queue(QueueUrl=url, Tags=at_limit)
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == at_limit

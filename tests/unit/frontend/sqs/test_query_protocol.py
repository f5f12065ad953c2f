"""The query protocol's flattened parameters become the JSON shapes, and results become the XML
botocore's query parser reads (names from the SQS 2012-11-05 query model)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from raftq.common.errors import InvalidParameter
from raftq.frontend.sqs import query_protocol
from raftq.frontend.sqs.errors import SqsError

NS = {"q": query_protocol.XML_NAMESPACE}


def test_a_batch_with_attributes_becomes_the_json_shape() -> None:
    form = {
        "Action": "SendMessageBatch",
        "Version": "2012-11-05",
        "QueueUrl": "http://h/000000000000/q",
        "SendMessageBatchRequestEntry.2.Id": "b",
        "SendMessageBatchRequestEntry.2.MessageBody": "two",
        "SendMessageBatchRequestEntry.1.Id": "a",
        "SendMessageBatchRequestEntry.1.MessageBody": "one",
        "SendMessageBatchRequestEntry.1.DelaySeconds": "5",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "k",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "Binary",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue": "AAE=",
    }
    assert query_protocol.decode("SendMessageBatch", form) == {
        "QueueUrl": "http://h/000000000000/q",
        "Entries": [
            {
                "Id": "a",
                "MessageBody": "one",
                "DelaySeconds": 5,
                "MessageAttributes": {"k": {"DataType": "Binary", "BinaryValue": "AAE="}},
            },
            {"Id": "b", "MessageBody": "two"},
        ],
    }


def test_maps_lists_and_the_lower_case_tags_of_create_queue() -> None:
    form = {
        "QueueName": "q",
        "Attribute.1.Name": "VisibilityTimeout",
        "Attribute.1.Value": "10",
        "Tag.1.Key": "team",
        "Tag.1.Value": "ops",
    }
    assert query_protocol.decode("CreateQueue", form) == {
        "QueueName": "q",
        "Attributes": {"VisibilityTimeout": "10"},
        "tags": {"team": "ops"},
    }
    listed = query_protocol.decode(
        "ReceiveMessage", {"AttributeName.1": "All", "MessageAttributeName.1": "a.*"}
    )
    assert listed == {"AttributeNames": ["All"], "MessageAttributeNames": ["a.*"]}
    assert query_protocol.decode("SendMessageBatch", {"Entries": ""}) == {"Entries": []}


@pytest.mark.parametrize(
    "form",
    [
        {"MaxNumberOfMessages": "ten"},
        {"MaxNumberOfMessages": " 5"},
        {"MaxNumberOfMessages": "1_0"},
        {"MaxNumberOfMessages": "\u0665"},
        {"AttributeName.\u0661": "All"},
        {"Attribute.0.Name": "a", "Attribute.0.Value": "b"},
        {"Attribute.101.Name": "a", "Attribute.101.Value": "b"},
        {"Attribute.x.Name": "a", "Attribute.x.Value": "b"},
        {"Attribute.1.Name": "a"},
        {"Attribute.1.Name": "a", "Attribute.1.Value": "b", "Attribute.2.Name": "a",
         "Attribute.2.Value": "c"},
        {"Attribute": "flat"},
        {"QueueUrl.x": "nested"},
        {"QueueUrl": "a", "QueueUrl.x": "b"},
        {"a..b": "c"},
        {"MessageAttribute.1.Name": "k", "MessageAttribute.1.Value.DataType": "Binary",
         "MessageAttribute.1.Value.BinaryValue": "not base64!"},
        {f"AttributeName.{i}": "x" for i in range(1, query_protocol.MAX_PARAMETERS + 2)},
    ],
)  # fmt: skip
def test_malformed_forms_are_refused(form: dict[str, str]) -> None:
    with pytest.raises(InvalidParameter):
        query_protocol.decode("ReceiveMessage", form)


def test_results_use_the_flattened_names_of_the_query_model() -> None:
    result = {
        "Messages": [
            {
                "MessageId": "m1",
                "Body": 'a<b & "c"\r',
                "Attributes": {"SentTimestamp": "1"},
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            }
        ]
    }
    root = ET.fromstring(query_protocol.encode("ReceiveMessage", result, "rid"))
    message = root.find("q:ReceiveMessageResult/q:Message", NS)
    assert message is not None
    assert message.findtext("q:Body", namespaces=NS) == 'a<b & "c"\r'
    assert message.findtext("q:Attribute/q:Name", namespaces=NS) == "SentTimestamp"
    assert message.findtext("q:MessageAttribute/q:Value/q:StringValue", namespaces=NS) == "v"
    assert root.findtext("q:ResponseMetadata/q:RequestId", namespaces=NS) == "rid"
    batch = ET.fromstring(
        query_protocol.encode(
            "DeleteMessageBatch",
            {"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "SenderFault": True}]},
            "rid",
        )
    )
    path = "q:DeleteMessageBatchResult/q:"
    assert batch.findtext(path + "DeleteMessageBatchResultEntry/q:Id", namespaces=NS) == "a"
    assert batch.findtext(path + "BatchResultErrorEntry/q:SenderFault", namespaces=NS) == "true"


def test_errors_carry_the_legacy_code_and_fault() -> None:
    error = SqsError(
        "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "Sender", 400, "gone <now>"
    )
    root = ET.fromstring(query_protocol.encode_error(error, "rid"))
    assert (
        root.findtext("q:Error/q:Code", namespaces=NS) == "AWS.SimpleQueueService.NonExistentQueue"
    )
    assert root.findtext("q:Error/q:Type", namespaces=NS) == "Sender"
    assert root.findtext("q:Error/q:Message", namespaces=NS) == "gone <now>"

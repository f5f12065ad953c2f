"""Malformed, oversized and hostile requests to the SQS endpoint get SQS's error shapes and
change nothing. Requests are signed with botocore's own signer, so only what they carry is bad."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.integration.conftest import Deployment
from tests.sqs_clients import scenario

pytestmark = pytest.mark.integration


def post(
    deployment: Deployment,
    body: bytes,
    headers: dict[str, str],
    *,
    path: str = "/",
    secret: str | None = None,
) -> requests.Response:
    request = AWSRequest(method="POST", url=deployment.endpoint + path, data=body, headers=headers)
    credentials = Credentials(deployment.key_id, secret or deployment.secret)
    SigV4Auth(credentials, "sqs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return requests.post(prepared.url, data=body, headers=dict(prepared.headers), timeout=30)


def json_call(deployment: Deployment, action: str, body: Any) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{action}"}
    return post(deployment, raw, headers)


def form_call(deployment: Deployment, form: str, path: str = "/") -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    return post(deployment, form.encode(), headers, path=path)


def json_error(response: requests.Response) -> tuple[int, str, str]:
    assert response.headers["x-amzn-RequestId"]
    shape = response.json()["__type"].removeprefix("com.amazonaws.sqs#")
    return response.status_code, shape, response.headers["x-amzn-query-error"]


def test_malformed_json_requests_are_refused_with_sqs_shapes(deployment: Deployment) -> None:
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    url = sqs.create_queue(QueueName="hostile")["QueueUrl"]
    big = "x" * (1024 * 1024 + 1)
    escaping = "http://h/000000000000/../../x"
    fifo_attribute = {"FifoQueue": "true"}
    cases: list[tuple[str, Any, str]] = [
        ("SendMessage", b"{not json", "InvalidParameterValue"),
        ("SendMessage", [1, 2], "InvalidParameterValue"),
        ("SendMessage", {"QueueUrl": url}, "MissingParameter"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": 5}, "InvalidParameterValue"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "x", "Colour": 1},
         "InvalidParameterValue"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": big}, "InvalidParameterValue"),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "x", "DelaySeconds": True},
         "InvalidParameterValue"),
        ("SendMessage", {"QueueUrl": escaping, "MessageBody": "x"}, "QueueDoesNotExist"),
        ("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 0}, "InvalidParameterValue"),
        ("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 21}, "InvalidParameterValue"),
        ("ReceiveMessage", {"QueueUrl": url, "AttributeNames": "All"}, "InvalidParameterValue"),
        ("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": "h" * 2000}, "ReceiptHandleIsInvalid"),
        ("CreateQueue", {"QueueName": "bad name"}, "InvalidParameterValue"),
        ("CreateQueue", {"QueueName": "plain", "Attributes": fifo_attribute},
         "InvalidParameterValue"),
        ("NoSuchAction", {}, "UnsupportedOperation"),
    ]  # fmt: skip
    for action, body, shape in cases:
        status, got, legacy = json_error(json_call(deployment, action, body))
        assert (got, status) == (shape, 400), (action, body if len(str(body)) < 200 else "...")
        assert legacy.endswith(";Sender")
    # Nothing of that reached the queue
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert "plain" not in str(sqs.list_queues().get("QueueUrls", []))


def test_malformed_query_requests_are_refused_in_xml(deployment: Deployment) -> None:
    for form, code in [
        ("Version=2012-11-05", "InvalidAction"),
        ("Action=Explode", "InvalidAction"),
        ("Action=ListQueues&Action=ListQueues", "InvalidParameterValue"),
        ("Action=ReceiveMessage&QueueUrl=q&MaxNumberOfMessages=ten", "InvalidParameterValue"),
        ("Action=GetQueueAttributes&QueueUrl=q&AttributeName.0=All", "InvalidParameterValue"),
        ("Action=ListQueues&%FF=1", "InvalidParameterValue"),
    ]:
        response = form_call(deployment, form)
        assert response.status_code == 400, (form, response.text)
        assert f"<Code>{code}</Code>" in response.text, (form, response.text)
        assert response.headers["Content-Type"].startswith("text/xml")
    # A query request to the queue's own path, as old SDKs send it
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    sqs.create_queue(QueueName="by-path")
    sent = form_call(deployment, "Action=SendMessage&MessageBody=hi", "/000000000000/by-path")
    assert (
        sent.status_code == 200
        and "<MD5OfMessageBody>49f68a5c8493ec2c0bf489821c21fc3b" in sent.text
    )
    missing = form_call(deployment, "Action=SendMessage&MessageBody=hi", "/123456789012/by-path")
    assert "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in missing.text


def test_unsigned_and_wrongly_signed_requests_are_refused(deployment: Deployment) -> None:
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}
    unsigned = requests.post(deployment.endpoint + "/", data=b"{}", headers=headers, timeout=30)
    assert json_error(unsigned)[:2] == (403, "MissingAuthenticationToken")
    wrong = post(deployment, b"{}", headers, secret="not the secret")
    assert json_error(wrong)[:2] == (403, "SignatureDoesNotMatch")
    # The body is covered by the signature: change it after signing and it no longer matches
    request = AWSRequest(method="POST", url=deployment.endpoint + "/", data=b"{}", headers=headers)
    SigV4Auth(Credentials(deployment.key_id, deployment.secret), "sqs", "us-east-1").add_auth(
        request
    )
    prepared = request.prepare()
    tampered = requests.post(
        prepared.url, data=b'{"QueueNamePrefix":"x"}', headers=dict(prepared.headers), timeout=30
    )
    assert json_error(tampered)[:2] == (403, "SignatureDoesNotMatch")

"""raftq against botocore's own SQS service model: every operation the model has, sent by boto3
with its required members and then with each optional member once (nested ones too: a batch
entry's `DelaySeconds`), and every answer's raw JSON checked against the operation's output shape
(no member outside it, required members present, each value of the type the model says). The
requests are built from the model (tests/integration/sqs_model_requests.py), so an operation or a
member nobody wrote a test for is still sent and its answer still checked.

An operation raftq does not serve must answer with an SQS-shaped error (a 4xx, a JSON `__type`
and `message`, a request id), never a 500: `NOT_SERVED` lists them (none today)."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.integration.conftest import Deployment
from tests.integration.sqs_model_requests import (
    Path,
    Requests,
    member_paths,
    variants,
    violations,
)
from tests.sqs_clients import scenario

pytestmark = pytest.mark.integration

MODEL = botocore.session.get_session().get_service_model("sqs")

# Operations of the model raftq does not serve (each must still answer an SQS-shaped error).
NOT_SERVED: frozenset[str] = frozenset()

# How SQS's error shapes name an action it does not know.
SQS_UNKNOWN_ACTION = {"com.amazonaws.sqs#InvalidAction", "com.amazonaws.sqs#UnsupportedOperation"}

# Divergences this test found, by operation and the optional member that shows them.
DIVERGENCES: dict[tuple[str, Path], str] = {
    ("ChangeMessageVisibilityBatch", ()): (
        "an entry without VisibilityTimeout fails with MissingParameter; the model (and SQS's "
        "API reference) make the entry's VisibilityTimeout optional"
    ),
}


# Output members no answer above holds, and why (the rest must each appear at least once).
_ALL_ENTRIES_SUCCEED = "every entry the model's requests hold is valid (scenario.py has failures)"
NEVER_ANSWERED: dict[str, str] = {
    **{
        f"{batch}.Failed[].{member}": _ALL_ENTRIES_SUCCEED
        for batch in ("SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch")
        for member in ("Id", "SenderFault", "Code", "Message")
    },
    "ListMessageMoveTasks.Results[].FailureReason": "only a failed task has one",
}

# Output members seen in the answers, by operation (filled by the parametrized test).
ANSWERED: dict[str, set[str]] = {}


def _cases() -> Iterator[Any]:
    for name in MODEL.operation_names:
        for extra in variants(MODEL.operation_model(name)):
            case_id = name + ("" if not extra else "+" + ".".join(extra))
            reason = DIVERGENCES.get((name, extra))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(name, extra, id=case_id, marks=marks)


@dataclass
class World:
    """The queues the requests use, made once per module through the same client."""

    sqs: Any
    queue: str
    fifo: str
    dead_letters: str
    counter: Iterator[int] = field(default_factory=itertools.count)

    def fresh_queue(self, **attributes: str) -> str:
        name = f"conf-{uuid.uuid4().hex[:10]}"
        url: str = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return url

    def arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn: str = attributes["Attributes"]["QueueArn"]
        return arn

    def receipt(self, url: str) -> str:
        """The receipt handle of a message just sent to `url` and received from it."""
        sent: dict[str, Any] = {"QueueUrl": url, "MessageBody": "to receive"}
        if url.endswith(".fifo"):
            sent["MessageGroupId"] = f"r{next(self.counter)}"
        self.sqs.send_message(**sent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = self.sqs.receive_message(QueueUrl=url, VisibilityTimeout=60, WaitTimeSeconds=1)
            if got.get("Messages"):
                handle: str = got["Messages"][0]["ReceiptHandle"]
                return handle
        raise AssertionError(f"nothing to receive from {url}")

    def queue_with_a_message(self, fifo: bool) -> str:
        """A fresh queue holding one message with a message attribute."""
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
        name = f"conf-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
        url: str = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        sent: dict[str, Any] = {"QueueUrl": url, "MessageBody": "to receive"}
        if fifo:
            sent["MessageGroupId"] = "g0"
        sent["MessageAttributes"] = {"color": {"DataType": "String", "StringValue": "red"}}
        self.sqs.send_message(**sent)
        return url

    def dead_letter_queue(self, messages: int) -> tuple[str, str]:
        """A fresh dead-letter queue holding `messages`, and its source queue."""
        dead = self.fresh_queue()
        source = self.fresh_queue(
            RedrivePolicy=json.dumps({"deadLetterTargetArn": self.arn(dead), "maxReceiveCount": 3})
        )
        for _ in range(messages):
            self.sqs.send_message(QueueUrl=dead, MessageBody="dead")
        return dead, source

    def dynamic(self, operation: str, member: str, request: dict[str, Any]) -> Any:
        if member == "QueueUrl":
            if operation in ("DeleteQueue", "PurgeQueue"):
                return self.fresh_queue()
            if operation == "ReceiveMessage":
                return self.queue_with_a_message(fifo=request["__fifo"])
            if operation == "ListQueueTags":
                url = self.fresh_queue()
                self.sqs.tag_queue(QueueUrl=url, Tags={"team": "conformance"})
                return url
            if operation == "ListDeadLetterSourceQueues":
                return self.dead_letters
            return self.fifo if request["__fifo"] else self.queue
        if member == "QueueName":
            if operation == "GetQueueUrl":
                return self.queue.rsplit("/", 1)[1]
            return f"conf-{uuid.uuid4().hex[:10]}"
        if member == "ReceiptHandle":
            return self.receipt(request["QueueUrl"])
        if member == "Label":
            label = f"l{next(self.counter)}"
            if operation == "RemovePermission":
                self.sqs.add_permission(
                    QueueUrl=request["QueueUrl"],
                    Label=label,
                    AWSAccountIds=["root"],
                    Actions=["SendMessage"],
                )
            return label
        if member == "NextToken":
            if operation == "ListDeadLetterSourceQueues":
                page = self.sqs.list_dead_letter_source_queues(
                    QueueUrl=self.dead_letters, MaxResults=1
                )
            else:
                page = self.sqs.list_queues(MaxResults=1)
            return page["NextToken"]
        if member == "MaxResults":
            # One source of two: the listing has a second page, so its NextToken is answered.
            return 1 if operation == "ListDeadLetterSourceQueues" else 5
        if member == "SourceArn":
            if operation == "ListMessageMoveTasks":
                dead, _ = self.dead_letter_queue(messages=5)
                self.sqs.start_message_move_task(
                    SourceArn=self.arn(dead),
                    DestinationArn=self.arn(self.queue),
                    MaxNumberOfMessagesPerSecond=1,
                )
                return self.arn(dead)
            return self.arn(self.dead_letter_queue(messages=1)[0])
        if member == "DestinationArn":
            return self.arn(self.queue)
        if member == "TaskHandle":
            # Slow enough (1 message a second, 5 messages) to be running when cancelled.
            dead, _ = self.dead_letter_queue(messages=5)
            started = self.sqs.start_message_move_task(
                SourceArn=self.arn(dead), MaxNumberOfMessagesPerSecond=1
            )
            return started["TaskHandle"]
        if member in ("MessageDeduplicationId", "ReceiveRequestAttemptId"):
            return f"d{next(self.counter)}"
        raise AssertionError(f"no value for {operation}.{member}")


@pytest.fixture(scope="module")
def world(deployment: Deployment) -> World:
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    made = World(sqs, "", "", "")
    made.queue = made.fresh_queue()
    made.fifo = sqs.create_queue(
        QueueName=f"conf-{uuid.uuid4().hex[:10]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    # A dead-letter queue with two sources, so its source listing has a second page.
    made.dead_letters, _ = made.dead_letter_queue(messages=0)
    made.fresh_queue(
        RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": made.arn(made.dead_letters), "maxReceiveCount": 3}
        )
    )
    return made


def _raw_answers(sqs: Any) -> list[tuple[int, bytes]]:
    """Every answer's status and raw body, as botocore received it (before its parser, which
    drops members the shape does not have)."""
    answers: list[tuple[int, bytes]] = []

    def keep(http_response: Any, **_: Any) -> None:
        answers.append((http_response.status_code, http_response.content))

    sqs.meta.events.register("after-call.sqs", keep)
    return answers


def _is_sqs_error(error: ClientError, status: int, body: bytes) -> list[str]:
    found = []
    if not 400 <= status < 500:
        found.append(f"status {status}")
    document = json.loads(body)
    if not str(document.get("__type", "")).startswith("com.amazonaws.sqs#"):
        found.append(f"__type {document.get('__type')!r}")
    if not document.get("message"):
        found.append("no message")
    if not error.response["ResponseMetadata"].get("RequestId"):
        found.append("no request id")
    return found


@pytest.mark.parametrize(("operation", "extra"), list(_cases()))
def test_the_answer_has_the_models_output_shape(world: World, operation: str, extra: Path) -> None:
    model = MODEL.operation_model(operation)
    request = Requests(world.dynamic).build(model, extra)
    client = world.sqs
    answers = _raw_answers(client)
    try:
        method = getattr(client, botocore.xform_name(operation))
        try:
            method(**request)
        except ClientError as error:
            status, body = answers[-1]
            assert not _is_sqs_error(error, status, body), (operation, body)
            assert operation in NOT_SERVED, f"{operation} {request} refused: {error}"
            return
        assert operation not in NOT_SERVED, f"{operation} is served: update NOT_SERVED"
        status, body = answers[-1]
        assert status == 200
        answer = json.loads(body) if body else {}
        assert violations(model.output_shape, answer) == [], (operation, answer)
        # Every entry of a request built from the model is valid: none may fail.
        assert not answer.get("Failed"), (operation, request, answer)
        seen = member_paths(model.output_shape, answer)
        ANSWERED.setdefault(operation, set()).update(seen)
    finally:
        client.meta.events.unregister("after-call.sqs")


def test_every_operation_of_the_model_was_sent() -> None:
    sent = {case.values[0] for case in _cases()}
    assert sent == set(MODEL.operation_names)
    assert len(sent) >= 23  # the model of botocore >= 1.31 has at least these


def test_every_output_member_was_answered_at_least_once() -> None:
    served = [n for n in MODEL.operation_names if n not in NOT_SERVED]
    if set(ANSWERED) != set(served):
        pytest.skip("runs after every operation's cases (run the whole module)")
    unseen = {
        f"{name}.{path}"
        for name in served
        for path in member_paths(MODEL.operation_model(name).output_shape)
        if path not in ANSWERED[name]
    }
    never_seen = sorted(unseen - set(NEVER_ANSWERED))
    seen_after_all = sorted(set(NEVER_ANSWERED) - unseen)
    assert not never_seen, "\n".join(never_seen)
    assert not seen_after_all, "\n".join(seen_after_all)


def test_an_operation_outside_the_model_answers_an_sqs_error(deployment: Deployment) -> None:
    """What a client built from a newer model than raftq's would see for an operation raftq has
    never heard of: a 400 with an SQS error shape and a request id."""
    body = b"{}"
    signed = AWSRequest(
        method="POST",
        url=deployment.endpoint + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.DescribeQueueFuture",
        },
    )
    credentials = Credentials(deployment.key_id, deployment.secret)
    SigV4Auth(credentials, "sqs", "us-east-1").add_auth(signed)
    answer = requests.post(signed.url, data=body, headers=dict(signed.headers), timeout=10)
    assert answer.status_code == 400, answer.text
    document = answer.json()
    assert document["__type"] in SQS_UNKNOWN_ACTION, document
    assert "DescribeQueueFuture" in document["message"]
    assert answer.headers.get("x-amzn-RequestId")


def test_boto3_is_the_current_json_one() -> None:
    assert boto3.client("sqs", region_name="us-east-1").meta.service_model.protocol == "json"

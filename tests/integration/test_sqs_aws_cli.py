"""The AWS CLI (`awscli` from PyPI, in its own virtual environment: scripts/_sqs_clients.sh)
against the SQS-compatible API: every action, with only `--endpoint-url` and credentials set."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

Aws = Callable[..., Any]


@pytest.fixture
def aws(deployment: Deployment) -> Aws:
    cli = os.environ.get("RAFTQ_AWS_CLI")
    if not cli:
        pytest.skip("RAFTQ_AWS_CLI is not set (scripts/test sets it)")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": deployment.key_id,
        "AWS_SECRET_ACCESS_KEY": deployment.secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }

    def run(*args: str, fails: bool = False) -> Any:
        done = subprocess.run(
            [cli, "sqs", *args, "--endpoint-url", deployment.endpoint, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if fails:
            assert done.returncode != 0, done.stdout
            return done.stderr
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    return run


def test_aws_cli_runs_every_action(aws: Aws) -> None:
    # Queues and tags
    dlq = aws("create-queue", "--queue-name", "cli-dlq")["QueueUrl"]
    dlq_arn = aws("get-queue-attributes", "--queue-url", dlq, "--attribute-names", "QueueArn")[
        "Attributes"
    ]["QueueArn"]
    url = aws("create-queue", "--queue-name", "cli", "--tags", "team=ops")["QueueUrl"]
    assert aws("get-queue-url", "--queue-name", "cli")["QueueUrl"] == url
    assert url in aws("list-queues", "--queue-name-prefix", "cli")["QueueUrls"]
    aws("tag-queue", "--queue-url", url, "--tags", "env=test")
    assert aws("list-queue-tags", "--queue-url", url)["Tags"] == {"team": "ops", "env": "test"}
    aws("untag-queue", "--queue-url", url, "--tag-keys", "team")
    assert aws("list-queue-tags", "--queue-url", url)["Tags"] == {"env": "test"}
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    aws(
        "set-queue-attributes",
        "--queue-url",
        url,
        "--attributes",
        json.dumps({"VisibilityTimeout": "0", "RedrivePolicy": policy}),
    )
    assert aws("list-dead-letter-source-queues", "--queue-url", dlq)["queueUrls"] == [url]
    aws(
        "add-permission",
        "--queue-url",
        url,
        "--label",
        "l1",
        "--aws-account-ids",
        "root",
        "--actions",
        "SendMessage",
    )
    got = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "Policy")
    assert json.loads(got["Attributes"]["Policy"])["Statement"][0]["Sid"] == "l1"
    aws("remove-permission", "--queue-url", url, "--label", "l1")
    # Messages
    sent = aws(
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "hello",
        "--message-attributes",
        json.dumps({"n": {"DataType": "Number", "StringValue": "7"}}),
    )
    assert sent["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"
    [message] = aws(
        "receive-message",
        "--queue-url",
        url,
        "--message-attribute-names",
        "All",
        "--attribute-names",
        "All",
        "--visibility-timeout",
        "30",
    )["Messages"]
    assert message["Body"] == "hello" and message["MessageAttributes"]["n"]["StringValue"] == "7"
    aws(
        "change-message-visibility",
        "--queue-url",
        url,
        "--receipt-handle",
        message["ReceiptHandle"],
        "--visibility-timeout",
        "0",
    )
    # maxReceiveCount 1: this receive moves it to the DLQ
    assert "Messages" not in aws("receive-message", "--queue-url", url)
    [dead] = aws("receive-message", "--queue-url", dlq)["Messages"]
    assert dead["Body"] == "hello"
    aws(
        "change-message-visibility-batch",
        "--queue-url",
        dlq,
        "--entries",
        json.dumps([{"Id": "v", "ReceiptHandle": dead["ReceiptHandle"], "VisibilityTimeout": 0}]),
    )
    handle = aws("start-message-move-task", "--source-arn", dlq_arn)["TaskHandle"]
    tasks = aws("list-message-move-tasks", "--source-arn", dlq_arn, "--max-results", "10")
    assert handle in [t["TaskHandle"] for t in tasks["Results"]]
    stderr = aws("cancel-message-move-task", "--task-handle", "no-such-task", fails=True)
    assert "ResourceNotFoundException" in stderr
    batch = aws(
        "send-message-batch",
        "--queue-url",
        dlq,
        "--entries",
        json.dumps([{"Id": "a", "MessageBody": "x"}, {"Id": "b", "MessageBody": "y"}]),
    )
    assert sorted(s["Id"] for s in batch["Successful"]) == ["a", "b"]
    received = aws("receive-message", "--queue-url", dlq, "--max-number-of-messages", "10")
    entries = [
        {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]}
        for i, m in enumerate(received["Messages"])
    ]
    deleted = aws("delete-message-batch", "--queue-url", dlq, "--entries", json.dumps(entries))
    assert len(deleted["Successful"]) == len(entries)
    aws("send-message", "--queue-url", dlq, "--message-body", "last")
    [last] = aws("receive-message", "--queue-url", dlq)["Messages"]
    aws("delete-message", "--queue-url", dlq, "--receipt-handle", last["ReceiptHandle"])
    aws("purge-queue", "--queue-url", url)
    # Errors: the legacy code is what the CLI prints
    stderr = aws("get-queue-url", "--queue-name", "cli-missing", fails=True)
    assert "AWS.SimpleQueueService.NonExistentQueue" in stderr
    for queue in (url, dlq):
        aws("delete-queue", "--queue-url", queue)

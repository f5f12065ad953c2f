"""boto3 against the SQS-compatible API with only the endpoint changed: every action raftq
serves, in both protocol eras. The current boto3 speaks AWS JSON 1.0; boto3 <= 1.34.89 speaks
the query protocol and runs from its own virtual environment (scripts/_sqs_clients.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import Deployment
from tests.sqs_clients import scenario

pytestmark = pytest.mark.integration
SCENARIO = Path(scenario.__file__)


def test_current_boto3_runs_every_action_over_json(deployment: Deployment) -> None:
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    assert sqs.meta.service_model.protocol == "json"
    scenario.run(deployment.endpoint, deployment.key_id, deployment.secret, "root", "json")


def test_query_era_boto3_runs_every_action_over_the_query_protocol(
    deployment: Deployment,
) -> None:
    python = os.environ.get("RAFTQ_QUERY_BOTO3_PYTHON")
    if not python:
        pytest.skip("RAFTQ_QUERY_BOTO3_PYTHON is not set (scripts/test sets it)")
    arguments = [deployment.endpoint, deployment.key_id, deployment.secret, "root", "query"]
    done = subprocess.run(
        [python, str(SCENARIO), *arguments],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "boto3 1.34.89 (query)" in done.stdout


def test_json_errors_carry_the_legacy_code_and_the_shape(deployment: Deployment) -> None:
    sqs = scenario.client(deployment.endpoint, deployment.key_id, deployment.secret)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as missing:
        sqs.get_queue_url(QueueName="no-such-queue")
    error = missing.value.response
    assert error["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as unknown:
        sqs.receive_message(QueueUrl="no-such-queue", MaxNumberOfMessages=11)
    assert unknown.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_the_sdk_environment_variables_are_enough(deployment: Deployment) -> None:
    # Given only what client.env exports (AWS_ENDPOINT_URL, AWS_* credentials, region)
    env = {k: v for k, v in deployment.env.items() if k.startswith("AWS_")}
    code = (
        "import boto3; s = boto3.client('sqs'); "
        "u = s.create_queue(QueueName='from-env')['QueueUrl']; print(u)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("/000000000000/from-env")
    boto3.client(
        "sqs",
        endpoint_url=deployment.endpoint,
        region_name="us-east-1",
        aws_access_key_id=deployment.key_id,
        aws_secret_access_key=deployment.secret,
    ).delete_queue(QueueUrl=done.stdout.strip())

"""Metrics through the real registries of a real `raftq up`: requests counted by API, action and
status over REST and SQS alike; per-queue gauges named by queue name with SQS's CloudWatch
split, exact on every replica; task counters and durations, counted alike by each replica; and
the Raft metrics of the metadata group and the backend cluster (docs/metrics.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from typing import Any

import aiohttp
import boto3
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from raftq.client.errors import RaftqApiError
from raftq.client.sdk import AsyncClient
from raftq.client.up import backend_addresses
from tests.integration.conftest import Deployment
from tests.integration.task_workers import task_ends

pytestmark = pytest.mark.integration

Samples = list[tuple[str, dict[str, str], float]]


async def scrape(url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200
        text = await answer.text()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels` (0 when there is none)."""
    found = [v for n, ls, v in samples if n == name and labels.items() <= ls.items()]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def backend_urls(deployment: Deployment) -> list[str]:
    layout = json.loads((deployment.data_dir / "layout.json").read_text())
    return [f"http://{address}/metrics" for address in backend_addresses(layout)]


async def every_replica(
    deployment: Deployment, holds: Callable[[Samples], bool], timeout_s: float = 15.0
) -> list[Samples]:
    """The metrics of each backend replica once `holds` is true of every one of them (followers
    apply what the leader committed a moment later)."""
    deadline_s = asyncio.get_running_loop().time() + timeout_s
    while True:
        scraped = [await scrape(url) for url in backend_urls(deployment)]
        if all(holds(samples) for samples in scraped):
            return scraped
        assert asyncio.get_running_loop().time() < deadline_s, "the replicas never agreed"
        await asyncio.sleep(0.2)


def sqs_client(deployment: Deployment) -> Any:
    env = deployment.env
    return boto3.client(
        "sqs",
        endpoint_url=env["AWS_ENDPOINT_URL_SQS"],
        region_name="us-east-1",
        aws_access_key_id=deployment.key_id,
        aws_secret_access_key=deployment.secret,
    )


async def test_rest_and_sqs_requests_are_counted_by_action_and_status(
    deployment: Deployment, client: AsyncClient
) -> None:
    # Given the frontend's counters now
    url = deployment.env["RAFTQ_FRONTEND_METRICS"]
    before = await scrape(url)
    # When requests arrive over REST and over SQS, some refused
    await client.create_queue("metered-both")
    await client.send("metered-both", "over REST")
    with pytest.raises(RaftqApiError, match="404 QueueDoesNotExist"):
        await client.send("metered-nowhere", "lost")

    def over_sqs() -> None:
        sqs = sqs_client(deployment)
        queue_url = sqs.get_queue_url(QueueName="metered-both")["QueueUrl"]
        for body in ("one", "two"):
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        with pytest.raises(ClientError):
            sqs.get_queue_url(QueueName="metered-nowhere")

    await asyncio.to_thread(over_sqs)
    unsigned = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AmazonSQS.ListQueues",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(deployment.endpoint + "/", data=b"{}", headers=unsigned) as refused,
    ):
        refused_status = refused.status
    after = await scrape(url)

    # Then each is counted once, by API, action and status
    def counted(**labels: str) -> float:
        name = "raftq_frontend_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    send_route = "POST /v1/queues/{name}/messages"
    assert counted(api="sqs", action="SendMessage", status="200") == 2
    assert counted(api="sqs", action="GetQueueUrl", status="200") == 1
    assert counted(api="sqs", action="GetQueueUrl", status="400") == 1
    assert counted(api="rest", action=send_route, status="201") == 1
    assert counted(api="rest", action=send_route, status="404") == 1
    # A request refused before its action was read is counted, under no action it named
    assert 400 <= refused_status < 500
    assert counted(api="sqs", action="unknown", status=str(refused_status)) == 1
    timed = "raftq_frontend_request_seconds_count"
    sends_timed = value(after, timed, api="sqs", action="SendMessage")
    assert sends_timed - value(before, timed, api="sqs", action="SendMessage") == 2


async def test_queue_gauges_are_named_by_queue_and_exact_on_every_replica(
    deployment: Deployment, client: AsyncClient
) -> None:
    # Given a queue with 3 messages, one of them delayed, and 2 received (in flight)
    await client.create_queue("gauged")
    for body in ("a", "b"):
        await client.send("gauged", body)
    await client.send("gauged", "later", delay_s=600)
    await client.send("gauged", "c")
    received = 0
    while received < 2:
        received += len(
            await client.receive("gauged", max_messages=2 - received, visibility_timeout_s=300)
        )

    # Then every replica reports the CloudWatch split, labelled with the queue's name
    def split(samples: Samples) -> dict[str, float]:
        return {
            state: value(samples, "raftq_queue_messages", queue="gauged", state=state)
            for state in ("visible", "not_visible", "delayed", "dead_letter_pending")
        }

    expected = {"visible": 1, "not_visible": 2, "delayed": 1, "dead_letter_pending": 0}
    replicas = await every_replica(deployment, lambda samples: split(samples) == expected)
    for samples in replicas:
        assert value(samples, "raftq_queue_messages", queue="gauged", state="visible") == 1
        assert not any(ls.get("queue", "").startswith("q-") for _, ls, _ in samples)
    # And the oldest message's age grows with time
    await every_replica(
        deployment,
        lambda s: value(s, "raftq_queue_oldest_message_age_seconds", queue="gauged") >= 1.0,
    )
    # And the metadata group describes the queue under the same name
    metadata = await scrape(f"http://{deployment.env['RAFTQ_METADATA'].split(',')[0]}/metrics")
    assert value(metadata, "raftq_queue_info", queue="gauged", cluster="c1") == 1


async def test_task_outcomes_are_counted_alike_by_each_replica(
    deployment: Deployment,
    client: AsyncClient,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    # Given two tasks that succeed and one that fails twice (no dead-letter queue)
    await client.create_queue("metered-tasks")
    adds = [await client.submit_task("metered-tasks", "add", {"a": 1, "b": n}) for n in (1, 2)]
    poison = await client.submit_task("metered-tasks", "poison", "x", max_attempts=2)
    # When a worker runs them
    start_worker("metered-tasks")
    for task in (*adds, poison):
        await task_ends(client, "metered-tasks", task.task_id)

    # Then each replica counted each transition once, by queue name and task type
    def counts(samples: Samples) -> tuple[float, ...]:
        def of(name: str, task_type: str, **labels: str) -> float:
            return value(samples, name, queue="metered-tasks", task_type=task_type, **labels)

        return (
            of("raftq_tasks_started_total", "add"),
            of("raftq_tasks_started_total", "poison"),
            of("raftq_tasks_retried_total", "poison"),
            of("raftq_tasks_finished_total", "add", outcome="succeeded"),
            of("raftq_tasks_finished_total", "poison", outcome="failed"),
            of("raftq_task_duration_seconds_count", "add", outcome="succeeded"),
        )

    await every_replica(deployment, lambda samples: counts(samples) == (2, 2, 1, 2, 1, 2))


async def test_raft_metrics_of_both_groups_name_their_group_role_and_timings(
    deployment: Deployment,
) -> None:
    metadata = [
        await scrape(f"http://{address}/metrics")
        for address in deployment.env["RAFTQ_METADATA"].split(",")
    ]
    backends = [await scrape(url) for url in backend_urls(deployment)]
    for group, members in (("metadata", metadata), ("c1", backends)):
        roles = [value(s, "raftq_raft_role", group=group, role="leader") for s in members]
        assert sorted(roles) == [0, 0, 1], group
        for samples in members:
            assert value(samples, "raftq_raft_term", group=group) >= 1
            assert value(samples, "raftq_raft_applied_index", group=group) >= 1
            assert value(samples, "raftq_raft_commit_lag_entries", group=group) >= 0
            assert value(samples, "raftq_raft_fsync_seconds_count", group=group) >= 1
            names = {name for name, _, _ in samples}
            assert "raftq_raft_snapshot_seconds_count" in names
            assert value(samples, "raftq_raft_fsync_seconds_bucket", group=group, le="+Inf") >= 1

"""One trace from producer to consumer, across real processes: a `raftq up` whose frontend and
backend nodes export OTLP (the standard variables) to a collector this test runs, and a client
and worker in this process whose spans go to OpenTelemetry's in-memory exporter.

What is followed (docs/tracing.md):
- a message: sent over REST with a `trace_context`, received and deleted by a consumer whose
  calls carry a `traceparent` header: the test's spans, the frontend's send / receive / delete
  spans and the leader's raft propose / commit / apply spans of each command, in one trace;
- a task: submitted with a `trace_context`, run by a worker: the frontend's submit span, the
  leader's spans, the worker's process span (child of the submitter's, linked to it) and the
  frontend's finish span under it, with the leader's, in one trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import Span

from raftq.client import operations
from raftq.client.sdk import AsyncClient
from raftq.common import tracing
from raftq.worker import Registry, Worker
from tests.integration.otlp_collector import CollectedSpan, Collector, running_collector
from tests.integration.task_workers import task_ends
from tests.integration.up_process import client_env, free_base_port, wait_ready
from tests.span_recorder import recording
from tests.sqs_clients import scenario

pytestmark = pytest.mark.integration

LEADER_SPANS = {"raft propose", "raft commit", "raft apply"}


@dataclass(frozen=True)
class TracedDeployment:
    env: dict[str, str]
    collector: Collector


@pytest.fixture(scope="module")
def traced_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedDeployment]:
    with running_collector() as collector:
        data_dir = tmp_path_factory.mktemp("traced") / "data"
        env = {
            **os.environ,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the collector at once
        }
        up = subprocess.Popen(
            [sys.executable, "-m", "raftq.client.cli", "up", "--data-dir", str(data_dir),
             "--base-port", str(free_base_port(14))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            wait_ready(up)
            yield TracedDeployment(client_env(data_dir), collector)
        finally:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()


@pytest.fixture
async def client(traced_up: TracedDeployment) -> AsyncIterator[AsyncClient]:
    env = traced_up.env
    async with AsyncClient(
        env["RAFTQ_ENDPOINT"], env["RAFTQ_ACCESS_KEY_ID"], env["RAFTQ_SECRET_ACCESS_KEY"]
    ) as made:
        yield made


def w3c(span: Span) -> dict[str, str]:
    traceparent, _ = tracing.carrier_of(span)
    assert traceparent is not None
    return {"traceparent": traceparent}


def hex_ids(span: Span) -> tuple[str, str]:
    context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def frontend(spans: list[CollectedSpan], name: str) -> CollectedSpan:
    found = [s for s in spans if s.service == "raftq-frontend" and s.name == name]
    assert len(found) == 1, (name, [(s.service, s.name) for s in spans])
    return found[0]


def leader_spans_under(spans: list[CollectedSpan], parent: CollectedSpan) -> set[str]:
    return {
        s.name for s in spans if s.service == "raftq-backend" and s.parent_span_id == parent.span_id
    }


async def test_one_message_from_send_to_delete_is_one_trace(
    traced_up: TracedDeployment, client: AsyncClient
) -> None:
    collector = traced_up.collector
    await client.create_queue("traced-messages")
    path = f"/v1/queues/{quote('traced-messages')}/messages"
    with recording() as recorded:
        tracer = recorded.provider.get_tracer("test")
        with tracer.start_as_current_span("order placed") as root:
            trace_id, _ = hex_ids(root)
            # Given a message sent (the SDK: the REST field) with the producer's trace context
            with tracer.start_as_current_span("publish") as publish:
                sent = await client.send("traced-messages", "hello", trace_context=w3c(publish))
            # When a consumer receives and deletes it, its calls carrying its span
            with tracer.start_as_current_span("consume") as consume:
                received = await client._call(
                    operations.receive("traced-messages", "a-1"),
                    "GET",
                    path,
                    query={"max": "1", "attempt_id": "a-1", "wait_s": "1"},
                    headers=w3c(consume),
                )
                [message] = received["messages"]
                handle = message["receipt_handle"]
                await client._call(
                    operations.delete("traced-messages", [handle]),
                    "DELETE",
                    f"{path}/{quote(handle, safe='')}",
                    headers=w3c(consume),
                )
    # Then the message carries the producer's context, as its traceparent attribute too
    assert message["message_id"] == sent["message_id"]
    assert message["trace_context"] == {**w3c(publish), "tracestate": None}
    assert message["attributes"]["traceparent"] == {
        "type": "String",
        "value": w3c(publish)["traceparent"],
    }

    def complete() -> bool:
        names = [(s.service, s.name) for s in collector.in_trace(trace_id)]
        return (
            names.count(("raftq-frontend", "send traced-messages")) == 1
            and names.count(("raftq-frontend", "delete traced-messages")) == 1
            and sum(1 for s in names if s == ("raftq-backend", "raft apply")) >= 3
        )

    await collector.until(complete, "the message's spans in one trace")
    spans = collector.in_trace(trace_id)
    # The frontend's spans are children of the test's spans, by the field and by the header
    send = frontend(spans, "send traced-messages")
    assert send.parent_span_id == hex_ids(publish)[1]
    assert send.attributes["messaging.system"] == "raftq"
    assert send.attributes["messaging.operation.type"] == "send"
    assert send.attributes["messaging.destination.name"] == "traced-messages"
    assert send.attributes["messaging.message.id"] == sent["message_id"]
    receive = frontend(spans, "receive traced-messages")
    assert receive.parent_span_id == hex_ids(consume)[1]
    assert receive.attributes["messaging.operation.type"] == "receive"
    assert (trace_id, hex_ids(publish)[1]) in receive.links  # linked to the producer
    delete = frontend(spans, "delete traced-messages")
    assert delete.parent_span_id == hex_ids(consume)[1]
    assert delete.attributes["messaging.operation.type"] == "settle"
    # And the leader traced each command under the frontend span that forwarded it
    assert leader_spans_under(spans, send) == LEADER_SPANS
    assert leader_spans_under(spans, receive) == LEADER_SPANS
    assert leader_spans_under(spans, delete) == LEADER_SPANS
    # The test's own spans (in memory) are the same trace
    assert {hex_ids(root)[0], hex_ids(publish)[0], hex_ids(consume)[0]} == {trace_id}
    assert {s.name for s in recorded.spans} == {"order placed", "publish", "consume"}


def _registry() -> Registry:
    tasks = Registry()

    @tasks.handler("double")
    async def double(payload: dict[str, int]) -> int:
        return payload["n"] * 2

    return tasks


async def test_one_task_from_submit_to_completion_is_one_trace(
    traced_up: TracedDeployment, client: AsyncClient
) -> None:
    collector = traced_up.collector
    await client.create_queue("traced-tasks")
    with recording() as recorded:
        tracer = recorded.provider.get_tracer("test")
        # Given a task submitted under the test's span
        with tracer.start_as_current_span("submit resize") as root:
            trace_id, root_id = hex_ids(root)
            submitted = await client.submit_task(
                "traced-tasks", "double", {"n": 21}, trace_context=w3c(root)
            )
        # When a worker in this process runs it (its spans go to the in-memory exporter)
        worker = Worker(client, _registry(), queue="traced-tasks", poll_wait_s=1, lease_s=10)
        running = asyncio.create_task(worker.run())
        try:
            task = await task_ends(client, "traced-tasks", submitted.task_id)
        finally:
            worker.request_stop()
            worker.request_stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(running, 15)
        assert (task.state, task.result) == ("succeeded", 42)
        process = recorded.one("process traced-tasks")

    # Then the worker's process span is a child of the submitter's span, and linked to it
    assert f"{process.context.trace_id:032x}" == trace_id
    assert process.parent is not None and f"{process.parent.span_id:016x}" == root_id
    assert [f"{link.context.span_id:016x}" for link in process.links] == [root_id]
    attributes: dict[str, Any] = dict(process.attributes or {})
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.message.id"] == submitted.task_id
    process_id = f"{process.context.span_id:016x}"

    def complete() -> bool:
        names = [(s.service, s.name) for s in collector.in_trace(trace_id)]
        return (
            ("raftq-frontend", "submit traced-tasks") in names
            and ("raftq-frontend", "finish traced-tasks") in names
            and sum(1 for s in names if s == ("raftq-backend", "raft apply")) >= 2
        )

    await collector.until(complete, "the task's spans in one trace")
    spans = collector.in_trace(trace_id)
    submit = frontend(spans, "submit traced-tasks")
    assert submit.parent_span_id == root_id
    assert submit.attributes["messaging.operation.type"] == "send"
    assert submit.attributes["messaging.message.id"] == submitted.task_id
    assert leader_spans_under(spans, submit) == LEADER_SPANS
    # And the worker's report joined the trace under its process span, to the leader
    finish = frontend(spans, "finish traced-tasks")
    assert finish.parent_span_id == process_id
    assert finish.attributes["messaging.operation.type"] == "settle"
    assert leader_spans_under(spans, finish) == LEADER_SPANS
    # The worker's lease was its own call: its span is another trace, linked to the submitter
    leases = [
        s
        for s in collector.spans
        if s.name == "lease traced-tasks" and (trace_id, root_id) in s.links
    ]
    assert len(leases) == 1


def test_boto3_trace_attributes_round_trip_and_count_among_the_ten(
    traced_up: TracedDeployment,
) -> None:
    """As OpenTelemetry's botocore instrumentation sends them: String attributes `traceparent`
    and `tracestate`, counted by SQS's 10-attribute rule; the frontend's send span joins the
    producer's trace."""
    env = traced_up.env
    sqs = scenario.client(
        env["RAFTQ_ENDPOINT"], env["RAFTQ_ACCESS_KEY_ID"], env["RAFTQ_SECRET_ACCESS_KEY"]
    )
    url = sqs.create_queue(QueueName="traced-sqs")["QueueUrl"]
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    carried = {
        "traceparent": {"DataType": "String", "StringValue": traceparent},
        "tracestate": {"DataType": "String", "StringValue": "vendor=abc"},
    }
    own = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(9)}
    # Given a send with 8 attributes of its own and the two of the trace context: 10
    ten = {**dict(list(own.items())[:8]), **carried}
    sent = sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes=ten)
    # Then they come back as sent
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1)[
        "Messages"
    ]
    assert message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"] == ten
    # And an 11th attribute is refused, the trace context counted
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes={**own, **carried})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "11" in refused.value.response["Error"]["Message"]

    collector = traced_up.collector
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    asyncio.run(
        collector.until(
            lambda: any(s.name == "send traced-sqs" for s in collector.in_trace(trace_id)),
            "the SQS send span in the producer's trace",
        )
    )
    send = frontend(collector.in_trace(trace_id), "send traced-sqs")
    assert send.parent_span_id == "b7ad6b7169203331"
    assert send.attributes["messaging.system"] == "raftq"
    assert send.attributes["messaging.message.id"] == sent["MessageId"]
    assert leader_spans_under(collector.in_trace(trace_id), send) == LEADER_SPANS

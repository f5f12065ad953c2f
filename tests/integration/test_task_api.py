"""The task API (REST and SDK) through a real `raftq up`: a task's life from submission through
lease, heartbeat and finish to its status and result; duplicates, cancellation, 404s, rate
limits; and bad input refused with a 400 naming the field and the queue, storing nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest

from raftq.client.errors import NotFound
from raftq.client.sdk import AsyncClient
from raftq.client.task_models import TaskError, TaskFinish, TaskRequest
from tests.integration.conftest import Deployment
from tests.integration.test_frontend import call

pytestmark = pytest.mark.integration

ZERO_COUNTS = {"visible": 0, "in_flight": 0, "delayed": 0, "dead_letter_pending": 0}


def _client(deployment: Deployment) -> AsyncClient:
    return AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret)


async def test_a_task_is_submitted_leased_heartbeated_finished_and_read(
    deployment: Deployment,
) -> None:
    async with _client(deployment) as client:
        created = await client.create_queue("task-life", status_retention_s=86_400)
        assert created["attributes"]["status_retention_s"] == 86_400  # a day of statuses
        # Given a submitted task
        submitted = await client.submit_task(
            "task-life", "email.send", {"to": "ann"}, priority=3, max_attempts=2, timeout_s=30
        )
        assert not submitted.duplicate
        queued = await client.get_task("task-life", submitted.task_id)
        assert (queued.state, queued.type, queued.priority) == ("queued", "email.send", 3)
        assert (queued.max_attempts, queued.timeout_s, queued.attempt) == (2, 30.0, 0)
        page = await client.list_tasks("task-life", "queued")
        assert [task.task_id for task in page.tasks] == [submitted.task_id]
        # When a worker leases it, extends the lease and reports success
        before_s = time.time()
        [leased] = await client.lease_tasks("task-life", "worker-1", lease_s=30)
        assert (leased.task_id, leased.type, leased.payload) == (
            submitted.task_id,
            "email.send",
            {"to": "ann"},
        )
        assert (leased.attempt, leased.max_attempts, leased.timeout_s) == (1, 2, 30.0)
        assert before_s + 29 <= leased.lease_deadline <= time.time() + 31
        running = await client.get_task("task-life", submitted.task_id)
        assert (running.state, running.worker_id) == ("running", "worker-1")
        beat = await client.heartbeat_tasks("task-life", [(leased.lease, 60)])
        assert beat.succeeded == [leased.lease] and not beat.failed
        done = await client.finish_tasks(
            "task-life", [TaskFinish(leased.lease, "succeeded", result={"sent": True})]
        )
        assert done.succeeded == [leased.lease] and not done.failed
        # Then its status holds the result, opened
        finished = await client.get_task("task-life", submitted.task_id)
        assert (finished.state, finished.result, finished.attempt) == (
            "succeeded",
            {"sent": True},
            1,
        )
        assert finished.finished_at is not None and finished.duration_s is not None
        succeeded = await client.list_tasks("task-life", "succeeded")
        assert [task.task_id for task in succeeded.tasks] == [submitted.task_id]
        # And a repeated report on the spent lease (a retry) changes nothing
        await client.finish_tasks("task-life", [TaskFinish(leased.lease, "failed")])
        again = await client.get_task("task-life", submitted.task_id)
        assert (again.state, again.result) == ("succeeded", {"sent": True})


async def test_a_worker_whose_lease_was_taken_over_cannot_finish_the_task(
    deployment: Deployment,
) -> None:
    async with _client(deployment) as client:
        await client.create_queue("task-takeover")
        submitted = await client.submit_task("task-takeover", "a", max_attempts=5)
        [first] = await client.lease_tasks("task-takeover", "worker-a", lease_s=60)
        # Given the first lease given back (as if it had run out) and the task leased again
        released = await client.heartbeat_tasks("task-takeover", [(first.lease, 0)])
        assert released.succeeded == [first.lease]
        [second] = await client.lease_tasks("task-takeover", "worker-b", lease_s=60)
        assert second.task_id == submitted.task_id and second.lease != first.lease
        assert second.attempt == 2
        # When the first worker reports success on its old lease
        stale = await client.finish_tasks(
            "task-takeover", [TaskFinish(first.lease, "succeeded", 1)]
        )
        assert stale.failed[first.lease][0] == "ReceiptHandleIsInvalid" and not stale.succeeded
        # Then the task is still the second worker's, and its report counts
        task = await client.get_task("task-takeover", submitted.task_id)
        assert (task.state, task.worker_id, task.result) == ("running", "worker-b", None)
        beat = await client.heartbeat_tasks("task-takeover", [(first.lease, 30)])
        assert list(beat.failed) == [first.lease] and "q-" not in beat.failed[first.lease][1]
        await client.finish_tasks("task-takeover", [TaskFinish(second.lease, "succeeded", 2)])
        finished = await client.get_task("task-takeover", submitted.task_id)
        assert (finished.state, finished.result) == ("succeeded", 2)


async def test_a_failed_attempt_keeps_its_error_and_the_last_attempt_fails_the_task(
    deployment: Deployment,
) -> None:
    async with _client(deployment) as client:
        await client.create_queue("task-fail")
        submitted = await client.submit_task("task-fail", "resize", [1, 2], max_attempts=1)
        [leased] = await client.lease_tasks("task-fail", "worker-2")
        error = TaskError("ValueError", "no such image", "Traceback ...\nValueError: no")
        outcome = await client.finish_tasks(
            "task-fail", [TaskFinish(leased.lease, "retry", error=error)]
        )
        assert outcome.succeeded == [leased.lease]
        task = await client.get_task("task-fail", submitted.task_id)
        assert task.state in ("failed", "dead") and task.last_error == error
        assert task.result is None


async def test_a_repeated_idempotency_key_returns_the_first_task(deployment: Deployment) -> None:
    async with _client(deployment) as client:
        await client.create_queue("task-dup")
        first = await client.submit_task("task-dup", "a", 1, idempotency_key="order-7")
        second = await client.submit_task("task-dup", "a", 1, idempotency_key="order-7")
        assert second.task_id == first.task_id and second.duplicate and not first.duplicate
        batch = await client.submit_tasks(
            "task-dup", [TaskRequest("a", idempotency_key="order-7"), TaskRequest("b", {"x": 1})]
        )
        assert batch[0].task_id == first.task_id and batch[0].duplicate
        assert not batch[1].duplicate and batch[1].task_id != first.task_id
        page = await client.list_tasks("task-dup", "queued")
        assert sorted(t.task_id for t in page.tasks) == sorted([first.task_id, batch[1].task_id])


async def test_an_unknown_task_is_not_found(deployment: Deployment) -> None:
    async with _client(deployment) as client, aiohttp.ClientSession() as session:
        await client.create_queue("task-404")
        with pytest.raises(NotFound) as missing:
            await client.get_task("task-404", "no-such-task")
        assert missing.value.code == "TaskNotFound"
        with pytest.raises(NotFound):
            await client.cancel_task("task-404", "no-such-task")
        # A plain message is not a task either
        sent = await client.send("task-404", "plain")
        status, body, _ = await call(
            session, deployment, "GET", f"/v1/queues/task-404/tasks/{sent['message_id']}"
        )
        assert status == 404 and body["code"] == "TaskNotFound"
        assert "q-" not in body["message"]


async def test_a_scheduled_task_is_cancelled_and_never_leased(deployment: Deployment) -> None:
    async with _client(deployment) as client:
        await client.create_queue("task-cancel")
        later = await client.submit_task("task-cancel", "a", delay_s=3_600)  # beyond 15 min
        soon = await client.submit_task("task-cancel", "a", delay_s=600)
        for task_id in (later.task_id, soon.task_id):
            assert (await client.get_task("task-cancel", task_id)).state == "scheduled"
        scheduled = await client.get_task("task-cancel", later.task_id)
        assert scheduled.run_at is not None and scheduled.run_at > time.time() + 3_500
        await client.cancel_task("task-cancel", later.task_id)
        assert (await client.get_task("task-cancel", later.task_id)).state == "cancelled"
        assert await client.lease_tasks("task-cancel", "worker-3") == []


async def test_task_limits_are_set_and_read(deployment: Deployment) -> None:
    async with _client(deployment) as client:
        await client.create_queue("task-limits")
        limits = await client.set_task_limits(
            "task-limits", "email.send", starts_per_s=2.5, max_running=4
        )
        assert (limits.type, limits.starts_per_s, limits.max_running) == ("email.send", 2.5, 4)
        [read] = await client.get_task_limits("task-limits")
        assert read == limits


async def _refused(
    session: aiohttp.ClientSession,
    deployment: Deployment,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    query: str = "",
    status: int = 400,
) -> dict[str, Any]:
    got, answer, _ = await call(session, deployment, method, path, body, raw=raw, query=query)
    assert got == status, (path, body, raw, answer)
    assert "task-bad" in answer["message"] and "q-" not in answer["message"], answer
    assert isinstance(answer, dict)
    return answer


async def test_bad_task_input_is_refused_naming_the_field_and_stores_nothing(
    deployment: Deployment,
) -> None:
    tasks = "/v1/queues/task-bad/tasks"
    async with aiohttp.ClientSession() as session:
        status, _, _ = await call(
            session,
            deployment,
            "POST",
            "/v1/queues",
            {"name": "task-bad", "attributes": {"max_message_bytes": 1024, "retention_s": 3600}},
        )
        assert status == 201
        submissions: list[tuple[dict[str, Any], str]] = [
            ({"type": "a", "colour": "red"}, "colour"),
            ({"type": "9lives"}, "type"),
            ({"type": "a", "delay_s": -1}, "delay_s"),
            ({"type": "a", "delay_s": 5, "run_at_ms": 1}, "run_at_ms"),
            ({"type": "a", "run_at_ms": int(time.time() * 1000) + 7_200_000}, "run_at_ms"),
            ({"type": "a", "delay_s": 7_200}, "delay_s"),
            ({"type": "a", "max_attempts": 0}, "max_attempts"),
            ({"type": "a", "max_attempts": 1_000}, "max_attempts"),
        ]
        for body, field in submissions:
            answer = await _refused(session, deployment, "POST", tasks, body=body)
            assert answer["field"] == field, (body, answer)
        for raw, field in ((b"{not json", "body"), (b'{"type": "a", "payload": NaN}', "payload")):
            assert (await _refused(session, deployment, "POST", tasks, raw=raw))["field"] == field
        too_big = {"type": "a", "payload": "x" * 2_000}
        answer = await _refused(session, deployment, "POST", tasks, body=too_big, status=413)
        assert answer["field"] == "payload"
        batch = {
            "tasks": [{"id": "1", "type": "ok"}, {"id": "2", "type": "ok", "payload": "x" * 2_000}]
        }
        answer = await _refused(
            session, deployment, "POST", tasks + ":batch", body=batch, status=413
        )
        assert answer["field"] == "tasks.1.payload"
        twice = {"tasks": [{"id": "1", "type": "ok"}, {"id": "1", "type": "ok"}]}
        answer = await _refused(session, deployment, "POST", tasks + ":batch", body=twice)
        assert answer["field"] == "tasks"
        for query, field in (("state=queued&cursor=%21%21", "cursor"), ("state=pending", "state")):
            answer = await _refused(session, deployment, "GET", tasks, query=query)
            assert answer["field"] == field
        lease = {"worker_id": "w", "max": 1_000}
        assert (await _refused(session, deployment, "POST", tasks + ":lease", body=lease))[
            "field"
        ] == "max"
        answer = await _refused(
            session,
            deployment,
            "PUT",
            "/v1/queues/task-bad/task-limits/9x",
            body={"max_running": 1},
        )
        assert answer["field"] == "type"
        # Once the queue's workers declared their types, an unknown type is refused
        status, declared, _ = await call(
            session, deployment, "POST", "/v1/queues/task-bad/task-types", {"add": ["known"]}
        )
        assert status == 200 and declared["types"] == ["known"]
        answer = await _refused(session, deployment, "POST", tasks, body={"type": "unknown"})
        assert (answer["code"], answer["field"]) == ("UndeclaredTaskType", "type")
        assert "task-bad" in answer["message"] and "unknown" in answer["message"]
        # Nothing was stored
        status, queue, _ = await call(session, deployment, "GET", "/v1/queues/task-bad")
        assert status == 200 and queue["counts"] == ZERO_COUNTS
        status, page, _ = await call(session, deployment, "GET", tasks, query="state=queued")
        assert status == 200 and page["tasks"] == []


async def test_a_worker_error_never_names_the_internal_queue_id(deployment: Deployment) -> None:
    async with _client(deployment) as client:
        await client.create_queue("task-ids")
        beat = await client.heartbeat_tasks("task-ids", [("not-a-real-lease", 30)])
        done = await client.finish_tasks("task-ids", [TaskFinish("not-a-real-lease", "succeeded")])
        for outcome in (beat, done):
            [(code, message)] = outcome.failed.values()
            assert code and "q-" not in message


async def test_the_openapi_document_lists_the_task_routes(deployment: Deployment) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(deployment.endpoint + "/openapi.json") as answer,
    ):
        document = json.loads(await answer.text())
    tasks = "/v1/queues/{name}/tasks"
    assert {
        tasks,
        tasks + ":batch",
        tasks + ":lease",
        tasks + ":heartbeat",
        tasks + ":finish",
        tasks + "/{task_id}",
        tasks + "/{task_id}:cancel",
        "/v1/queues/{name}/task-limits",
        "/v1/queues/{name}/task-limits/{type}",
    } <= set(document["paths"])

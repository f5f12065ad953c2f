"""`raftq worker` as a real process against a real `raftq up`: results, a killed worker's task
coming back, a poison task, a graceful stop, heartbeats on a task longer than its lease."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from raftq.client.sdk import AsyncClient
from tests.integration.task_workers import task_ends, until

pytestmark = pytest.mark.integration


def _journal(path: Path) -> list[tuple[str, str, int]]:
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(event, task_id, int(attempt)) for event, task_id, attempt, _ in lines]


async def test_a_task_runs_and_its_result_is_readable(
    client: AsyncClient, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    # Given a queue with a task and a worker
    await client.create_queue("work-result")
    submitted = await client.submit_task("work-result", "add", {"a": 2, "b": 3})
    start_worker("work-result", "--worker-id", "w-result")
    # When it runs, then its result and its worker are recorded
    task = await task_ends(client, "work-result", submitted.task_id)
    assert (task.state, task.result, task.attempt) == ("succeeded", 5, 1)
    assert task.worker_id == "w-result"


async def test_a_killed_workers_task_runs_again_after_its_lease(
    client: AsyncClient, start_worker: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    await client.create_queue("work-kill")
    payload = {"seconds": 2, "journal": str(journal)}
    submitted = await client.submit_task("work-kill", "slow", payload, max_attempts=3)
    first = start_worker("work-kill", "--lease-s", "3")
    await until(lambda: len(_journal(journal)) == 1)
    # When the worker is killed mid-task
    first.kill()
    first.wait()
    start_worker("work-kill", "--lease-s", "3")
    # Then the task runs again once its lease ends, as attempt 2, and completes
    task = await task_ends(client, "work-kill", submitted.task_id)
    assert (task.state, task.attempt) == ("succeeded", 2)
    assert _journal(journal) == [
        ("start", submitted.task_id, 1),
        ("start", submitted.task_id, 2),
        ("end", submitted.task_id, 2),
    ]


async def test_a_poison_task_ends_dead_after_max_attempts_with_its_error(
    client: AsyncClient, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    await client.create_queue("work-poison")
    submitted = await client.submit_task("work-poison", "poison", "pill", max_attempts=3)
    start_worker("work-poison")
    task = await task_ends(client, "work-poison", submitted.task_id)
    assert task.state in ("dead", "failed") and task.attempt == 3
    assert task.last_error is not None
    assert (task.last_error.type, task.last_error.message) == ("RuntimeError", "poisoned by 'pill'")
    assert task.last_error.traceback and "RuntimeError" in task.last_error.traceback


async def test_sigterm_with_tasks_in_flight_loses_none_and_completes_none_twice(
    client: AsyncClient, start_worker: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    await client.create_queue("work-term")
    payload = {"seconds": 1.5, "journal": str(journal)}
    ids = [(await client.submit_task("work-term", "slow", payload)).task_id for _ in range(6)]
    options = ("--concurrency", "3", "--min-concurrency", "3", "--lease-s", "10")
    first = start_worker("work-term", *options)
    await until(lambda: len(_journal(journal)) >= 3)
    # When it is asked to stop with three tasks running
    first.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.wait, 15) == 0
    # Then the running ones finished, and a second worker does the rest
    start_worker("work-term", *options)
    tasks = [await task_ends(client, "work-term", task_id) for task_id in ids]
    assert [task.state for task in tasks] == ["succeeded"] * 6
    ends = Counter(task_id for event, task_id, _ in _journal(journal) if event == "end")
    assert ends == dict.fromkeys(ids, 1)


async def test_a_task_longer_than_its_lease_runs_once_thanks_to_heartbeats(
    client: AsyncClient, start_worker: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    await client.create_queue("work-long")
    payload = {"seconds": 5, "journal": str(journal)}
    submitted = await client.submit_task("work-long", "slow", payload)
    start_worker("work-long", "--lease-s", "2")  # a heartbeat every 0.67 s
    start_worker("work-long", "--lease-s", "2")  # would take it over if the lease ended
    task = await task_ends(client, "work-long", submitted.task_id)
    assert (task.state, task.attempt) == ("succeeded", 1)
    assert [event for event, _, _ in _journal(journal)] == ["start", "end"]

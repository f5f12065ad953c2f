"""Task limits and endings with real `raftq worker` processes against a real `raftq up`: a
type's rate and running cap hold for three workers together, a poison task ends in the
dead-letter queue with its error, a task over its timeout is retried and then fails."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from raftq.client.sdk import AsyncClient
from raftq.client.task_models import Task, TaskRequest
from tests.integration.task_workers import task_ends, until

pytestmark = pytest.mark.integration

StartWorker = Callable[..., subprocess.Popen[bytes]]
# Three workers of four slots each: twelve tasks could start at once without the limits.
THREE_WORKERS = ("w-1", "w-2", "w-3")
SLOTS = ("--concurrency", "4", "--min-concurrency", "4")


def _runs(journal: Path) -> list[tuple[str, int, str, float, float]]:
    """The "timed" handler's lines: (task id, attempt, worker id, start s, end s)."""
    if not journal.exists():
        return []
    lines = [line.split() for line in journal.read_text().splitlines()]
    return [
        (task, int(attempt), worker, float(a), float(b)) for task, attempt, worker, a, b in lines
    ]


async def _submit_timed(
    client: AsyncClient, queue: str, count: int, seconds: float, journal: Path
) -> list[str]:
    payload = {"seconds": seconds, "journal": str(journal)}
    ids: list[str] = []
    for first in range(0, count, 10):
        batch = [TaskRequest("timed", payload) for _ in range(first, min(count, first + 10))]
        ids += [submitted.task_id for submitted in await client.submit_tasks(queue, batch)]
    return ids


def _over_the_bucket(starts_ms: list[int], rate: int, slack_ms: int) -> list[tuple[int, int]]:
    """The windows [starts[i], starts[j]] holding more starts than the gate allows.

    The bucket (task_gate.py) holds at most one second of starts (`rate`), starts full, and
    earns `rate` starts a second: so a window of `span` ms can hold at most
    rate + rate * span / 1000 starts, whatever the window (a 1 s window: 2 * rate; the whole
    run of n starts lasts at least (n - rate) / rate s). `slack_ms` widens each window by the
    uncertainty of when the gate admitted each start."""
    ordered = sorted(starts_ms)
    return [
        (ordered[i], ordered[j])
        for i in range(len(ordered))
        for j in range(i, len(ordered))
        if (j - i + 1) * 1000 > rate * (1000 + ordered[j] - ordered[i] + slack_ms)
    ]


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    # At equal times an end is counted before a start: intervals only touching never overlap.
    events = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


async def test_a_types_rate_holds_for_three_workers_together(
    client: AsyncClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    rate, count = 5, 40
    journal = tmp_path / "journal"
    # Given a type limited to 5 starts a second, 40 tasks of it, and three workers
    await client.create_queue("limit-rate")
    await client.set_task_limits("limit-rate", "timed", starts_per_s=rate)
    ids = await _submit_timed(client, "limit-rate", count, 0.1, journal)
    for worker_id in THREE_WORKERS:
        start_worker("limit-rate", "--worker-id", worker_id, *SLOTS)
    # When all have run (at 5/s: some 7 s; a limiter per worker would take a third of that)
    await until(lambda: len(_runs(journal)) >= count, timeout_s=30)
    tasks: list[Task] = [await client.get_task("limit-rate", task_id) for task_id in ids]
    runs = _runs(journal)
    # Then each ran once and succeeded, and every worker ran some
    assert [task.state for task in tasks] == ["succeeded"] * count
    assert sorted(task for task, _, _, _, _ in runs) == sorted(ids)
    assert {attempt for _, attempt, _, _, _ in runs} == {1}
    assert {worker for _, _, worker, _, _ in runs} == set(THREE_WORKERS)
    # And the starts the gate admitted (state time) never beat the one bucket of all workers
    admitted_ms = {task.task_id: round(task.started_at * 1000) for task in tasks if task.started_at}
    assert len(admitted_ms) == count
    assert _over_the_bucket(list(admitted_ms.values()), rate, 0) == []
    # Nor did the handlers' own start times, give or take how late after its admission each
    # handler began (the spread of those delays)
    delays_ms = [round(start * 1000) - admitted_ms[task] for task, _, _, start, _ in runs]
    spread_ms = max(delays_ms) - min(delays_ms)
    handler_starts_ms = [round(start * 1000) for _, _, _, start, _ in runs]
    assert _over_the_bucket(handler_starts_ms, rate, spread_ms) == [], spread_ms


async def test_a_types_running_cap_holds_for_three_workers_together(
    client: AsyncClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    count = 12
    journal = tmp_path / "journal"
    # Given a type with at most 2 running, 12 tasks of it, and three workers of four slots
    await client.create_queue("limit-running")
    await client.set_task_limits("limit-running", "timed", max_running=2)
    ids = await _submit_timed(client, "limit-running", count, 0.3, journal)
    workers = [
        start_worker("limit-running", "--worker-id", worker_id, *SLOTS)
        for worker_id in THREE_WORKERS
    ]
    await until(lambda: len(_runs(journal)) >= count, timeout_s=30)
    # Then all ran, never more than two handlers at once across the workers (a handler runs
    # inside its task's lease, so its interval is within the time the backend counts it).
    # All three workers had free slots and asked for tasks throughout: a cap per worker would
    # have let each run two.
    runs = _runs(journal)
    assert sorted(task for task, _, _, _, _ in runs) == sorted(ids)
    assert _most_at_once([(start, end) for _, _, _, start, end in runs]) == 2
    assert [worker.poll() for worker in workers] == [None] * 3
    for task_id in ids:
        assert (await task_ends(client, "limit-running", task_id)).state == "succeeded"


async def test_a_poison_task_ends_in_the_dead_letter_queue_with_its_error(
    client: AsyncClient, start_worker: StartWorker
) -> None:
    # Given a queue whose dead letters go to "tasks-dlq" (after more receives than the task's
    # attempts: the task's max_attempts is what counts), and a task that always raises
    await client.create_queue("tasks-dlq")
    await client.create_queue(
        "poison-source", dead_letter={"queue": "tasks-dlq", "max_receive_count": 10}
    )
    submitted = await client.submit_task("poison-source", "poison", "pill", max_attempts=3)
    start_worker("poison-source")
    # When its attempts are used up, then it is dead with the last attempt's error
    task = await task_ends(client, "poison-source", submitted.task_id)
    assert (task.state, task.attempt, task.max_attempts) == ("dead", 3, 3)
    assert task.last_error is not None
    assert (task.last_error.type, task.last_error.message) == ("RuntimeError", "poisoned by 'pill'")
    traceback = task.last_error.traceback or ""
    assert traceback.startswith("Traceback") and "RuntimeError: poisoned by 'pill'" in traceback
    assert "worker_tasks.py" in traceback  # the handler's own frame
    # And the dead-letter queue holds it: the same id, its body the task's envelope
    [dead] = await client.receive("tasks-dlq", wait_s=5)
    assert dead.message_id == submitted.task_id
    envelope = json.loads(dead.body or "")
    assert (envelope["type"], envelope["payload"], envelope["max_attempts"]) == (
        "poison",
        "pill",
        3,
    )
    assert await client.lease_tasks("poison-source", "w-after") == []


async def test_a_task_over_its_timeout_is_retried_and_then_fails(
    client: AsyncClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    # Given a task of 10 s that may run 1 s, twice
    await client.create_queue("over-time")
    payload = {"seconds": 10, "journal": str(journal)}
    submitted = await client.submit_task("over-time", "slow", payload, max_attempts=2, timeout_s=1)
    start_worker("over-time")
    # When it runs, then each attempt is cut at 1 s and the last one fails the task
    task = await task_ends(client, "over-time", submitted.task_id)
    assert (task.state, task.attempt) == ("failed", 2)
    assert task.last_error is not None
    assert task.last_error.type == "raftq.common.errors.TaskTimedOut"
    assert "longer than its 1 s" in task.last_error.message
    # (duration_s is kept for succeeded tasks only; the last attempt's span is read here)
    assert task.started_at is not None and task.finished_at is not None
    assert 1 <= task.finished_at - task.started_at < 5
    lines = journal.read_text().split("\n")
    assert [line.split()[:3] for line in lines if line] == [
        ["start", submitted.task_id, "1"],
        ["start", submitted.task_id, "2"],
    ]  # no "end": both attempts were stopped

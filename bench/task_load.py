"""Bursts of concurrent task submissions against a running raftq, and what became of them.

  python -m bench.task_load --queue jobs --bursts 5 --burst-size 200 --pause-s 1

The endpoint and access key come from the environment (`RAFTQ_ENDPOINT`, `RAFTQ_ACCESS_KEY_ID`,
`RAFTQ_SECRET_ACCESS_KEY`, as `raftq up` writes them to client.env) or from the flags. The queue
is created if it does not exist. Something must run the tasks: by default they are of type
`taskbench.record`, which `raftq worker bench.tasks_raftq_app:tasks --queue jobs` runs (a no-op
that records its execution); `--type` names another registered type.

Each burst submits `--burst-size` tasks at once (one `submit_task` each, all concurrent), then
waits `--pause-s`. After the last burst it polls `list_tasks` until no task is queued,
scheduled, running or retrying (at most `--wait-s`), reads every accepted task with `get_task`,
and prints: accepted, rejected, completed, retried (attempt > 1), failed, dead, still pending,
and the latency percentiles submit->start and submit->completed (the client's submit time
against the service's started_at / finished_at: one clock only when both run on one machine).
Every loop is bounded (bursts, tasks, `--wait-s`); exit code 0 if every accepted task
completed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from bench.tasks_common import TASK_TYPE, summary_ms
from raftq.client.errors import RaftqApiError
from raftq.client.sdk import AsyncClient
from raftq.client.task_models import Task, TaskStateName

STATES: tuple[TaskStateName, ...] = (
    "queued", "scheduled", "running", "retrying",
    "succeeded", "failed", "dead", "cancelled", "expired",
)  # fmt: skip
PENDING: tuple[TaskStateName, ...] = ("queued", "scheduled", "running", "retrying")
PAGE = 100  # the most list_tasks returns at once
MAX_PAGES = 10_000  # bounds every listing: a million tasks per state


async def list_state(client: AsyncClient, queue: str, state: TaskStateName) -> list[Task]:
    found: list[Task] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tasks(queue, state, limit=PAGE, cursor=cursor)
        found += page.tasks
        cursor = page.next_cursor
        if not cursor:
            break
    return found


async def count_states(
    client: AsyncClient,
    queue: str,
    states: tuple[TaskStateName, ...] = STATES,
    created_after_s: float = 0.0,
) -> dict[str, int]:
    """How many of the queue's tasks (created at or after `created_after_s`) are in each state
    (from `list_tasks`), and how many of them were attempted more than once ("retried")."""
    counts: dict[str, int] = {}
    retried = 0
    for state in states:
        listed = await list_state(client, queue, state)
        tasks = [task for task in listed if task.created_at >= created_after_s]
        counts[state] = len(tasks)
        retried += sum(1 for task in tasks if task.attempt > 1)
    counts["retried"] = retried
    return counts


async def _burst(
    client: AsyncClient, queue: str, args: argparse.Namespace, first_seq: int
) -> tuple[dict[str, float], list[str]]:
    """Submits one burst; the accepted task ids with their submit times, and the errors."""
    accepted: dict[str, float] = {}
    errors: list[str] = []

    async def one(seq: int) -> None:
        submitted_at_s = time.time()
        payload = {"tag": args.tag, "seq": seq, "submitted_at_s": submitted_at_s}
        try:
            task = await client.submit_task(
                queue, args.type, payload, max_attempts=args.max_attempts
            )
        except RaftqApiError as error:
            errors.append(f"{type(error).__name__}: {error}")
            return
        accepted[task.task_id] = submitted_at_s

    await asyncio.gather(*(one(first_seq + k) for k in range(args.burst_size)))
    return accepted, errors


async def _wait_settled(client: AsyncClient, queue: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        pending = await count_states(client, queue, PENDING)
        if not any(pending[s] for s in PENDING):
            return True
        await asyncio.sleep(0.5)
    return False


async def _read_all(client: AsyncClient, queue: str, ids: list[str]) -> list[Task]:
    gate = asyncio.Semaphore(16)

    async def one(task_id: str) -> Task:
        async with gate:
            return await client.get_task(queue, task_id)

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncClient(args.endpoint, args.access_key_id, args.secret_access_key) as client:
        try:
            await client.get_queue(args.queue)
        except RaftqApiError as error:
            if error.code != "QueueDoesNotExist":
                raise
            await client.create_queue(args.queue)
        accepted: dict[str, float] = {}
        errors: list[str] = []
        started = time.monotonic()
        for burst in range(args.bursts):
            got, failed = await _burst(client, args.queue, args, burst * args.burst_size)
            accepted.update(got)
            errors += failed
            if burst + 1 < args.bursts:
                await asyncio.sleep(args.pause_s)
        submit_s = time.monotonic() - started
        settled = await _wait_settled(client, args.queue, args.wait_s)
        tasks = await _read_all(client, args.queue, list(accepted))
    by_state: dict[str, int] = {}
    for task in tasks:
        by_state[task.state] = by_state.get(task.state, 0) + 1
    starts = [t.started_at - accepted[t.task_id] for t in tasks if t.started_at is not None]
    done = [
        t.finished_at - accepted[t.task_id]
        for t in tasks
        if t.state == "succeeded" and t.finished_at is not None
    ]
    return {
        "queue": args.queue,
        "submitted": args.bursts * args.burst_size,
        "accepted": len(accepted),
        "rejected": len(errors),
        "rejections": sorted(set(errors))[:10],
        "submit_s": round(submit_s, 3),
        "settled": settled,
        "completed": by_state.get("succeeded", 0),
        "retried": sum(1 for t in tasks if t.attempt > 1),
        "failed": by_state.get("failed", 0),
        "dead": by_state.get("dead", 0),
        "pending": sum(by_state.get(s, 0) for s in PENDING),
        "by_state": by_state,
        "submit_to_start_ms": summary_ms(starts),
        "submit_to_completed_ms": summary_ms(done),
    }


def _print_summary(result: dict[str, Any]) -> None:
    def ms(key: str) -> str:
        s = result[key]
        return f"p50 {s['p50']} ms, p99 {s['p99']} ms, max {s['max']} ms (n={s['n']})"

    print(
        f"{result['accepted']} accepted, {result['rejected']} rejected of "
        f"{result['submitted']} in {result['submit_s']} s; completed {result['completed']}, "
        f"retried {result['retried']}, failed {result['failed']}, dead {result['dead']}, "
        f"pending {result['pending']}{'' if result['settled'] else ' (did not settle)'}"
    )
    print(f"submit->start:     {ms('submit_to_start_ms')}")
    print(f"submit->completed: {ms('submit_to_completed_ms')}")
    for rejection in result["rejections"]:
        print(f"  rejected: {rejection}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("RAFTQ_ENDPOINT"))
    parser.add_argument("--access-key-id", default=os.environ.get("RAFTQ_ACCESS_KEY_ID"))
    parser.add_argument("--secret-access-key", default=os.environ.get("RAFTQ_SECRET_ACCESS_KEY"))
    parser.add_argument("--queue", required=True)
    parser.add_argument("--type", default=TASK_TYPE)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--burst-size", type=int, default=100)
    parser.add_argument("--pause-s", type=float, default=1.0)
    parser.add_argument("--max-attempts", type=int, default=None)
    parser.add_argument("--wait-s", type=float, default=120.0, help="for the tasks to settle")
    parser.add_argument("--tag", default=f"load{int(time.time())}", help="payload tag")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if not (args.endpoint and args.access_key_id and args.secret_access_key):
        parser.error("endpoint and access key: set RAFTQ_* (client.env) or pass the flags")
    if not (1 <= args.bursts <= 10_000 and 1 <= args.burst_size <= 10_000):
        parser.error("--bursts and --burst-size must be 1 to 10000")
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _print_summary(result)
    sys.exit(0 if result["completed"] == result["accepted"] and result["settled"] else 1)


if __name__ == "__main__":
    main()

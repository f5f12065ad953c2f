"""Helpers of the tests that run `raftq worker` processes against a real `raftq up` (their
fixtures `client` and `start_worker` are in conftest.py): waiting for a state with a deadline,
and for a task to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from raftq.client.sdk import AsyncClient
from raftq.client.task_models import Task

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "tests.integration.worker_tasks:tasks"
ENDED = ("succeeded", "failed", "dead", "cancelled", "expired")


def worker_process(env: dict[str, str], queue: str, *options: str) -> subprocess.Popen[bytes]:
    """A `raftq worker` running the handlers of worker_tasks.py on `queue`."""
    command = [sys.executable, "-m", "raftq.client.cli", "worker", REGISTRY, "--queue", queue]
    command += ["--poll-wait-s", "1", *options]
    return subprocess.Popen(command, cwd=REPO, env=env | dict(os.environ))


async def until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline_s = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline_s, "the state was not reached"
        await asyncio.sleep(0.05)


async def task_ends(client: AsyncClient, queue: str, task_id: str, timeout_s: float = 20.0) -> Task:
    deadline_s = asyncio.get_running_loop().time() + timeout_s
    while True:
        task = await client.get_task(queue, task_id)
        if task.state in ENDED:
            return task
        assert asyncio.get_running_loop().time() < deadline_s, f"still {task.state}: {task}"
        await asyncio.sleep(0.1)

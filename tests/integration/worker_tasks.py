"""The handlers the worker integration tests run in `raftq worker` subprocesses. Each attempt
of a "slow" task appends "start"/"end" lines to the journal its payload names, so a test can
count how often a task ran and completed. A "timed" task appends, when it ends, one line
"task_id attempt worker_id start_s end_s" (wall clock) to its journal, for rate and overlap
checks across workers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from raftq.worker import Backoff, Registry, TaskContext

tasks = Registry()


@tasks.handler("add")
async def add(payload: dict[str, int]) -> int:
    return payload["a"] + payload["b"]


def _journal(payload: dict[str, Any], event: str, context: TaskContext) -> None:
    with Path(payload["journal"]).open("a") as journal:
        journal.write(f"{event} {context.task_id} {context.attempt} {context.worker_id}\n")


@tasks.handler("slow")
async def slow(payload: dict[str, Any], context: TaskContext) -> str:
    _journal(payload, "start", context)
    await asyncio.sleep(payload["seconds"])
    _journal(payload, "end", context)
    return f"slept {payload['seconds']}"


@tasks.handler("poison", backoff=Backoff(base_s=0.2, factor=1, max_s=0.2))
async def poison(payload: Any) -> None:
    raise RuntimeError(f"poisoned by {payload!r}")


@tasks.handler("timed")
async def timed(payload: dict[str, Any], context: TaskContext) -> None:
    start_s = time.time()
    await asyncio.sleep(payload["seconds"])
    end_s = time.time()
    line = f"{context.task_id} {context.attempt} {context.worker_id} {start_s:.6f} {end_s:.6f}\n"
    with Path(payload["journal"]).open("a") as journal:
        journal.write(line)  # one short append: lines of concurrent workers never interleave

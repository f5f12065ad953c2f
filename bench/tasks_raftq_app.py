"""The raftq side of the tasks benchmark: the handlers its worker runs.

  raftq worker bench.tasks_raftq_app:tasks --queue Q --concurrency 8 --min-concurrency 8

`taskbench.record` is the no-op task: it only records that it ran (bench/tasks_common.py), in
`TASKBENCH_RECORD_DIR`, then sleeps `sleep_ms` if the payload has it (the kill variant's tasks
take a little time, so the killed worker surely holds running tasks). Its payload:
{"tag": str, "seq": int, "submitted_at_s": float, "sleep_ms"?: float}.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench.tasks_common import TASK_TYPE, record_execution
from raftq.worker import Registry

RECORD_DIR = os.environ.get("TASKBENCH_RECORD_DIR", "/tmp/raftq-taskbench/records")

tasks = Registry()


@tasks.handler(TASK_TYPE)
async def record(payload: dict[str, Any]) -> None:
    record_execution(RECORD_DIR, payload["tag"], payload["seq"], payload["submitted_at_s"])
    if payload.get("sleep_ms"):
        await asyncio.sleep(payload["sleep_ms"] / 1000)

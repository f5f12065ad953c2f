"""The example worker's handlers (deploy/k8s): replace them with your own image and registry.

`raftq worker example_tasks:tasks --queue tasks` runs them; the Deployment `worker` mounts this
file from a ConfigMap so that the stock raftq image can run it (docs/kubernetes.md, "Workers").
"""

from __future__ import annotations

import asyncio
from typing import Any

from raftq.worker import Registry

tasks = Registry()


@tasks.handler("example.echo", max_attempts=3, timeout_s=60)
async def echo(payload: Any) -> Any:
    """Return the payload as the task's result, after `sleep_s` seconds if it names some."""
    if isinstance(payload, dict) and isinstance(payload.get("sleep_s"), int | float):
        await asyncio.sleep(min(float(payload["sleep_s"]), 30.0))
    return payload

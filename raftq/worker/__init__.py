"""The task worker: handlers by type (`Registry`), and the `Worker` that leases and runs them.

    from raftq.worker import Registry

    tasks = Registry()

    @tasks.handler("email.send", max_attempts=5, timeout_s=30, no_retry_on=(ValueError,))
    async def send_email(payload): ...

Run it with `raftq worker myapp.tasks:tasks --queue jobs` (command.py), or in code with
`Worker(AsyncClient.from_env(), tasks, queue="jobs").run()`. `StubTaskApi` and `ManualClock`
are the in-memory service and clock for testing a registry's handlers and hooks.
"""

from raftq.worker.api import ManualClock, TaskApi, WorkerClock
from raftq.worker.hooks import Hooks
from raftq.worker.registry import Backoff, Registry, TaskContext
from raftq.worker.stub import StubTaskApi
from raftq.worker.worker import Worker

__all__ = [
    "Backoff",
    "Hooks",
    "ManualClock",
    "Registry",
    "StubTaskApi",
    "TaskApi",
    "TaskContext",
    "Worker",
    "WorkerClock",
]

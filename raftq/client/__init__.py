"""Python SDK, task worker and the `raftq` command line."""

from raftq.client.task_models import (
    EntryOutcome,
    LeasedTask,
    SubmittedTask,
    Task,
    TaskError,
    TaskFinish,
    TaskPage,
    TaskRequest,
    TypeLimits,
)

__all__ = [
    "EntryOutcome",
    "LeasedTask",
    "SubmittedTask",
    "Task",
    "TaskError",
    "TaskFinish",
    "TaskPage",
    "TaskRequest",
    "TypeLimits",
]

"""The SDK's task calls, blocking: mixed into the blocking `Client`, each running the
asyncio call of task_calls.py on the client's loop."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from raftq.client.task_calls import TaskCalls
from raftq.client.task_models import (
    EntryOutcome,
    LeasedTask,
    SubmittedTask,
    Task,
    TaskFinish,
    TaskPage,
    TaskRequest,
    TaskStateName,
    TypeLimits,
)

T = TypeVar("T")


class BlockingTaskCalls:
    """The same calls, blocking; the client provides `_client` and `_run`."""

    _client: TaskCalls

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def submit_task(
        self, queue: str, type: str, payload: Any = None, **options: Any
    ) -> SubmittedTask:
        return self._run(self._client.submit_task(queue, type, payload, **options))

    def submit_tasks(self, queue: str, requests: Sequence[TaskRequest]) -> list[SubmittedTask]:
        return self._run(self._client.submit_tasks(queue, requests))

    def get_task(self, queue: str, task_id: str) -> Task:
        return self._run(self._client.get_task(queue, task_id))

    def list_tasks(self, queue: str, state: TaskStateName, **options: Any) -> TaskPage:
        return self._run(self._client.list_tasks(queue, state, **options))

    def cancel_task(self, queue: str, task_id: str) -> None:
        self._run(self._client.cancel_task(queue, task_id))

    def lease_tasks(self, queue: str, worker_id: str, **options: Any) -> list[LeasedTask]:
        return self._run(self._client.lease_tasks(queue, worker_id, **options))

    def heartbeat_tasks(self, queue: str, leases: Sequence[tuple[str, float]]) -> EntryOutcome:
        return self._run(self._client.heartbeat_tasks(queue, leases))

    def finish_tasks(self, queue: str, reports: Sequence[TaskFinish]) -> EntryOutcome:
        return self._run(self._client.finish_tasks(queue, reports))

    def set_task_limits(self, queue: str, type: str, **options: Any) -> TypeLimits:
        return self._run(self._client.set_task_limits(queue, type, **options))

    def get_task_limits(self, queue: str) -> list[TypeLimits]:
        return self._run(self._client.get_task_limits(queue))

    def set_task_types(self, queue: str, **changes: Sequence[str]) -> list[str]:
        return self._run(self._client.set_task_types(queue, **changes))

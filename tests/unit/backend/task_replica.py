"""Task commands on a test replica (tests/replica.py): submit, lease, report, read."""

from __future__ import annotations

from raftq.common.commands import (
    CancelTasks,
    FinishTasks,
    GetTask,
    ListTasks,
    ReceiveMessages,
    SendEntry,
    SendMessages,
    SetTaskLimits,
)
from raftq.common.results import BatchResult, Failure, ReceiveResult, SendResult
from raftq.common.tasks_wire import (
    FinishEntry,
    TaskLimits,
    TaskOutcome,
    TaskPage,
    TaskSpec,
    TaskState,
    TaskStatus,
)
from tests.replica import Replica


class TaskReplica(Replica):
    def submit(
        self, queue: str = "q", task_type: str = "job", count: int = 1, **fields: object
    ) -> list[str]:
        max_attempts = int(str(fields.pop("max_attempts", 3)))
        entries = tuple(
            SendEntry.model_validate(
                {
                    "entry_id": f"t{i}",
                    "body": b'{"n": %d}' % i,
                    "task": TaskSpec(type=task_type, max_attempts=max_attempts),
                    **fields,
                }
            )
            for i in range(count)
        )
        result = self.expect(
            SendMessages(now_ms=self.now_ms, queue=queue, entries=entries), SendResult
        )
        assert not result.failed, result.failed
        return [sent.message_id for sent in result.sent]

    def lease(
        self, queue: str = "q", worker: str = "w1", max_tasks: int = 10, lease_ms: int = 30_000
    ) -> ReceiveResult:
        command = ReceiveMessages(
            now_ms=self.now_ms,
            queue=queue,
            max_messages=max_tasks,
            visibility_timeout_ms=lease_ms,
            worker_id=worker,
        )
        return self.expect(command, ReceiveResult)

    def finish(
        self,
        handle: str,
        outcome: TaskOutcome,
        *,
        queue: str = "q",
        result: bytes | None = None,
        error: bytes | None = None,
        retry_delay_ms: int = 0,
    ) -> BatchResult:
        entry = FinishEntry(
            entry_id="f",
            receipt_handle=handle,
            outcome=outcome,
            result=result,
            error=error,
            retry_delay_ms=retry_delay_ms,
        )
        return self.expect(
            FinishTasks(now_ms=self.now_ms, queue=queue, entries=(entry,)), BatchResult
        )

    def cancel(self, *task_ids: str, queue: str = "q") -> BatchResult:
        return self.expect(
            CancelTasks(now_ms=self.now_ms, queue=queue, task_ids=task_ids), BatchResult
        )

    def task(self, task_id: str, queue: str = "q") -> TaskStatus | Failure:
        result = self.one(GetTask(now_ms=self.now_ms, queue=queue, task_id=task_id))
        assert isinstance(result, TaskStatus | Failure), result
        return result

    def state(self, task_id: str, queue: str = "q") -> TaskState:
        status = self.task(task_id, queue)
        assert isinstance(status, TaskStatus), status
        return status.state

    def page(
        self, state: TaskState, queue: str = "q", cursor: bytes | None = None, limit: int = 50
    ) -> TaskPage:
        command = ListTasks(
            now_ms=self.now_ms, queue=queue, state=state, cursor=cursor, limit=limit
        )
        return self.expect(command, TaskPage)

    def limit(
        self,
        task_type: str,
        rate_milli: int | None = None,
        max_running: int | None = None,
        queue: str = "q",
    ) -> TaskLimits:
        command = SetTaskLimits(
            now_ms=self.now_ms,
            queue=queue,
            task_type=task_type,
            rate_milli=rate_milli,
            max_running=max_running,
        )
        return self.expect(command, TaskLimits)

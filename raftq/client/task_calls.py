"""The SDK's task calls, mixed into `AsyncClient` (`TaskCalls`) and the blocking `Client`
(`BlockingTaskCalls`), over the REST task API; they return task_models.py's values.

Retries follow transport.py's rules. What makes each call safe to repeat after an unknown
outcome: a submission always carries an idempotency key (the caller's, or one drawn here and
kept for every retry), so it is stored once; a lease carries an attempt id, answered with the
same tasks; a heartbeat sets the same lease length again; a finish names its lease: a repeated
`succeeded` report succeeds and changes nothing, a repeat of another report is refused
(`MessageNotInflight`: the attempt was reported) and changes nothing, one on a lease another
worker took over fails (`ReceiptHandleIsInvalid`); reads change nothing; setting limits sets
the same values. A cancel is repeated too, but a repeat of one that took effect is refused
(the task is cancelled already), so it ends as `OutcomeUnknown`: read the task to settle it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from raftq.client.errors import InvalidRequest, NotFound, RaftqApiError, TaskBatchFailed
from raftq.client.task_models import (
    EntryOutcome,
    LeasedTask,
    SubmittedTask,
    Task,
    TaskError,
    TaskFinish,
    TaskPage,
    TaskRequest,
    TaskStateName,
    TypeLimits,
)
from raftq.client.task_submitter import Call, TaskSubmitter
from raftq.client.transport import Operation
from raftq.common import limits

T = TypeVar("T")


class TaskCalls:
    """The asyncio task calls; the client provides `_call`, `_batch_max_entries` and
    `_task_submitter`."""

    _call: Call
    _batch_max_entries: int
    _task_submitter: TaskSubmitter

    async def submit_task(
        self,
        queue: str,
        type: str,
        payload: Any = None,
        *,
        priority: int = 0,
        delay_s: float | None = None,
        run_at: float | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> SubmittedTask:
        """Submit one task; `duplicate` when its idempotency key was seen within the queue's
        dedup window (the first task's id is returned, nothing new is queued). Concurrent
        submissions to one queue may share a batch request (task_submitter.py)."""
        request = TaskRequest(
            type,
            payload,
            priority,
            delay_s,
            run_at,
            idempotency_key,
            max_attempts,
            timeout_s,
            trace_context,
        )
        return await self._task_submitter.submit(queue, task_body(queue, request, ""))

    async def submit_tasks(
        self, queue: str, requests: Sequence[TaskRequest]
    ) -> list[SubmittedTask]:
        """Submit up to `batch_max_entries` tasks in one request, in order. When some are
        refused, raises `TaskBatchFailed` (which holds those submitted and each refusal);
        submitting the same requests again is safe only with their own idempotency keys."""
        _check_count(queue, "requests", len(requests), self._batch_max_entries)
        entries = [
            {"id": str(i), **task_body(queue, r, f"requests.{i}.")} for i, r in enumerate(requests)
        ]
        keys = tuple(entry["idempotency_key"] for entry in entries)
        what = f"submission of {len(entries)} tasks to queue {queue!r}"
        answer = await self._call(
            Operation(what, idempotent=True, keys=keys),
            "POST",
            _tasks(queue) + ":batch",
            {"tasks": entries},
        )
        submitted: list[SubmittedTask | None] = [None] * len(entries)
        for entry in answer.get("submitted", []):
            submitted[int(entry["id"])] = SubmittedTask(entry["task_id"], entry["duplicate"])
        failed = {
            int(x["id"]): RaftqApiError(400, x["code"], x["message"], x.get("field"))
            for x in answer.get("failed", [])
        }
        if failed or any(s is None for s in submitted):
            raise TaskBatchFailed(queue, submitted, failed, keys)
        return [s for s in submitted if s is not None]

    async def get_task(self, queue: str, task_id: str) -> Task:
        """The task's status; raises `NotFound` when no task of this id exists (any more)."""
        reading = Operation(f"reading task {task_id!r} of queue {queue!r}", idempotent=True)
        return task_of(await _found(self._call(reading, "GET", _task(queue, task_id))))

    async def list_tasks(
        self, queue: str, state: TaskStateName, *, limit: int = 50, cursor: str | None = None
    ) -> TaskPage:
        """One page of the queue's tasks in `state`; pass `next_cursor` back for the next. A
        page may hold fewer than `limit` (even none) and still have a cursor."""
        query = {"state": state, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        reading = Operation(f"listing {state} tasks of queue {queue!r}", idempotent=True)
        page = await _found(self._call(reading, "GET", _tasks(queue), query=query))
        return TaskPage([task_of(raw) for raw in page["tasks"]], page.get("next_cursor"))

    async def cancel_task(self, queue: str, task_id: str) -> None:
        """Cancel a task that is not running; raises `NotFound` for an unknown id."""
        cancelling = Operation(f"cancelling task {task_id!r} of queue {queue!r}", idempotent=True)
        await _found(self._call(cancelling, "POST", _task(queue, task_id) + ":cancel"))

    async def lease_tasks(
        self,
        queue: str,
        worker_id: str,
        *,
        max_tasks: int = 1,
        lease_s: float | None = None,
        wait_s: int = 0,
    ) -> list[LeasedTask]:
        """Up to `max_tasks` tasks for `worker_id` to run, each held for `lease_s` (default:
        the queue's visibility timeout); waits up to `wait_s` for one to come."""
        attempt_id = secrets.token_urlsafe(12)
        body: dict[str, Any] = {
            "worker_id": worker_id,
            "max": max_tasks,
            "wait_s": wait_s,
            "attempt_id": attempt_id,
        }
        if lease_s is not None:
            body["lease_s"] = lease_s
        answer = await self._call(
            Operation(f"task lease from queue {queue!r}", idempotent=True, keys=(attempt_id,)),
            "POST",
            _tasks(queue) + ":lease",
            body,
            extra_timeout_s=wait_s,
        )
        return [
            LeasedTask(
                task_id=raw["task_id"],
                lease=raw["lease"],
                type=raw["type"],
                payload=raw["payload"],
                attempt=raw["attempt"],
                max_attempts=raw["max_attempts"],
                timeout_s=raw["timeout_s"],
                lease_deadline=raw["lease_deadline_ms"] / 1000,
                trace_context=raw.get("trace_context"),
            )
            for raw in answer["tasks"]
        ]

    async def heartbeat_tasks(
        self, queue: str, leases: Sequence[tuple[str, float]]
    ) -> EntryOutcome:
        """Extend each (lease, lease_s) to `lease_s` from now."""
        _check_count(queue, "leases", len(leases), self._batch_max_entries)
        body = {"leases": [{"lease": lease, "lease_s": s} for lease, s in leases]}
        keys = tuple(lease for lease, _ in leases)
        answer = await self._call(
            Operation(f"lease heartbeat in queue {queue!r}", idempotent=True, keys=keys),
            "POST",
            _tasks(queue) + ":heartbeat",
            body,
        )
        return outcome_of(answer)

    async def finish_tasks(self, queue: str, reports: Sequence[TaskFinish]) -> EntryOutcome:
        """Report attempts by their leases: succeeded (with a JSON result), retry (after
        `retry_delay_s`, while attempts remain), or failed."""
        _check_count(queue, "reports", len(reports), self._batch_max_entries)
        body = {"reports": [_report(queue, r, i) for i, r in enumerate(reports)]}
        keys = tuple(r.lease for r in reports)
        answer = await self._call(
            Operation(f"task reports to queue {queue!r}", idempotent=True, keys=keys),
            "POST",
            _tasks(queue) + ":finish",
            body,
        )
        return outcome_of(answer)

    async def set_task_limits(
        self,
        queue: str,
        type: str,
        *,
        starts_per_s: float | None = None,
        max_running: int | None = None,
    ) -> TypeLimits:
        """Limit how fast tasks of `type` start and how many run at once, over all workers;
        both None clears the limits."""
        body = {"starts_per_s": starts_per_s, "max_running": max_running}
        setting = Operation(f"setting limits of {type!r} in queue {queue!r}", idempotent=True)
        path = f"/v1/queues/{quote(queue)}/task-limits/{quote(type, safe='')}"
        return limits_of(await self._call(setting, "PUT", path, body))

    async def get_task_limits(self, queue: str) -> list[TypeLimits]:
        reading = Operation(f"reading task limits of queue {queue!r}", idempotent=True)
        answer = await self._call(reading, "GET", f"/v1/queues/{quote(queue)}/task-limits")
        return [limits_of(raw) for raw in answer["limits"]]

    async def set_task_types(
        self, queue: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> list[str]:
        """Declare task types of `queue` (workers do, for their handlers) or forget some (an
        operator's); once a queue has declared types, a task of another type is refused."""
        setting = Operation(f"setting task types of queue {queue!r}", idempotent=True)
        body = {"add": list(add), "remove": list(remove)}
        answer = await self._call(setting, "POST", f"/v1/queues/{quote(queue)}/task-types", body)
        return list(answer["types"])


# --- conversions (pure) -----------------------------------------------------------------------


def task_body(queue: str, request: TaskRequest, where: str) -> dict[str, Any]:
    """`request` as the REST API takes it, with an idempotency key drawn when it has none;
    raises `InvalidRequest` (naming `where` + the field) for a payload that is not JSON."""
    _check_json(queue, request.payload, where + "payload")
    body: dict[str, Any] = {
        "type": request.type,
        "payload": request.payload,
        "priority": request.priority,
        "idempotency_key": request.idempotency_key or secrets.token_urlsafe(16),
    }
    if request.delay_s is not None:
        body["delay_s"] = request.delay_s
    if request.run_at is not None:
        body["run_at_ms"] = round(request.run_at * 1000)
    if request.max_attempts is not None:
        body["max_attempts"] = request.max_attempts
    if request.timeout_s is not None:
        body["timeout_s"] = request.timeout_s
    if request.trace_context is not None:
        body["trace_context"] = dict(request.trace_context)
    return body


def task_of(raw: dict[str, Any]) -> Task:
    error = raw.get("last_error")
    return Task(
        task_id=raw["task_id"],
        type=raw["type"],
        state=raw["state"],
        priority=raw["priority"],
        attempt=raw["attempt"],
        max_attempts=raw["max_attempts"],
        timeout_s=raw["timeout_s"],
        created_at=raw["created_at_ms"] / 1000,
        run_at=_seconds(raw.get("run_at_ms")),
        worker_id=raw.get("worker_id"),
        lease_deadline=_seconds(raw.get("lease_deadline_ms")),
        started_at=_seconds(raw.get("started_at_ms")),
        finished_at=_seconds(raw.get("finished_at_ms")),
        duration_s=_seconds(raw.get("duration_ms")),
        last_error=None
        if error is None
        else TaskError(error["type"], error["message"], error.get("traceback")),
        result=raw.get("result"),
    )


def outcome_of(raw: dict[str, Any]) -> EntryOutcome:
    return EntryOutcome(
        succeeded=list(raw["succeeded"]),
        failed={x["lease"]: (x["code"], x["message"]) for x in raw["failed"]},
    )


def limits_of(raw: dict[str, Any]) -> TypeLimits:
    return TypeLimits(raw["type"], raw["starts_per_s"], raw["max_running"], raw.get("running", 0))


def _report(queue: str, report: TaskFinish, position: int) -> dict[str, Any]:
    _check_json(queue, report.result, f"reports.{position}.result")
    raw: dict[str, Any] = {
        "lease": report.lease,
        "outcome": report.outcome,
        "retry_delay_s": report.retry_delay_s,
    }
    if report.result is not None:
        raw["result"] = report.result
    if report.error is not None:
        error = report.error
        raw["error"] = {
            "type": error.type[:256] or "Error",
            "message": error.message[:4_096],
            "traceback": error.traceback,
        }
    if report.trace_context is not None:
        raw["trace_context"] = dict(report.trace_context)
    return raw


def _check_json(queue: str, value: Any, field: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidRequest(
            400,
            "InvalidParameterValue",
            f"{field} of a task of queue {queue!r} is not JSON ({error})",
            field,
        ) from None


def _check_count(queue: str, field: str, count: int, most: int) -> None:
    if not 1 <= count <= min(most, limits.BATCH_ENTRIES_MAX):
        raise InvalidRequest(
            400,
            "InvalidParameterValue",
            f"{field} for queue {queue!r}: give 1 to {most}, not {count}",
            field,
        )


async def _found(call: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """The call's answer; a 404 raised as `NotFound`."""
    try:
        return await call
    except RaftqApiError as error:
        if error.status == 404:
            raise NotFound(error.status, error.code, error.message, error.field) from None
        raise


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _tasks(queue: str) -> str:
    return f"/v1/queues/{quote(queue)}/tasks"


def _task(queue: str, task_id: str) -> str:
    return f"{_tasks(queue)}/{quote(task_id, safe='')}"

"""What a frontend does to tasks on their way in and out: build each submission's message (its
body is the task's envelope, sealed like any body), seal a finished attempt's result and error,
and open all three again for the caller (`task_view`). Backends see the task's type and limits
in clear (`TaskSpec`) and only ciphertext for the rest.

Formats (UTF-8 JSON, sealed with the queue's cipher, each under its own purpose):
    body    {"type": str, "payload": <JSON>, "max_attempts": int, "timeout_s": float}
    result  <JSON>                                                   (purpose `task_result`)
    error   {"type": str, "message": str, "traceback": str | null}   (purpose `task_error`)
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from raftq.common import commands as backend
from raftq.common import limits
from raftq.common.envelope import QueueCipher, overhead_bytes
from raftq.common.errors import InvalidParameter, PayloadTooLarge
from raftq.common.metadata_models import Queue
from raftq.common.tasks_wire import (
    ATTEMPTS_DEFAULT,
    TASK_ERROR_MAX_BYTES,
    TASK_RESULT_MAX_BYTES,
    TASK_TIMEOUT_DEFAULT_MS,
    TaskSpec,
    TaskStatus,
    TaskTypeLimits,
)
from raftq.frontend import message_tracing
from raftq.frontend import task_models as t
from raftq.frontend.message_sealing import seal_attributes
from raftq.frontend.rest_models import MessageAttribute


@dataclass(frozen=True, slots=True)
class Envelope:
    """A task's body, opened."""

    type: str
    payload: Any
    max_attempts: int
    timeout_s: float


def sealed_tasks(
    queue: Queue,
    cipher: QueueCipher,
    tasks: list[tuple[str, t.TaskFields]],
    *,
    sender_id: str,
    now_ms: int,
    field_prefix: str,
    stamp: dict[str, MessageAttribute] | None = None,
) -> tuple[list[backend.SendEntry], dict[str, str]]:
    """The (entry id, task) pairs as the backend stores them, and each one's dedup id (by entry
    id): its idempotency key, else one drawn here, so a submission whose outcome is unknown can
    be retried without making the task twice. Every task is checked before any is sealed, so a
    refused request stores nothing; `field_prefix` ("" or "tasks.N.") names the field at fault.
    A task keeps its `trace_context` as message attributes (message_tracing.py), else `stamp`."""
    if queue.fifo:
        raise InvalidParameter(
            f"queue {queue.name!r} is a FIFO queue; tasks need a standard queue", field="name"
        )
    bodies, traces = [], []
    for position, (_, task) in enumerate(tasks):
        where = field_prefix.replace("N", str(position))
        given = task.trace_context
        traces.append(
            (stamp or {})
            if given is None
            else message_tracing.trace_attributes(queue.name, given, where + "trace_context")
        )
        envelope = {
            "type": task.type,
            "payload": task.payload,
            "max_attempts": task.max_attempts or ATTEMPTS_DEFAULT,
            "timeout_s": task.timeout_s or TASK_TIMEOUT_DEFAULT_MS / 1000,
        }
        body = json.dumps(envelope, allow_nan=False, separators=(",", ":")).encode()
        limit = queue.attributes.max_message_bytes
        if len(body) > limit:
            raise PayloadTooLarge(
                f"the task is {len(body)} bytes with its payload; queue {queue.name!r} takes "
                f"messages of up to {limit}",
                field=where + "payload",
            )
        _check_schedule(queue, task, now_ms, where)
        bodies.append(body)
    sealed, dedup_ids = [], {}
    for (entry_id, task), body, trace in zip(tasks, bodies, traces, strict=True):
        dedup_id = task.idempotency_key or secrets.token_urlsafe(16)
        dedup_ids[entry_id] = dedup_id
        delay_ms, deliver_at_ms = _schedule_of(task, now_ms)
        sealed.append(
            backend.SendEntry(
                entry_id=entry_id,
                body=cipher.seal(body, "body"),
                attributes=seal_attributes(cipher, trace, sender_id, None),
                delay_ms=delay_ms,
                deliver_at_ms=deliver_at_ms,
                dedup_id=dedup_id,
                priority=task.priority,
                task=TaskSpec(
                    type=task.type,
                    max_attempts=task.max_attempts or ATTEMPTS_DEFAULT,
                    timeout_ms=TASK_TIMEOUT_DEFAULT_MS
                    if task.timeout_s is None
                    else round(task.timeout_s * 1000),
                ),
            )
        )
    return sealed, dedup_ids


def _check_schedule(queue: Queue, task: t.TaskFields, now_ms: int, where: str) -> None:
    """A task due after its message would expire by retention would never run."""
    retention_ms = queue.attributes.retention_ms
    if task.delay_s is not None and task.delay_s * 1000 > retention_ms:
        raise InvalidParameter(
            f"delay_s is beyond queue {queue.name!r}'s retention ({retention_ms // 1000} s)",
            field=where + "delay_s",
        )
    if task.run_at_ms is not None and task.run_at_ms - now_ms > retention_ms:
        raise InvalidParameter(
            f"run_at_ms is beyond queue {queue.name!r}'s retention ({retention_ms // 1000} s "
            "from now)",
            field=where + "run_at_ms",
        )


def _schedule_of(task: t.TaskFields, now_ms: int) -> tuple[int | None, int | None]:
    """(delay_ms, deliver_at_ms): a delay within SQS's 15 minutes stays a delay; a longer one
    becomes a run-at time measured from this frontend's clock."""
    if task.run_at_ms is not None:
        return None, task.run_at_ms
    if task.delay_s is None:
        return None, None
    delay_ms = round(task.delay_s * 1000)
    if delay_ms <= limits.DELAY_MAX_MS:
        return delay_ms, None
    return None, now_ms + delay_ms


def open_envelope(cipher: QueueCipher, sealed: bytes) -> Envelope:
    """The task's body; raises ValueError when the message is not a task (or is malformed)."""
    raw = json.loads(cipher.open(sealed, "body"))
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ValueError("the message body is not a task envelope")
    return Envelope(
        type=raw["type"],
        payload=raw.get("payload"),
        max_attempts=int(raw.get("max_attempts", ATTEMPTS_DEFAULT)),
        timeout_s=float(raw.get("timeout_s", TASK_TIMEOUT_DEFAULT_MS / 1000)),
    )


def seal_result(cipher: QueueCipher, result: Any, field: str, queue: str) -> bytes:
    plain = t.json_text(result).encode()
    if len(plain) + overhead_bytes() > TASK_RESULT_MAX_BYTES:
        raise PayloadTooLarge(
            f"the result is {len(plain)} bytes; a result in queue {queue!r} may be up to "
            f"{TASK_RESULT_MAX_BYTES - overhead_bytes()}",
            field=field,
        )
    return cipher.seal(plain, "task_result")


def seal_error(cipher: QueueCipher, error: t.TaskErrorView, field: str, queue: str) -> bytes:
    """The error sealed; a traceback too long to fit loses its beginning (its end says where the
    error was raised), so a failure is never refused for its traceback."""
    room = TASK_ERROR_MAX_BYTES - overhead_bytes()
    plain = _error_text(error.type, error.message, error.traceback)
    if len(plain) > room and error.traceback is not None:
        bare = len(_error_text(error.type, error.message, ""))
        keep = max(room - bare - 64, 0)  # 64: room for JSON escapes of the kept part's start
        tail = error.traceback.encode()[-keep:].decode(errors="ignore") if keep else ""
        while True:
            plain = _error_text(error.type, error.message, "…" + tail)
            if len(plain) <= room or not tail:
                break
            tail = tail[len(tail) // 8 + 1 :]
    if len(plain) > room:
        raise PayloadTooLarge(f"the error is over {room} bytes (queue {queue!r})", field=field)
    return cipher.seal(plain, "task_error")


def _error_text(type_: str, message: str, traceback: str | None) -> bytes:
    error = {"type": type_, "message": message, "traceback": traceback}
    return json.dumps(error, separators=(",", ":")).encode()


def open_result(cipher: QueueCipher, sealed: bytes | None) -> Any:
    return None if sealed is None else json.loads(cipher.open(sealed, "task_result"))


def open_error(cipher: QueueCipher, sealed: bytes | None) -> t.TaskErrorView | None:
    if sealed is None:
        return None
    return t.TaskErrorView.model_validate_json(cipher.open(sealed, "task_error"), strict=False)


def task_view(cipher: QueueCipher, status: TaskStatus) -> t.TaskView:
    """A task's status for its caller, its result and last error opened."""
    return t.TaskView(
        task_id=status.task_id,
        type=status.task_type,
        state=status.state,
        priority=status.priority,
        attempt=status.attempt,
        max_attempts=status.max_attempts,
        timeout_s=status.timeout_ms / 1000,
        created_at_ms=status.created_at_ms,
        run_at_ms=status.run_at_ms,
        worker_id=status.worker_id,
        lease_deadline_ms=status.lease_deadline_ms,
        started_at_ms=status.started_at_ms,
        finished_at_ms=status.finished_at_ms,
        duration_ms=status.duration_ms,
        last_error=open_error(cipher, status.last_error),
        result=open_result(cipher, status.result),
    )


def limits_view(limits: TaskTypeLimits) -> t.TaskLimitsView:
    return t.TaskLimitsView(
        type=limits.task_type,
        starts_per_s=None if limits.rate_milli is None else limits.rate_milli / 1000,
        max_running=limits.max_running,
        running=limits.running,
    )

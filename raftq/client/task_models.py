"""What the SDK's task methods take and return (the REST API's task shapes, as Python values).

Shared by the SDK (sdk.py), the worker (worker.py) and the CLI. Times are seconds since the
epoch (floats) on this side; the REST API speaks milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TaskStateName = Literal[
    "queued",
    "scheduled",
    "running",
    "retrying",
    "succeeded",
    "failed",
    "dead",
    "cancelled",
    "expired",
]
Outcome = Literal["succeeded", "retry", "failed", "released"]


@dataclass(frozen=True, slots=True)
class SubmittedTask:
    task_id: str
    duplicate: bool  # the idempotency key was seen within the dedup window: no new task


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """One task of a batch submission (`submit_tasks`)."""

    type: str
    payload: Any = None
    priority: int = 0
    delay_s: float | None = None
    run_at: float | None = None  # epoch seconds; exclusive with delay_s
    idempotency_key: str | None = None
    max_attempts: int | None = None
    timeout_s: float | None = None
    # W3C {"traceparent": …, "tracestate": …} of the submitting span (docs/tracing.md).
    trace_context: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class TaskError:
    type: str
    message: str
    traceback: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """A task's status as `get_task` / `list_tasks` return it."""

    task_id: str
    type: str
    state: TaskStateName
    priority: int
    attempt: int
    max_attempts: int
    timeout_s: float
    created_at: float
    run_at: float | None = None
    worker_id: str | None = None
    lease_deadline: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    last_error: TaskError | None = None
    result: Any = None


@dataclass(frozen=True, slots=True)
class TaskPage:
    tasks: list[Task]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class LeasedTask:
    """A task a worker holds: run it, heartbeat its lease, then finish it with `lease`."""

    task_id: str
    lease: str  # the receipt handle of this attempt
    type: str
    payload: Any
    attempt: int
    max_attempts: int
    timeout_s: float
    lease_deadline: float
    trace_context: Mapping[str, str] | None = None  # the submitter's, if it was traced


@dataclass(frozen=True, slots=True)
class TaskFinish:
    """One attempt's report (`finish_tasks`)."""

    lease: str
    outcome: Outcome
    result: Any = None  # succeeded only; JSON
    error: TaskError | None = None
    retry_delay_s: float = 0.0
    trace_context: Mapping[str, str] | None = None  # the attempt's span: the finish joins it


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """Which entries of a batch call (heartbeat, finish, cancel) succeeded and why others failed:
    `failed` maps the entry (a lease or task id) to (error code, message)."""

    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TypeLimits:
    type: str
    starts_per_s: float | None
    max_running: int | None
    running: int = 0

"""Wire values of the task layer: what a task submission, lease report and status carry.

A task is a message of a standard queue whose send carried a `TaskSpec`; its id is the message
id. The backend sees the task's type and attempt limit in clear (rate limits and dead-lettering
are decided in apply); the payload, result and error are opaque bytes the frontend seals.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints, model_validator

from raftq.common import limits
from raftq.common.wire import ReceiptHandle, WireModel

TASK_TYPE_MAX_CHARS: Final = 128
ATTEMPTS_MAX: Final = 100
ATTEMPTS_DEFAULT: Final = 3
TASK_TIMEOUT_MAX_MS: Final = limits.VISIBILITY_TIMEOUT_MAX_MS
TASK_TIMEOUT_DEFAULT_MS: Final = 5 * limits.MINUTE_MS
TASK_ERROR_MAX_BYTES: Final = 16 * 1_024
TASK_RESULT_MAX_BYTES: Final = limits.DELETE_RESULT_MAX_BYTES
TASK_PAGE_MAX: Final = 100
RATE_MILLI_MAX: Final = 100_000_000  # 100 000 starts per second
RUNNING_LIMIT_MAX: Final = 10_000

# Letters, digits and `_.:-`, starting with a letter: a Python-ish dotted name.
TaskType = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=TASK_TYPE_MAX_CHARS, pattern=r"^[A-Za-z][A-Za-z0-9_.:-]*$"
    ),
]
Attempts = Annotated[int, Field(ge=1, le=ATTEMPTS_MAX)]
TaskTimeoutMs = Annotated[int, Field(ge=1_000, le=TASK_TIMEOUT_MAX_MS)]
TaskCursor = Annotated[bytes, Field(min_length=1, max_length=256)]
TaskPageSize = Annotated[int, Field(ge=1, le=TASK_PAGE_MAX)]
TaskLimitRate = Annotated[int, Field(ge=1, le=RATE_MILLI_MAX)]
TaskRunningLimit = Annotated[int, Field(ge=1, le=RUNNING_LIMIT_MAX)]
RetryDelayMs = Annotated[int, Field(ge=0, le=limits.RETENTION_MAX_MS)]


class TaskSpec(WireModel):
    type: TaskType
    max_attempts: Attempts = ATTEMPTS_DEFAULT
    # The handler's time limit per attempt (the worker enforces it; the lease is separate).
    timeout_ms: TaskTimeoutMs = TASK_TIMEOUT_DEFAULT_MS


class TaskOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"  # retry after `retry_delay_ms`, unless the attempts are used up
    FAILED = "failed"  # do not retry: dead-letter it (or fail it if the queue has no DLQ)
    # Handed back unstarted (a worker stopping): visible again at once, no attempt counted.
    RELEASED = "released"


# Enums travel as their values (msgpack has no enums): this field takes the value.
OutcomeField = Annotated[TaskOutcome, Field(strict=False)]


class FinishEntry(WireModel):
    entry_id: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    receipt_handle: ReceiptHandle
    outcome: OutcomeField
    result: Annotated[bytes, Field(max_length=TASK_RESULT_MAX_BYTES)] | None = None
    error: Annotated[bytes, Field(max_length=TASK_ERROR_MAX_BYTES)] | None = None
    retry_delay_ms: RetryDelayMs = 0

    @model_validator(mode="after")
    def _fields_of_outcome(self) -> FinishEntry:
        if self.result is not None and self.outcome is not TaskOutcome.SUCCEEDED:
            raise ValueError("only a succeeded task has a result")
        return self


class TaskState(enum.StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Enums travel as their values (msgpack has no enums): this field takes the value.
TaskStateField = Annotated[TaskState, Field(strict=False)]

FINISHED_STATES: Final = frozenset(
    {
        TaskState.SUCCEEDED,
        TaskState.FAILED,
        TaskState.DEAD,
        TaskState.CANCELLED,
        TaskState.EXPIRED,
    }
)


class TaskStatus(WireModel):
    """One task as its queue's replicated state has it."""

    kind: Literal["task_status"] = "task_status"
    task_id: str
    task_type: str
    state: TaskStateField
    priority: int
    attempt: int  # attempts started so far
    max_attempts: int
    timeout_ms: int
    created_at_ms: int
    # scheduled: when it is due; retrying: when the next attempt may start.
    run_at_ms: int | None = None
    worker_id: str | None = None  # running: the worker holding it; else the last one
    lease_deadline_ms: int | None = None  # running
    started_at_ms: int | None = None  # of the latest attempt
    finished_at_ms: int | None = None
    duration_ms: int | None = None  # succeeded: from the latest start to the finish
    last_error: bytes | None = None
    result: bytes | None = None


class TaskPage(WireModel):
    kind: Literal["task_page"] = "task_page"
    tasks: tuple[TaskStatus, ...]
    # Pass it back to continue; None: the listing is complete. A page may hold fewer than
    # asked (even none) and still have a cursor: the scan behind each page is bounded.
    next_cursor: bytes | None = None


class TaskTypeLimits(WireModel):
    task_type: str
    rate_milli: int | None = None
    max_running: int | None = None
    running: int = 0


class TaskLimits(WireModel):
    kind: Literal["task_limits"] = "task_limits"
    limits: tuple[TaskTypeLimits, ...]

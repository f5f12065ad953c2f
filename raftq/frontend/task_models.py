"""The task API's request and response bodies (JSON), beside rest_models.py's: the same strict
models validate requests and make `/openapi.json`.

Units are the public ones: seconds (floats) for durations the caller sets, milliseconds since
the epoch for timestamps. A payload and a result are any JSON value; NaN and the infinities
are not JSON, and are refused (the parser would take them).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, JsonValue, ValidationInfo, field_validator

from raftq.common import limits
from raftq.common.tasks_wire import (
    ATTEMPTS_MAX,
    RATE_MILLI_MAX,
    RUNNING_LIMIT_MAX,
    TASK_PAGE_MAX,
    TASK_TIMEOUT_MAX_MS,
    TASK_TYPES_MAX,
    TaskState,
    TaskType,
)
from raftq.frontend.rest_models import (
    EntryId,
    QueryModel,
    ReceiptHandle,
    RestModel,
    Token,
    TraceContextBody,
)

Seconds = Annotated[float, Field(allow_inf_nan=False)]
DelaySeconds = Annotated[Seconds, Field(ge=0, le=limits.RETENTION_MAX_MS / 1000)]
LeaseSeconds = Annotated[Seconds, Field(ge=1, le=limits.VISIBILITY_TIMEOUT_MAX_MS / 1000)]
TimeoutSeconds = Annotated[Seconds, Field(ge=1, le=TASK_TIMEOUT_MAX_MS / 1000)]
BatchSize = Annotated[int, Field(ge=1, le=limits.BATCH_ENTRIES_MAX)]


def json_text(value: JsonValue) -> str:
    """`value` as JSON text; raises ValueError for what JSON cannot hold (NaN, infinities)."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise ValueError("must be JSON: NaN and infinities are not") from None


class TaskFields(RestModel):
    """One task to submit. `delay_s` and `run_at_ms` are exclusive; a delay over 15 minutes is
    kept as a run-at time, and neither may reach past the queue's retention."""

    type: TaskType = Field(description="letters, digits and `_.:-`, starting with a letter")
    payload: JsonValue = Field(default=None, description="any JSON value, handed to the worker")
    priority: Annotated[int, Field(ge=0, le=limits.PRIORITY_MAX)] = 0
    delay_s: DelaySeconds | None = None
    run_at_ms: Annotated[int, Field(ge=0, le=2**53)] | None = Field(
        default=None, description="when it may start (ms since the epoch)"
    )
    idempotency_key: Token | None = Field(
        default=None, description="a repeat within the queue's dedup window returns the first id"
    )
    max_attempts: Annotated[int, Field(ge=1, le=ATTEMPTS_MAX)] | None = None
    timeout_s: TimeoutSeconds | None = Field(
        default=None, description="the handler's time limit per attempt"
    )
    trace_context: TraceContextBody | None = Field(
        default=None,
        description="the submitter's W3C trace context; by default, the frontend's submit span's",
    )

    @field_validator("payload")
    @classmethod
    def _payload_is_json(cls, payload: JsonValue) -> JsonValue:
        json_text(payload)
        return payload

    # Cross-field rules are field validators of the later field (fields validate in order), so
    # a refusal names a field (`run_at_ms`, `result`), which a model validator's would not.
    @field_validator("run_at_ms")
    @classmethod
    def _one_schedule(cls, run_at_ms: int | None, info: ValidationInfo) -> int | None:
        if run_at_ms is not None and info.data.get("delay_s") is not None:
            raise ValueError("give at most one of delay_s and run_at_ms")
        return run_at_ms


class SubmitBody(TaskFields):
    pass


class BatchTask(TaskFields):
    id: EntryId


class SubmitBatchBody(RestModel):
    tasks: Annotated[list[BatchTask], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)]


class SubmittedView(RestModel):
    task_id: str
    duplicate: bool = Field(description="an earlier submission with this key stands")


class SubmittedEntryView(SubmittedView):
    id: str


class SubmitFailure(RestModel):
    id: str
    code: str
    message: str
    field: str | None = None


class SubmittedBatchView(RestModel):
    submitted: list[SubmittedEntryView]
    failed: list[SubmitFailure]


class TaskErrorView(RestModel):
    type: Annotated[str, Field(min_length=1, max_length=256)]
    message: Annotated[str, Field(max_length=4_096)]
    traceback: str | None = Field(
        default=None, description="kept whole when it fits; else its end is kept"
    )


class TaskView(RestModel):
    task_id: str
    type: str
    state: TaskState
    priority: int
    attempt: int = Field(description="attempts started so far")
    max_attempts: int
    timeout_s: float
    created_at_ms: int
    run_at_ms: int | None = None
    worker_id: str | None = None
    lease_deadline_ms: int | None = None
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    duration_ms: int | None = None
    last_error: TaskErrorView | None = None
    result: JsonValue = None


class TaskList(RestModel):
    tasks: list[TaskView]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for more; a page may be short yet have one"
    )


# TaskState's names, spelled out: a query's schema is inlined in `/openapi.json`, where an enum
# class would be a reference to nowhere (a unit test keeps the two equal).
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


class TaskListQuery(QueryModel):
    state: TaskStateName
    limit: Annotated[int, Field(ge=1, le=TASK_PAGE_MAX)] = 50
    cursor: Annotated[str, Field(min_length=1, max_length=344)] | None = None


class CancelledView(RestModel):
    task_id: str
    state: Literal["cancelled"] = "cancelled"


class LeaseBody(RestModel):
    worker_id: Token
    max: BatchSize = 1
    lease_s: LeaseSeconds | None = Field(
        default=None, description="how long the tasks are held; default: the queue's visibility"
    )
    wait_s: Annotated[int, Field(ge=0, le=limits.RECEIVE_WAIT_MAX_MS // 1000)] = 0
    attempt_id: Token | None = Field(
        default=None, description="a retried lease with this id gets the same tasks"
    )


class LeasedView(RestModel):
    task_id: str
    lease: str = Field(description="this attempt's handle: heartbeat and finish with it")
    type: str
    payload: JsonValue
    attempt: int
    max_attempts: int
    timeout_s: float
    lease_deadline_ms: int = Field(description="at the latest; measured before the lease")
    trace_context: TraceContextBody | None = Field(
        default=None, description="the submitter's trace context: the worker's span links to it"
    )


class UndeliverableTaskView(RestModel):
    task_id: str
    reason: str


class LeaseList(RestModel):
    tasks: list[LeasedView]
    undeliverable: list[UndeliverableTaskView] = Field(default_factory=list)


class HeartbeatEntry(RestModel):
    lease: ReceiptHandle
    lease_s: Annotated[Seconds, Field(ge=0, le=limits.VISIBILITY_TIMEOUT_MAX_MS / 1000)] = Field(
        description="from now; 0 gives the task back at once (another worker may lease it)"
    )


class HeartbeatBody(RestModel):
    leases: Annotated[
        list[HeartbeatEntry], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class FinishReport(RestModel):
    lease: ReceiptHandle
    # "released": a lease handed back unstarted (a worker stopping): no attempt is counted.
    outcome: Literal["succeeded", "retry", "failed", "released"]
    result: JsonValue = Field(default=None, description="succeeded only")
    error: TaskErrorView | None = None
    retry_delay_s: DelaySeconds = 0
    trace_context: TraceContextBody | None = Field(
        default=None, description="the attempt's span (the worker's): the finish joins its trace"
    )

    @field_validator("result")
    @classmethod
    def _result_of_success(cls, result: JsonValue, info: ValidationInfo) -> JsonValue:
        json_text(result)
        if result is not None and info.data.get("outcome") not in (None, "succeeded"):
            raise ValueError("only a succeeded task has a result")
        return result


class FinishBody(RestModel):
    reports: Annotated[list[FinishReport], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)]


class LeaseFailure(RestModel):
    lease: str
    code: str
    message: str


class LeaseOutcomes(RestModel):
    succeeded: list[str]
    failed: list[LeaseFailure]


class TaskLimitsBody(RestModel):
    """Both absent (or null) clears the type's limits."""

    starts_per_s: Annotated[Seconds, Field(ge=0.001, le=RATE_MILLI_MAX / 1000)] | None = Field(
        default=None, description="starts per second, by all workers together"
    )
    max_running: Annotated[int, Field(ge=1, le=RUNNING_LIMIT_MAX)] | None = None


class TaskLimitsView(RestModel):
    type: str
    starts_per_s: float | None
    max_running: int | None
    running: int = 0


class TaskLimitsList(RestModel):
    limits: list[TaskLimitsView]


class TaskTypesBody(RestModel):
    """Types to declare (`add`) and to forget (`remove`, an operator's): once a queue has
    declared types, a task of another type is refused at submission."""

    add: Annotated[tuple[TaskType, ...], Field(max_length=TASK_TYPES_MAX)] = ()
    remove: Annotated[tuple[TaskType, ...], Field(max_length=TASK_TYPES_MAX)] = ()


class TaskTypesView(RestModel):
    types: list[str]

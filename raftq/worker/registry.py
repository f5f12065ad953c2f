"""Task handlers by type, and the pure rules of what a failed attempt becomes.

    tasks = Registry()

    @tasks.handler("email.send", max_attempts=5, timeout_s=30, no_retry_on=(ValueError,))
    async def send_email(payload: dict[str, Any], context: TaskContext) -> dict[str, Any]:
        ...

A handler takes the payload (and, if it declares a second parameter, a `TaskContext`) and
returns a JSON value: the task's result. Raising fails the attempt; `failure_report` decides
whether the queue retries it (after a full-jitter backoff that the queue holds, not the worker)
or gives up on it. Nothing here does I/O or reads a clock: the random draw is an input.
"""

from __future__ import annotations

import inspect
import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from raftq.client.task_models import LeasedTask, TaskError, TaskFinish
from raftq.common.errors import TaskTimedOut, UnknownTaskType
from raftq.common.tasks_wire import TASK_RESULT_MAX_BYTES, TASK_TYPE_MAX_CHARS

Executor = Literal["async", "thread", "process"]
Handler = Callable[..., Any]
ExceptionTypes = tuple[type[BaseException], ...]

_TYPE_PATTERN: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")
# The backend refuses an error report over 16 KiB (tasks_wire.TASK_ERROR_MAX_BYTES); a traceback
# is cut to this many characters (from its start: the innermost frames are last, so keep the
# tail) so that the report always fits with its message.
TRACEBACK_MAX_CHARS: Final = 8_000
MESSAGE_MAX_CHARS: Final = 2_000


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(max_s, base_s *
    factor**(n-1))) seconds before the next one."""

    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.factor < 1 or self.max_s < 0:
            raise ValueError(f"a backoff needs base_s >= 0, factor >= 1, max_s >= 0: {self}")

    def ceiling_s(self, attempt: int) -> float:
        """The largest delay after failed attempt `attempt` (1-based)."""
        try:
            grown = self.base_s * self.factor ** max(0, attempt - 1)
        except OverflowError:  # factor**n beyond a float: the cap applies anyway
            return self.max_s
        return min(self.max_s, grown)

    def delay_s(self, attempt: int, random: Callable[[], float]) -> float:
        """`random()` is a uniform draw in [0, 1): the caller's source, so tests fix it."""
        return random() * self.ceiling_s(attempt)


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a handler may want to know about the attempt it runs (picklable: process handlers
    get it too)."""

    task_id: str
    type: str
    attempt: int
    max_attempts: int
    worker_id: str


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    type: str
    function: Handler
    executor: Executor
    takes_context: bool
    max_attempts: int | None  # None: the task's own (its submission's `max_attempts`)
    timeout_s: float | None  # None: the task's own `timeout_s`
    backoff: Backoff
    retry_on: ExceptionTypes  # empty: every exception not in no_retry_on
    no_retry_on: ExceptionTypes

    def attempts_for(self, task: LeasedTask) -> int:
        """The attempt limit of this task: the stricter of the handler's and the task's."""
        if self.max_attempts is None:
            return task.max_attempts
        return min(self.max_attempts, task.max_attempts)

    def timeout_for(self, task: LeasedTask) -> float:
        """Both the handler's and the submission's limits are promises not to run longer."""
        if self.timeout_s is None:
            return task.timeout_s
        return min(self.timeout_s, task.timeout_s)

    def retries(self, error: BaseException) -> bool:
        """Whether this kind of failure is worth another attempt (attempts aside). A timeout
        always is: the handler may be slow only this once."""
        if isinstance(error, TaskTimedOut):
            return True
        if isinstance(error, self.no_retry_on):
            return False
        return not self.retry_on or isinstance(error, self.retry_on)


class Registry:
    """Handlers by task type. Build one at module level and name it on the command line:
    `raftq worker myapp.tasks:tasks --queue jobs`."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def handler(
        self,
        type: str,  # the task's type, as submissions name it
        *,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        backoff: Backoff | None = None,
        retry_on: ExceptionTypes = (),
        no_retry_on: ExceptionTypes = (),
        executor: Executor | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function for `type`. `executor` defaults to "async" for a
        coroutine function and "thread" otherwise; "process" runs each attempt in a process
        of its own (the function must be importable by name: a module-level function)."""
        if len(type) > TASK_TYPE_MAX_CHARS or not _TYPE_PATTERN.match(type):
            raise ValueError(f"a task type is a letter then letters, digits or _.:-, not {type!r}")
        if type in self._specs:
            raise ValueError(f"task type {type!r} already has a handler")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, not {max_attempts}")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, not {timeout_s}")

        def register(function: Handler) -> Handler:
            is_coroutine = inspect.iscoroutinefunction(function)
            chosen: Executor = executor or ("async" if is_coroutine else "thread")
            if (chosen == "async") != is_coroutine:
                raise ValueError(
                    f"{type!r}: executor {chosen!r} needs "
                    + ("a coroutine function" if chosen == "async" else "a plain function")
                )
            self._specs[type] = HandlerSpec(
                type=type,
                function=function,
                executor=chosen,
                takes_context=_takes_context(function),
                max_attempts=max_attempts,
                timeout_s=timeout_s,
                backoff=backoff or Backoff(),
                retry_on=retry_on,
                no_retry_on=no_retry_on,
            )
            return function

        return register

    def get(self, type: str) -> HandlerSpec | None:
        return self._specs.get(type)

    @property
    def types(self) -> list[str]:
        return sorted(self._specs)


def _takes_context(function: Handler) -> bool:
    positional = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not 1 <= len(positional) <= 2:
        raise ValueError(f"a handler takes (payload) or (payload, context), not {function!r}")
    return len(positional) == 2


def error_of(error: BaseException, traceback_text: str | None = None) -> TaskError:
    """The report of an exception: its class (qualified by module unless builtin), message and
    traceback (`traceback_text` when it was formatted elsewhere, in a handler's process), each
    cut to fit the backend's limit."""
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    text = traceback_text or "".join(traceback.format_exception(error))
    return TaskError(
        type=name[:200],
        message=str(error)[:MESSAGE_MAX_CHARS],
        traceback=text[-TRACEBACK_MAX_CHARS:],
    )


def unknown_type_report(task: LeasedTask, known: list[str]) -> TaskFinish:
    """No handler for the type: retrying on this worker cannot help, so the task fails now."""
    error = UnknownTaskType(f"no handler for task type {task.type!r} (this worker runs {known})")
    return TaskFinish(
        lease=task.lease,
        outcome="failed",
        error=TaskError(type=UnknownTaskType.code, message=str(error), traceback=None),
    )


def failure_report(
    spec: HandlerSpec,
    task: LeasedTask,
    error: BaseException,
    random: Callable[[], float],
    traceback_text: str | None = None,
) -> TaskFinish:
    """A failed attempt becomes a retry (after a backoff drawn from `random`, which the queue
    waits out) if the error is retryable and attempts remain, else a final failure."""
    report = error_of(error, traceback_text)
    if spec.retries(error) and task.attempt < spec.attempts_for(task):
        delay_s = spec.backoff.delay_s(task.attempt, random)
        return TaskFinish(lease=task.lease, outcome="retry", error=report, retry_delay_s=delay_s)
    return TaskFinish(lease=task.lease, outcome="failed", error=report)


def json_problem(result: Any) -> str | None:
    """Why a result cannot be the task's result, or None."""
    try:
        encoded = json.dumps(result, allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        return f"a value that is not JSON ({error})"
    if len(encoded) > TASK_RESULT_MAX_BYTES:
        return f"{len(encoded)} bytes of JSON, over the {TASK_RESULT_MAX_BYTES} a result may be"
    return None

"""The pure rules of the registry: backoff delays, which failures retry, the attempt limit."""

from __future__ import annotations

from typing import Any

import pytest

from raftq.client.task_models import LeasedTask
from raftq.common.errors import TaskTimedOut
from raftq.worker import Backoff, Registry, TaskContext
from raftq.worker.registry import failure_report, unknown_type_report


def _task(attempt: int = 1, max_attempts: int = 5, type: str = "job") -> LeasedTask:
    return LeasedTask("t1", "lease-1", type, {"x": 1}, attempt, max_attempts, 60.0, 1_000.0)


def test_backoff_is_full_jitter_below_the_exponential_ceiling() -> None:
    backoff = Backoff(base_s=1, factor=2, max_s=300)
    # the draw scales the ceiling: 0 gives 0, just under 1 gives just under the ceiling
    assert backoff.delay_s(1, lambda: 0.0) == 0.0
    assert backoff.delay_s(1, lambda: 0.5) == 0.5
    assert backoff.delay_s(3, lambda: 0.5) == 2.0  # ceiling 1 * 2**2 = 4
    assert backoff.delay_s(4, lambda: 0.999) == pytest.approx(7.992)


def test_backoff_is_capped_at_max_s_even_for_huge_attempts() -> None:
    backoff = Backoff(base_s=1, factor=2, max_s=300)
    assert backoff.ceiling_s(9) == 256
    assert backoff.ceiling_s(10) == 300
    assert backoff.ceiling_s(100) == 300
    assert Backoff(base_s=1, factor=1e300, max_s=5).ceiling_s(5) == 5  # overflow -> the cap


def test_a_backoff_with_a_shrinking_factor_is_refused() -> None:
    with pytest.raises(ValueError, match="factor"):
        Backoff(factor=0.5)


def _registry(**options: Any) -> Registry:
    tasks = Registry()

    @tasks.handler("job", **options)
    async def job(payload: Any) -> None:
        return None

    return tasks


def test_by_default_every_exception_but_no_retry_on_retries() -> None:
    spec = _registry(no_retry_on=(ValueError,)).get("job")
    assert spec is not None
    retried = failure_report(spec, _task(), OSError("disk"), lambda: 0.5)
    assert retried.outcome == "retry" and retried.retry_delay_s == 0.5
    assert retried.error is not None and retried.error.type == "OSError"
    given_up = failure_report(spec, _task(), ValueError("bad payload"), lambda: 0.5)
    assert given_up.outcome == "failed" and given_up.retry_delay_s == 0
    assert given_up.error is not None and given_up.error.message == "bad payload"
    assert given_up.error.traceback is not None and "ValueError" in given_up.error.traceback


def test_with_retry_on_only_those_exceptions_retry_and_no_retry_on_wins() -> None:
    spec = _registry(retry_on=(OSError,), no_retry_on=(FileNotFoundError,)).get("job")
    assert spec is not None
    assert failure_report(spec, _task(), ConnectionError(), lambda: 0).outcome == "retry"
    assert failure_report(spec, _task(), KeyError("k"), lambda: 0).outcome == "failed"
    assert failure_report(spec, _task(), FileNotFoundError(), lambda: 0).outcome == "failed"


def test_a_timeout_retries_even_when_retry_on_does_not_name_it() -> None:
    spec = _registry(retry_on=(OSError,)).get("job")
    assert spec is not None
    report = failure_report(spec, _task(), TaskTimedOut("slow"), lambda: 0)
    assert report.outcome == "retry"
    assert report.error is not None and report.error.type == "raftq.common.errors.TaskTimedOut"


def test_the_last_attempt_fails_for_good_whichever_limit_is_stricter() -> None:
    spec = _registry(max_attempts=3).get("job")
    assert spec is not None
    assert failure_report(spec, _task(attempt=2), OSError(), lambda: 0).outcome == "retry"
    assert failure_report(spec, _task(attempt=3), OSError(), lambda: 0).outcome == "failed"
    # the task's own limit is stricter than the handler's
    assert (
        failure_report(spec, _task(attempt=2, max_attempts=2), OSError(), lambda: 0).outcome
        == "failed"
    )


def test_an_unknown_type_fails_at_once_naming_the_known_ones() -> None:
    report = unknown_type_report(_task(type="nope"), ["job"])
    assert report.outcome == "failed" and report.error is not None
    assert report.error.type == "UnknownTaskType"
    assert "'nope'" in report.error.message and "['job']" in report.error.message


def test_the_executor_follows_the_function_and_a_mismatch_is_refused() -> None:
    tasks = Registry()

    @tasks.handler("a")
    async def a(payload: Any, context: TaskContext) -> None: ...

    @tasks.handler("b")
    def b(payload: Any) -> None: ...

    spec_a, spec_b = tasks.get("a"), tasks.get("b")
    assert spec_a is not None and spec_a.executor == "async" and spec_a.takes_context
    assert spec_b is not None and spec_b.executor == "thread" and not spec_b.takes_context
    with pytest.raises(ValueError, match="coroutine"):
        tasks.handler("c", executor="async")(b)
    with pytest.raises(ValueError, match="already"):
        tasks.handler("a")(b)


@pytest.mark.parametrize("bad", ["", "1job", "a b", "x" * 129, "ok/no"])
def test_a_malformed_task_type_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="task type"):
        Registry().handler(bad)


def test_a_handler_with_three_parameters_is_refused() -> None:
    def three(a: Any, b: Any, c: Any) -> None: ...

    with pytest.raises(ValueError, match="payload"):
        Registry().handler("job")(three)

"""The circuit breaker on a fake clock: opens after failures in a row, refuses at once while
open, lets one probe through after the open time, closes on its success."""

from __future__ import annotations

import pytest

from raftq.common.clock import FakeClock
from raftq.common.errors import BackendUnavailable
from raftq.frontend.circuit_breaker import BreakerSettings, CircuitBreaker

SETTINGS = BreakerSettings(failure_threshold=3, open_ms=1_000)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.failed()


def test_failures_in_a_row_open_it_and_a_success_in_between_resets_the_count() -> None:
    breaker = CircuitBreaker("c1", FakeClock(), SETTINGS)
    fail(breaker, 2)
    breaker.before_call()
    breaker.succeeded()
    fail(breaker, 2)
    still = breaker.state
    fail(breaker, 1)
    assert (still, breaker.state) == ("closed", "open")
    with pytest.raises(BackendUnavailable):
        breaker.before_call()


def test_after_the_open_time_one_probe_goes_through_and_decides() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("c1", clock, SETTINGS)
    fail(breaker, 3)
    clock.advance(999)
    before = breaker.state
    clock.advance(1)
    assert (before, breaker.state) == ("open", "half-open")
    breaker.before_call()  # the probe
    with pytest.raises(BackendUnavailable):
        breaker.before_call()  # others wait for it
    breaker.failed()  # the probe failed: open again for the whole open time
    reopened = breaker.state
    clock.advance(1_000)
    breaker.before_call()
    breaker.succeeded()
    assert (reopened, breaker.state) == ("open", "closed")
    breaker.before_call()
    breaker.before_call()


def test_a_probe_whose_caller_went_away_lets_the_next_call_probe() -> None:
    # Given a half-open breaker whose probe's caller was cancelled (its client disconnected)
    clock = FakeClock()
    breaker = CircuitBreaker("c1", clock, SETTINGS)
    fail(breaker, 3)
    clock.advance(1_000)
    breaker.before_call()
    # When the call is abandoned, neither a success nor a failure
    breaker.abandoned()
    # Then it is still half-open, and the next call is the probe (not refused forever)
    after_abandon = breaker.state
    breaker.before_call()
    breaker.succeeded()
    assert (after_abandon, breaker.state) == ("half-open", "closed")


@pytest.mark.parametrize(("threshold", "open_ms"), [(0, 1), (1, 0)])
def test_settings_that_cannot_work_are_refused(threshold: int, open_ms: int) -> None:
    with pytest.raises(ValueError):
        BreakerSettings(failure_threshold=threshold, open_ms=open_ms)

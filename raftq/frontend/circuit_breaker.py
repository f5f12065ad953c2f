"""A circuit breaker per dependency (a backend cluster, the metadata group), so a frontend stops
waiting on one that is down and answers at once instead (503, retry later).

closed     calls go through; `failure_threshold` failures in a row open the circuit.
open       calls are refused at once (`BackendUnavailable`) for `open_ms`.
half-open  after that, one call goes through as a probe: success closes the circuit, failure
           opens it again for another `open_ms`. Other calls are refused while the probe runs.

Only failures of the dependency count (timeouts, refused connections, 5xx); a client error is
an answer, and a healthy dependency gives it. Time comes from a `Clock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from raftq.common.clock import Clock
from raftq.common.errors import BackendUnavailable

State = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int = 5
    open_ms: int = 2_000

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.open_ms < 1:
            raise ValueError("a breaker needs a threshold and an open time of at least 1")


class CircuitBreaker:
    def __init__(self, name: str, clock: Clock, settings: BreakerSettings = BreakerSettings()):
        self.name = name
        self._clock = clock
        self._settings = settings
        self._failures = 0
        self._opened_at_ms: int | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at_ms is None:
            return "closed"
        if self._clock.monotonic_ms() - self._opened_at_ms >= self._settings.open_ms:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise `BackendUnavailable` if the call must not go out now; otherwise let it (and,
        half-open, make it the probe). Every allowed call must end in `succeeded`, `failed` or
        `abandoned`."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._probing:
            self._probing = True
            return
        raise BackendUnavailable(f"{self.name} is failing; not calling it for a moment")

    def abandoned(self) -> None:
        """The caller went away before the call ended (its task was cancelled): the call says
        nothing about the dependency, but a probe it made must not hold the circuit open."""
        self._probing = False

    def succeeded(self) -> None:
        self._failures, self._opened_at_ms, self._probing = 0, None, False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._settings.failure_threshold:
            self._opened_at_ms = self._clock.monotonic_ms()
        self._probing = False

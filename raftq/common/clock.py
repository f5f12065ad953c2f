"""Time as an input.

Services read time through a `Clock`; tests pass a `FakeClock` and advance it instead of sleeping.
State machines never read a clock at all: the leader stamps `now_ms` into each command.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the Unix epoch."""
        ...

    def monotonic_ms(self) -> int:
        """A clock that never goes back, for timeouts and durations."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = start_ms
        self._monotonic_ms = 0

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic_ms(self) -> int:
        return self._monotonic_ms

    def advance(self, delta_ms: int) -> None:
        if delta_ms < 0:
            raise ValueError("a fake clock moves forward only; use set_wall_ms to skew it")
        self._now_ms += delta_ms
        self._monotonic_ms += delta_ms

    def set_wall_ms(self, now_ms: int) -> None:
        """Skew the wall clock (either way) without touching the monotonic one."""
        self._now_ms = now_ms

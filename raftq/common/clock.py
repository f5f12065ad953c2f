"""Time as an input.

Services read time through a `Clock`; tests pass a `FakeClock` and advance it instead of sleeping.
State machines never read a clock at all: the leader stamps `now_ms` into each command.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
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


OFFSET_FILE_VARIABLE = "RAFTQ_FAULT_CLOCK_OFFSET_FILE"


class OffsetClock:
    """Another clock with its wall time moved by an offset in milliseconds read from a file: the
    chaos suite's clock-skew fault (a leader whose clock runs ahead or behind its peers'). The file
    holds one integer (`5000`, `-2000`); a missing, empty or malformed file means no offset. It
    is re-read at most every `reread_ms`, so a fault is set and healed by writing or removing it.
    The monotonic clock is never moved: only wall time is skewed, as NTP trouble would."""

    def __init__(self, path: Path, base: Clock | None = None, reread_ms: int = 100) -> None:
        self._path = path
        self._base: Clock = base if base is not None else SystemClock()
        self._reread_ms = reread_ms
        self._offset_ms = 0
        self._next_read_ms: int | None = None

    def now_ms(self) -> int:
        return self._base.now_ms() + self.offset_ms()

    def monotonic_ms(self) -> int:
        return self._base.monotonic_ms()

    def offset_ms(self) -> int:
        now = self._base.monotonic_ms()
        if self._next_read_ms is None or now >= self._next_read_ms:
            self._offset_ms = _read_offset(self._path)
            self._next_read_ms = now + self._reread_ms
        return self._offset_ms


def _read_offset(path: Path) -> int:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return 0
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", text):
        return 0
    return int(text)


def clock_from_environment(environ: Mapping[str, str] = os.environ) -> Clock:
    """The machine's clocks; with `RAFTQ_FAULT_CLOCK_OFFSET_FILE` set (chaos deployments only),
    an `OffsetClock` reading that file."""
    path = environ.get(OFFSET_FILE_VARIABLE)
    return OffsetClock(Path(path)) if path else SystemClock()

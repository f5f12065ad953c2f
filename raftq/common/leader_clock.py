"""The time a leader stamps into commands: its wall clock, kept from jumping by its monotonic one.

State time is the largest time ever stamped (the state machines keep it with `max`), so a leader
whose wall clock steps forward (an NTP step, a VM resumed, `date -s`) would move state time for
good: leases, delays, retention and dedup windows would end early, and no later correction of
the clock could undo it. `LeaderClock.now_ms` therefore keeps an anchor, a wall time and the
monotonic time it was read at, and answers as follows:

- In step: while the wall clock is at most `ALLOWANCE_MS` ahead of the anchor carried forward by
  the monotonic clock, the answer is wall time, and that reading becomes the anchor. A wall clock
  that steps back is in step too; the answer then holds at the last one until the wall clock
  passes it (answers never go back; neither does state time).
- Stepped ahead: otherwise the answer is the anchor carried forward by the monotonic clock, plus
  `ALLOWANCE_MS`, plus a catch-up of 1 ms per `CATCH_UP_DIVISOR` ms since the step was first
  seen. The anchor stays put, so the allowance counts once, not once per stamp. Time runs at the
  monotonic rate (1 % faster) until the wall clock is in step again or has been caught up with.
  It catches up because a forward step is sometimes the truth: a paused VM's monotonic clock
  did not run while real time passed, and a clock that was behind gets corrected forward.
  Never catching up would hold this node's time behind the truth for as long as it runs.
- A new leader: `state_clock_ms` (the state time this node applied) is adopted as the anchor
  when it is ahead of both this node's last answer and its anchor carried forward, that is when
  another leader stamped later than this node's own clock can vouch for. This node then goes on
  from the agreed time rather than from a clock of its own that lags (a VM resumed while it
  followed); stepped ahead, it still goes at most `ALLOWANCE_MS` past the agreed time, plus the
  catch-up. A state clock behind the anchor (an old one, replayed after the whole group was down)
  is never adopted: that would hold time back by the downtime.

Limits: the anchor is first read when the node starts, so a wall clock that is already wrong
then (ahead) is believed, as before, until it is corrected, and the node's answers then hold
until the wall clock catches up. Tolerating that needs the group to agree on a clock (the
median of the members' clocks, say), which this does not do. Between the anchor's readings
(while the node follows) a monotonic clock that runs slow against the wall clock (some hosts
slew them apart by milliseconds per second) is taken for a step, and caught up with as one.

Not thread-safe: one event loop reads it.
"""

from __future__ import annotations

from collections.abc import Callable

from raftq.common.clock import Clock

# A wall clock this far ahead of the monotonic clock's count is still in step: reading the two
# clocks to the millisecond, and slewing them apart by up to milliseconds per second on some
# hosts, separates them a little between two stamps. A step by more is absorbed.
ALLOWANCE_MS = 100
# A wall clock ahead of the monotonic count is caught up with at 1 % of the monotonic rate: a
# wrong step ends leases at most 1 % (and the allowance) early, a true one (a paused VM's) is
# caught up with at 36 s per hour.
CATCH_UP_DIVISOR = 100


class LeaderClock:
    """A `Clock` whose wall time never goes back and advances no faster than its monotonic
    time, within the allowance and the catch-up (module docstring)."""

    def __init__(self, clock: Clock, state_clock_ms: Callable[[], int] = lambda: 0) -> None:
        self._clock = clock
        self._state_clock_ms = state_clock_ms
        self._anchor_ms = clock.now_ms()
        self._anchor_monotonic_ms = clock.monotonic_ms()
        self._ahead_since_monotonic_ms: int | None = None
        self._last_ms = 0

    def now_ms(self) -> int:
        wall_ms = self._clock.now_ms()
        monotonic_ms = self._clock.monotonic_ms()
        state_ms = self._state_clock_ms()
        if state_ms > self._last_ms and state_ms > self._carried_ms(monotonic_ms):
            self._anchor(state_ms, monotonic_ms)
        catch_up_ms = 0
        if self._ahead_since_monotonic_ms is not None:
            catch_up_ms = (monotonic_ms - self._ahead_since_monotonic_ms) // CATCH_UP_DIVISOR
        bound_ms = self._carried_ms(monotonic_ms) + ALLOWANCE_MS + catch_up_ms
        if wall_ms <= bound_ms:
            self._anchor(wall_ms, monotonic_ms)
            time_ms = wall_ms
        else:
            if self._ahead_since_monotonic_ms is None:
                self._ahead_since_monotonic_ms = monotonic_ms
            time_ms = bound_ms
        self._last_ms = max(self._last_ms, time_ms)
        return self._last_ms

    def monotonic_ms(self) -> int:
        return self._clock.monotonic_ms()

    def _carried_ms(self, monotonic_ms: int) -> int:
        """The anchor carried forward to `monotonic_ms` by the monotonic clock."""
        return self._anchor_ms + (monotonic_ms - self._anchor_monotonic_ms)

    def _anchor(self, time_ms: int, monotonic_ms: int) -> None:
        self._anchor_ms, self._anchor_monotonic_ms = time_ms, monotonic_ms
        self._ahead_since_monotonic_ms = None

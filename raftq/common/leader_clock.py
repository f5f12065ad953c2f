"""The time a leader stamps into commands: its wall clock, kept from jumping by its monotonic one.

State time is the largest time ever stamped (the state machines keep it with `max`), so a leader
whose wall clock steps forward (an NTP step, a VM resumed, `date -s`) would move state time for
good: leases, delays, retention and dedup windows would end early, and no later correction of
the clock could undo it. `LeaderClock.now_ms` therefore keeps an anchor, a time and the
monotonic time it held at, and answers as follows:

- In step: while the wall clock is at most the anchor's slack ahead of the anchor carried
  forward by the monotonic clock, the answer is wall time, and that reading becomes the anchor,
  with `ALLOWANCE_MS` of slack. A wall clock that steps back is in step too; the answer then
  holds at the last one until the wall clock passes it (answers never go back; neither does
  state time).
- Stepped ahead: otherwise the answer is the anchor carried forward by the monotonic clock, plus
  its slack, plus a catch-up of 1 ms per `CATCH_UP_DIVISOR` ms since the step was first seen.
  The anchor stays put, so the slack counts once, not once per stamp. Time runs at the
  monotonic rate (1 % faster) until the wall clock is in step again or has been caught up with.
  It catches up because a forward step is sometimes the truth: a paused VM's monotonic clock
  did not run while real time passed, and a clock that was behind gets corrected forward.
- A new term (this node leads after an election): time goes on from the agreed time, not jumps.
  `AppliedTime` says the latest state time this node applied and its monotonic time when it
  applied it; carried forward from then, it counts the election's gap. When that is ahead of
  this node's own anchor carried forward, it becomes the anchor with no slack: the previous
  leader's stamps already had theirs. The catch-up starts again, and answers go on from the
  state time (not from any this node gave in an earlier term, which may never have committed).
  So when every member's wall clock stepped at once (a host's), each new leader continues its
  predecessor's course instead of its own, and leadership moving between members that hold
  different courses cannot move time ahead of what the leases were granted on. A state time
  replayed at start (after the whole group was down) carries forward from the start and is
  behind the node's own anchor: it does not hold time back by the downtime.

Limits: the anchor is first read when the node starts, so a wall clock that is already wrong
then (ahead) is believed, as before, until it is corrected, and the node's answers then hold
until the wall clock catches up. Tolerating that needs the group to agree on a clock (the
median of the members' clocks, say), which this does not do. Between the anchor's readings
(while the node follows) a monotonic clock that runs slow against the wall clock (some hosts
slew them apart by milliseconds per second) is taken for a step, and caught up with as one.
A follower learns of commits with the leader's next message, so the agreed time it carries
lags by up to a heartbeat: a new leader's course is behind, never ahead of, its predecessor's.

Not thread-safe: one event loop reads it (`AppliedTime` is written by the Raft thread).
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


class AppliedTime:
    """The latest state time this node applied, and its monotonic time when it did.

    The Raft thread calls `observe` after each entry; `latest` is one tuple, replaced whole, so
    the event loop reads a consistent pair without a lock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.latest: tuple[int, int] = (0, clock.monotonic_ms())

    def observe(self, state_ms: int) -> None:
        if state_ms > self.latest[0]:
            self.latest = (state_ms, self._clock.monotonic_ms())


class LeaderClock:
    """A `Clock` whose wall time never goes back and advances no faster than its monotonic
    time, within the allowance and the catch-up, and which a new leader continues from the
    agreed time (module docstring)."""

    def __init__(
        self,
        clock: Clock,
        applied: AppliedTime | None = None,
        term: Callable[[], int] = lambda: 0,
    ) -> None:
        self._clock = clock
        self._applied = applied if applied is not None else AppliedTime(clock)
        self._term = term
        self._term_seen = term()
        self._anchor_ms = clock.now_ms()
        self._anchor_monotonic_ms = clock.monotonic_ms()
        self._slack_ms = ALLOWANCE_MS
        self._ahead_since_monotonic_ms: int | None = None
        self._last_ms = 0

    def now_ms(self) -> int:
        wall_ms = self._clock.now_ms()
        monotonic_ms = self._clock.monotonic_ms()
        term = self._term()
        if term != self._term_seen:
            self._term_seen = term
            self._go_on_from_agreed_time(monotonic_ms)
        catch_up_ms = 0
        if self._ahead_since_monotonic_ms is not None:
            catch_up_ms = (monotonic_ms - self._ahead_since_monotonic_ms) // CATCH_UP_DIVISOR
        bound_ms = self._carried_ms(monotonic_ms) + self._slack_ms + catch_up_ms
        if wall_ms <= bound_ms:
            self._anchor(wall_ms, monotonic_ms, ALLOWANCE_MS)
            time_ms = wall_ms
        else:
            if self._ahead_since_monotonic_ms is None:
                self._ahead_since_monotonic_ms = monotonic_ms
            time_ms = bound_ms
        self._last_ms = max(self._last_ms, time_ms)
        return self._last_ms

    def monotonic_ms(self) -> int:
        return self._clock.monotonic_ms()

    def _go_on_from_agreed_time(self, monotonic_ms: int) -> None:
        state_ms, applied_monotonic_ms = self._applied.latest
        self._last_ms = state_ms
        self._ahead_since_monotonic_ms = None
        agreed_ms = state_ms + max(0, monotonic_ms - applied_monotonic_ms)
        if agreed_ms > self._carried_ms(monotonic_ms):
            self._anchor(state_ms, applied_monotonic_ms, 0)

    def _carried_ms(self, monotonic_ms: int) -> int:
        """The anchor carried forward to `monotonic_ms` by the monotonic clock."""
        return self._anchor_ms + (monotonic_ms - self._anchor_monotonic_ms)

    def _anchor(self, time_ms: int, monotonic_ms: int, slack_ms: int) -> None:
        self._anchor_ms, self._anchor_monotonic_ms = time_ms, monotonic_ms
        self._slack_ms = slack_ms
        self._ahead_since_monotonic_ms = None

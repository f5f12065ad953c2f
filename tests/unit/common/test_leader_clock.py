"""The leader's clock: wall time, kept from jumping ahead of the monotonic clock (issue 17, 6).

A `FakeClock` moves both clocks together (`advance`) or steps the wall clock alone
(`set_wall_ms`), as NTP or a resumed VM would.
"""

from __future__ import annotations

from raftq.common.clock import FakeClock
from raftq.common.leader_clock import ALLOWANCE_MS, CATCH_UP_DIVISOR, AppliedTime, LeaderClock
from raftq.common.limits import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS

START_MS = 1_700_000_000_000


def in_step(clock: FakeClock, leader: LeaderClock, times: int = 3) -> None:
    """Normal operation: with the two clocks in step, the stamp is wall time."""
    for _ in range(times):
        clock.advance(250)
        assert leader.now_ms() == clock.now_ms()


def test_a_forward_step_of_the_wall_clock_advances_stamps_by_monotonic_time_only() -> None:
    # Given a leader stamping wall time
    clock = FakeClock(START_MS)
    leader = LeaderClock(clock)
    in_step(clock, leader)
    before_ms = leader.now_ms()
    # When its wall clock steps an hour ahead
    clock.set_wall_ms(clock.now_ms() + HOUR_MS)
    # Then the stamp moves by the allowance, and then by the monotonic time that passes
    first_ms = leader.now_ms()
    assert first_ms == before_ms + ALLOWANCE_MS
    clock.advance(SECOND_MS)
    catch_up_ms = SECOND_MS // CATCH_UP_DIVISOR
    assert leader.now_ms() == first_ms + SECOND_MS + catch_up_ms
    clock.advance(MINUTE_MS)
    catch_up_ms = (SECOND_MS + MINUTE_MS) // CATCH_UP_DIVISOR
    assert leader.now_ms() == first_ms + SECOND_MS + MINUTE_MS + catch_up_ms
    assert leader.now_ms() < clock.now_ms() - 58 * MINUTE_MS


def test_after_the_wall_clock_is_stepped_back_stamps_never_go_back_and_then_are_wall_time() -> None:
    # Given a leader whose wall clock stepped an hour ahead for ten seconds
    clock = FakeClock(START_MS)
    leader = LeaderClock(clock)
    in_step(clock, leader)
    clock.set_wall_ms(clock.now_ms() + HOUR_MS)
    stamps = [leader.now_ms()]
    for _ in range(10):
        clock.advance(SECOND_MS)
        stamps.append(leader.now_ms())
    # When it is stepped back to the truth
    clock.set_wall_ms(clock.now_ms() - HOUR_MS)
    # Then the stamps hold (never back) until the wall clock passes the highest one, which is
    # ahead of it by no more than the allowance and the catch-up, not by the hour
    assert stamps[-1] - clock.now_ms() == ALLOWANCE_MS + 10 * SECOND_MS // CATCH_UP_DIVISOR
    while clock.now_ms() < stamps[-1]:
        stamps.append(leader.now_ms())
        clock.advance(10)
    assert stamps == sorted(stamps)
    # And from then on they are wall time again
    in_step(clock, leader)


def test_a_wall_clock_that_stays_ahead_is_caught_up_with_at_one_percent() -> None:
    # Given a leader whose wall clock steps a minute ahead and stays there (a true step, say)
    clock = FakeClock(START_MS)
    leader = LeaderClock(clock)
    in_step(clock, leader)
    clock.set_wall_ms(clock.now_ms() + MINUTE_MS)
    ahead_since_ms = leader.now_ms()
    # When a stamp is taken every minute
    stamps = []
    for _ in range(120):
        clock.advance(MINUTE_MS)
        stamps.append(leader.now_ms())
    walls = [START_MS + 750 + (minute + 1) * MINUTE_MS for minute in range(1, 121)]
    # Then time runs 1 % fast until it meets the wall clock (60 s less the allowance take
    # 99.83 minutes to make up: the 100th stamp), never past it
    caught_up = next(
        i for i, (stamp, wall) in enumerate(zip(stamps, walls, strict=True)) if stamp == wall
    )
    assert caught_up == 99
    for minute, stamp in enumerate(stamps[:caught_up], start=1):
        elapsed_ms = minute * MINUTE_MS
        assert stamp == ahead_since_ms + elapsed_ms + elapsed_ms // CATCH_UP_DIVISOR
        assert stamp < walls[minute - 1]
    # And from then on the stamps are wall time
    assert stamps[caught_up:] == walls[caught_up:]
    in_step(clock, leader)


def test_a_node_whose_wall_clock_stepped_ahead_while_it_followed_stamps_from_its_own_count() -> (
    None
):
    # Given a node that started ten minutes ago and has stamped nothing since (it followed), and
    # applied the previous leader's last stamp two seconds ago
    clock = FakeClock(START_MS)
    applied, term = AppliedTime(clock), Term()
    leader = LeaderClock(clock, applied, term)
    clock.advance(10 * MINUTE_MS - 2 * SECOND_MS)
    applied.observe(clock.now_ms())
    clock.advance(2 * SECOND_MS)
    # When its wall clock steps an hour ahead before it leads
    clock.set_wall_ms(clock.now_ms() + HOUR_MS)
    term.elected()
    # Then its first stamp is its start carried forward by its monotonic clock
    assert leader.now_ms() == START_MS + 10 * MINUTE_MS + ALLOWANCE_MS


def test_a_new_leader_whose_monotonic_clock_lost_time_goes_on_from_the_applied_state_time() -> None:
    # Given a node whose monotonic clock missed ten minutes (its VM was paused while it followed)
    clock = FakeClock(START_MS)
    applied, term = AppliedTime(clock), Term()
    leader = LeaderClock(clock, applied, term)
    clock.advance(MINUTE_MS)
    clock.set_wall_ms(clock.now_ms() + 10 * MINUTE_MS)  # its wall clock was put right
    # When it leads after applying a leader's stamp of a second ago
    agreed_ms = clock.now_ms() - SECOND_MS
    applied.observe(agreed_ms)
    term.elected()
    # Then it goes on from that agreed time, not from its own count ten minutes behind
    first_ms = leader.now_ms()
    assert first_ms == agreed_ms
    clock.advance(SECOND_MS)
    assert leader.now_ms() == first_ms + SECOND_MS + SECOND_MS // CATCH_UP_DIVISOR


def test_a_state_time_left_behind_by_downtime_does_not_hold_a_new_leader_back() -> None:
    # Given a group that was down for a day: the state time its nodes replay is a day old
    clock = FakeClock(START_MS)
    applied, term = AppliedTime(clock), Term()
    applied.observe(START_MS - DAY_MS)
    leader = LeaderClock(clock, applied, term)
    # When a node that just started leads
    clock.advance(SECOND_MS)
    term.elected()
    # Then it stamps its wall time
    assert leader.now_ms() == clock.now_ms()
    in_step(clock, leader)


# --- leadership moving while every member's clock stepped at once (one host's) ------------------


class Term:
    """A member's Raft term, as `LeaderClock` reads it."""

    def __init__(self) -> None:
        self.value = 0

    def elected(self) -> None:
        self.value += 1

    def __call__(self) -> int:
        return self.value


class Member:
    def __init__(self, clock: FakeClock) -> None:
        self.applied, self.term = AppliedTime(clock), Term()
        self.clock = LeaderClock(clock, self.applied, self.term)


class Group:
    """Members on one host clock. A committed stamp is applied by every member `lag_ms` later
    (followers learn commits with the leader's next message); `committed` keeps each one with
    the monotonic time it was stamped at."""

    def __init__(self, clock: FakeClock, size: int = 3, lag_ms: int = 200) -> None:
        self.host = clock
        self.members = [Member(clock) for _ in range(size)]
        self.lag_ms = lag_ms
        self.committed: list[tuple[int, int]] = []

    def election(self, gap_ms: int) -> None:
        """An election of `gap_ms`: every member is in the next term."""
        self.host.advance(gap_ms)
        for member in self.members:
            member.term.value = max(m.term.value for m in self.members) + 1

    def lead(self, leader: Member, for_ms: int, *, commits: bool = True) -> None:
        for _ in range(for_ms // 100):
            stamp_ms = leader.clock.now_ms()
            stamped_at_ms = self.host.monotonic_ms()
            self.host.advance(self.lag_ms if commits else 100)
            if commits:
                self.committed.append((stamp_ms, stamped_at_ms))
                for member in self.members:
                    member.applied.observe(stamp_ms)
                self.host.advance(100 - self.lag_ms % 100)


def assert_time_ran_no_faster_than_the_monotonic_clock(group: Group, steps: int) -> None:
    """Between any two committed stamps, time advanced by at most the monotonic time between
    them, 1 % more, and the allowance once for each step of the wall clock: a lease granted
    on one stamp never ends earlier than that by another, whoever leads."""
    for i, (first_ms, first_at_ms) in enumerate(group.committed):
        for later_ms, later_at_ms in group.committed[i + 1 :]:
            elapsed_ms = later_at_ms - first_at_ms
            limit_ms = elapsed_ms + elapsed_ms // CATCH_UP_DIVISOR + steps * ALLOWANCE_MS + 1
            assert later_ms - first_ms <= limit_ms, (first_ms, later_ms, elapsed_ms)


def test_after_a_host_clock_step_leadership_moving_back_and_forth_does_not_move_time_ahead() -> (
    None
):
    # Given three members on one host whose wall clock steps ten seconds ahead (a VM stalled
    # while its monotonic clock did not count) while the first leads
    clock = FakeClock(START_MS)
    group = Group(clock)
    first, second, _ = group.members
    group.election(0)
    group.lead(first, 2 * SECOND_MS)
    clock.set_wall_ms(clock.now_ms() + 10 * SECOND_MS)
    group.lead(first, 20 * SECOND_MS)
    # When the first is paused, the second leads after an election of three seconds, and then
    # the first leads again after another
    group.election(3 * SECOND_MS)
    group.lead(second, 10 * SECOND_MS)
    group.election(3 * SECOND_MS)
    group.lead(first, 10 * SECOND_MS)
    # Then time never ran ahead of the monotonic clock (and the one allowance for the step),
    # so no lease ended early in any leader's term
    assert_time_ran_no_faster_than_the_monotonic_clock(group, steps=1)
    # And it still catches up with the wall clock, behind it by about the step
    last_ms = group.committed[-1][0]
    assert clock.now_ms() - 10 * SECOND_MS - 6 * SECOND_MS < last_ms < clock.now_ms()


def test_after_a_host_clock_step_an_isolated_leader_s_uncommitted_stamps_do_not_move_time() -> None:
    # Given three members on one host whose wall clock stepped ahead, the first leading
    clock = FakeClock(START_MS)
    group = Group(clock)
    first, second, _ = group.members
    group.election(0)
    group.lead(first, SECOND_MS)
    clock.set_wall_ms(clock.now_ms() + 10 * SECOND_MS)
    group.lead(first, 10 * SECOND_MS)
    # When the first, cut off, stamps for ten seconds what never commits, while the second
    # leads, and the first leads again once the partition heals
    group.lead(first, 3 * SECOND_MS, commits=False)
    group.election(0)
    group.lead(second, 7 * SECOND_MS)
    group.election(3 * SECOND_MS)
    group.lead(first, 10 * SECOND_MS)
    # Then time never ran ahead of the monotonic clock in any term
    assert_time_ran_no_faster_than_the_monotonic_clock(group, steps=1)


def test_leadership_moving_with_clocks_in_step_stamps_wall_time() -> None:
    # Given three members on one host, clocks in step
    clock = FakeClock(START_MS)
    group = Group(clock)
    first, second, third = group.members
    # When leadership moves from one to the next after elections
    for leader in (first, second, third, first):
        group.election(2 * SECOND_MS)
        # Then each leader's first and every later stamp is wall time
        assert leader.clock.now_ms() == clock.now_ms()
        group.lead(leader, SECOND_MS)
        assert leader.clock.now_ms() == clock.now_ms()

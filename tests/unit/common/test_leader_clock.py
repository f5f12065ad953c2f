"""The leader's clock: wall time, kept from jumping ahead of the monotonic clock (issue 17, 6).

A `FakeClock` moves both clocks together (`advance`) or steps the wall clock alone
(`set_wall_ms`), as NTP or a resumed VM would.
"""

from __future__ import annotations

from raftq.common.clock import FakeClock
from raftq.common.leader_clock import ALLOWANCE_MS, CATCH_UP_DIVISOR, LeaderClock
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
    # Given a node that started ten minutes ago and has stamped nothing since (it followed)
    clock = FakeClock(START_MS)
    agreed_ms = START_MS
    leader = LeaderClock(clock, lambda: agreed_ms)
    clock.advance(10 * MINUTE_MS)
    agreed_ms = clock.now_ms() - 2 * SECOND_MS  # the previous leader's last stamp
    # When its wall clock steps an hour ahead before it leads
    clock.set_wall_ms(clock.now_ms() + HOUR_MS)
    # Then its first stamp is its start carried forward by its monotonic clock
    assert leader.now_ms() == START_MS + 10 * MINUTE_MS + ALLOWANCE_MS


def test_a_new_leader_whose_monotonic_clock_lost_time_goes_on_from_the_applied_state_time() -> None:
    # Given a node whose monotonic clock missed ten minutes (its VM was paused while it followed)
    clock = FakeClock(START_MS)
    agreed_ms = 0
    leader = LeaderClock(clock, lambda: agreed_ms)
    clock.advance(MINUTE_MS)
    clock.set_wall_ms(clock.now_ms() + 10 * MINUTE_MS)  # its wall clock was put right
    # When it leads after a leader whose last stamp it applied was a second ago
    agreed_ms = clock.now_ms() - SECOND_MS
    # Then it goes on from that agreed time, not from its own count ten minutes behind
    first_ms = leader.now_ms()
    assert first_ms == agreed_ms + ALLOWANCE_MS
    clock.advance(SECOND_MS)
    assert leader.now_ms() == first_ms + SECOND_MS + SECOND_MS // CATCH_UP_DIVISOR


def test_a_state_time_left_behind_by_downtime_does_not_hold_a_new_leader_back() -> None:
    # Given a group that was down for a day: the state time its nodes replay is a day old
    clock = FakeClock(START_MS)
    leader = LeaderClock(clock, lambda: START_MS - DAY_MS)
    # When a node that just started leads
    clock.advance(SECOND_MS)
    # Then it stamps its wall time
    assert leader.now_ms() == clock.now_ms()
    in_step(clock, leader)

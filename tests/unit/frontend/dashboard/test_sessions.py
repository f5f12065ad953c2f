"""Dashboard sessions: sliding expiry, a hard limit, a bounded table (sessions.py)."""

from __future__ import annotations

import itertools

from raftq.common.clock import FakeClock
from raftq.frontend.dashboard.sessions import IDLE_MS, MAX_AGE_MS, Sessions


def _ids() -> itertools.count[int]:
    return itertools.count()


def sessions(clock: FakeClock, **options: int) -> Sessions:
    counter = _ids()
    return Sessions(clock, new_id=lambda: f"id-{next(counter)}", **options)


def test_a_session_is_found_by_its_id_and_carries_its_own_csrf_token() -> None:
    table = sessions(FakeClock())
    started = table.start("KEY1")
    used = table.use(started.session_id)
    assert used is not None and used.key_id == "KEY1"
    assert used.csrf_token == started.csrf_token != started.session_id
    assert table.use("id-unknown") is None and table.use(None) is None and table.use("") is None


def test_a_session_unused_for_the_idle_time_ends_and_use_moves_its_expiry_on() -> None:
    # Given a session used every 14 minutes for an hour
    clock = FakeClock()
    table = sessions(clock)
    session_id = table.start("KEY1").session_id
    for _ in range(4):
        clock.advance(IDLE_MS - 60_000)
        assert table.use(session_id) is not None
    # When it is then left alone for the idle time
    clock.advance(IDLE_MS)
    # Then it is gone, and forgotten
    assert table.use(session_id) is None
    assert len(table) == 0


def test_a_session_ends_at_its_maximum_age_however_often_it_is_used() -> None:
    clock = FakeClock()
    table = sessions(clock)
    session_id = table.start("KEY1").session_id
    used = 0
    while table.use(session_id) is not None:
        used += 1
        clock.advance(60_000)
    assert used == MAX_AGE_MS // 60_000


def test_sign_ins_past_the_bound_drop_the_expired_then_the_least_recently_used() -> None:
    # Given a table of 3 sessions, the first used last
    clock = FakeClock()
    table = sessions(clock, max_sessions=3)
    first, second, third = (table.start(f"KEY{n}").session_id for n in range(3))
    clock.advance(1_000)
    assert table.use(first) is not None
    # When a fourth key signs in
    fourth = table.start("KEY3").session_id
    # Then the one used longest ago (the second) made room
    assert len(table) == 3
    assert table.use(second) is None
    assert all(table.use(s) is not None for s in (first, third, fourth))


def test_a_page_open_for_an_hour_and_many_abandoned_sign_ins_keep_the_table_bounded() -> None:
    # Given a bound of 50 sessions, and one page that polls every 2 s for an hour while
    # someone signs in every 10 s and never comes back
    clock = FakeClock()
    table = sessions(clock, max_sessions=50)
    page = table.start("KEY-PAGE").session_id
    largest = 0
    for tick in range(3_600 // 2):
        clock.advance(2_000)
        assert table.use(page) is not None  # the open page stays signed in
        if tick % 5 == 0:
            table.start(f"KEY-{tick}")
        largest = max(largest, len(table))
    # Then the table never held more than its bound
    assert largest == 50

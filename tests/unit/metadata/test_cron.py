"""Cron expressions and intervals (raftq/metadata/cron.py): when ticks fall, in time zones and
across daylight saving changes, and what is refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from raftq.common.errors import InvalidParameter
from raftq.metadata import cron


def _ms(text: str, tz: str = "UTC") -> int:
    """Wall-clock `YYYY-MM-DD HH:MM` in `tz` (the first occurrence of a repeated time)."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def _text(ms: int, tz: str = "UTC") -> str:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %a")


def _ticks(expression: str, after: str, count: int, tz: str = "UTC") -> list[str]:
    spec = cron.parse_cron(expression, tz)
    ticks, at_ms = [], _ms(after, tz)
    for _ in range(count):
        at_ms = cron.next_tick_ms(spec, at_ms)
        ticks.append(_text(at_ms, tz))
    return ticks


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", "2025-01-01 10:00", ["2025-01-01 10:01 Wed", "2025-01-01 10:02 Wed"]),
        ("*/15 * * * *", "2025-01-01 10:07", ["2025-01-01 10:15 Wed", "2025-01-01 10:30 Wed"]),
        ("5/20 * * * *", "2025-01-01 10:06", ["2025-01-01 10:25 Wed", "2025-01-01 10:45 Wed"]),
        ("0 9-17/4 * * *", "2025-01-01 09:00", ["2025-01-01 13:00 Wed", "2025-01-01 17:00 Wed"]),
        ("30 8 * * mon-fri", "2025-01-03 09:00", ["2025-01-06 08:30 Mon", "2025-01-07 08:30 Tue"]),
        ("0 0 * * 7", "2025-01-01 00:00", ["2025-01-05 00:00 Sun", "2025-01-12 00:00 Sun"]),
        ("0 0 * * SUN,sat", "2025-01-01 00:00", ["2025-01-04 00:00 Sat", "2025-01-05 00:00 Sun"]),
        ("0 12 1 jan,Jul *", "2025-02-01 00:00", ["2025-07-01 12:00 Tue", "2026-01-01 12:00 Thu"]),
        ("0 0 31 * *", "2025-01-31 00:00", ["2025-03-31 00:00 Mon", "2025-05-31 00:00 Sat"]),
        ("0 0 29 2 *", "2025-01-01 00:00", ["2028-02-29 00:00 Tue", "2032-02-29 00:00 Sun"]),
        # Both day fields restricted: either matches (Vixie cron).
        ("0 0 13 * fri", "2025-06-01 00:00", ["2025-06-06 00:00 Fri", "2025-06-13 00:00 Fri"]),
        ("0 0 1,15 * 3", "2025-01-02 00:00", ["2025-01-08 00:00 Wed", "2025-01-15 00:00 Wed"]),
        ("@hourly", "2025-01-01 10:59", ["2025-01-01 11:00 Wed", "2025-01-01 12:00 Wed"]),
        ("@daily", "2025-12-31 23:00", ["2026-01-01 00:00 Thu", "2026-01-02 00:00 Fri"]),
        ("@weekly", "2025-01-01 00:00", ["2025-01-05 00:00 Sun", "2025-01-12 00:00 Sun"]),
        ("@monthly", "2025-01-15 00:00", ["2025-02-01 00:00 Sat", "2025-03-01 00:00 Sat"]),
        ("@yearly", "2025-01-15 00:00", ["2026-01-01 00:00 Thu", "2027-01-01 00:00 Fri"]),
        ("59 23 31 12 *", "2025-06-01 00:00", ["2025-12-31 23:59 Wed", "2026-12-31 23:59 Thu"]),
    ],
)
def test_cron_ticks_fall_where_the_expression_says(
    expression: str, after: str, expected: list[str]
) -> None:
    assert _ticks(expression, after, len(expected)) == expected


def test_the_next_tick_is_strictly_after_the_instant() -> None:
    spec = cron.parse_cron("0 * * * *")
    on_the_hour = _ms("2025-01-01 10:00")
    assert cron.next_tick_ms(spec, on_the_hour) == _ms("2025-01-01 11:00")
    assert cron.next_tick_ms(spec, on_the_hour - 1) == on_the_hour


def test_ticks_are_wall_clock_minutes_of_the_time_zone() -> None:
    assert _ticks("0 9 * * *", "2025-01-01 10:00", 1, "Asia/Tokyo") == ["2025-01-02 09:00 Thu"]
    spec = cron.parse_cron("0 9 * * *", "Asia/Tokyo")
    tick_ms = cron.next_tick_ms(spec, _ms("2025-01-01 12:00"))
    assert _text(tick_ms) == "2025-01-02 00:00 Thu"  # 09:00 in Tokyo is midnight UTC


def test_a_local_time_that_does_not_exist_is_skipped() -> None:
    # Given Europe/Berlin jumps from 02:00 to 03:00 on 2025-03-30
    # Then a cron at 02:30 skips that day, and one every 30 minutes has no 02:xx ticks
    assert _ticks("30 2 * * *", "2025-03-29 03:00", 2, "Europe/Berlin") == [
        "2025-03-31 02:30 Mon",
        "2025-04-01 02:30 Tue",
    ]
    assert _ticks("*/30 * * * *", "2025-03-30 01:00", 3, "Europe/Berlin") == [
        "2025-03-30 01:30 Sun",
        "2025-03-30 03:00 Sun",
        "2025-03-30 03:30 Sun",
    ]


def test_a_local_time_that_occurs_twice_fires_once() -> None:
    # Given Europe/Berlin repeats 02:00-03:00 on 2025-10-26
    spec = cron.parse_cron("30 2 * * *", "Europe/Berlin")
    first = cron.next_tick_ms(spec, _ms("2025-10-26 00:00", "Europe/Berlin"))
    second = cron.next_tick_ms(spec, first)
    assert _text(first, "Europe/Berlin") == "2025-10-26 02:30 Sun"
    assert _text(second, "Europe/Berlin") == "2025-10-27 02:30 Mon"
    # An every-minute cron fires each wall-clock minute once: the repeated hour is not
    # fired again (one step of 61 minutes of real time).
    minutely = cron.parse_cron("* * * * *", "Europe/Berlin")
    at_ms, steps = _ms("2025-10-26 01:59", "Europe/Berlin"), []
    for _ in range(130):
        following = cron.next_tick_ms(minutely, at_ms)
        steps.append(following - at_ms)
        at_ms = following
    assert sorted(set(steps)) == [60_000, 61 * 60_000]
    assert steps.count(61 * 60_000) == 1


def test_intervals_tick_at_multiples_of_their_length_since_the_epoch() -> None:
    spec = cron.interval(10)
    assert cron.next_tick_ms(spec, 0) == 10_000
    assert cron.next_tick_ms(spec, 10_000) == 20_000
    assert cron.next_tick_ms(spec, 12_345) == 20_000


def test_the_latest_tick_is_fired_after_falling_behind() -> None:
    every = cron.interval(1)
    assert cron.latest_tick_ms(every, 5_000, 9_500) == 9_000
    assert cron.latest_tick_ms(every, 5_000, 5_000) == 5_000
    minutely = cron.parse_cron("* * * * *")
    due = _ms("2025-01-01 10:00")
    assert cron.latest_tick_ms(minutely, due, _ms("2025-01-03 07:42") + 5) == _ms(
        "2025-01-03 07:42"
    )
    yearly = cron.parse_cron("@yearly")
    due = _ms("2020-01-01 00:00")
    assert cron.latest_tick_ms(yearly, due, _ms("2025-06-01 00:00")) == _ms("2025-01-01 00:00")
    rare = cron.parse_cron("* * 1 1 *")  # every minute of 1 January
    assert cron.latest_tick_ms(rare, _ms("2024-01-01 00:00"), _ms("2025-06-01 00:00")) == _ms(
        "2025-01-01 23:59"
    )


@pytest.mark.parametrize(
    ("expression", "tz", "field", "words"),
    [
        ("0 0 31 2 *", "UTC", "cron", "day-of-month"),
        ("0 0 30,31 2 *", "UTC", "cron", "day-of-month"),
        ("0 0 31 apr,jun,sep,nov *", "UTC", "cron", "day-of-month"),
        ("60 * * * *", "UTC", "cron", "minute"),
        ("* 24 * * *", "UTC", "cron", "hour"),
        ("* * 0 * *", "UTC", "cron", "day-of-month"),
        ("* * * 13 *", "UTC", "cron", "month"),
        ("* * * * 8", "UTC", "cron", "day-of-week"),
        ("* * * foo *", "UTC", "cron", "month"),
        ("* * * * */0", "UTC", "cron", "day-of-week"),
        ("5-1 * * * *", "UTC", "cron", "minute"),
        ("*/x * * * *", "UTC", "cron", "minute"),
        ("1,,2 * * * *", "UTC", "cron", "minute"),
        ("-1 * * * *", "UTC", "cron", "minute"),
        ("* * * *", "UTC", "cron", "5 fields"),
        ("* * * * * *", "UTC", "cron", "5 fields"),
        ("", "UTC", "cron", "5 fields"),
        ("@every 5", "UTC", "cron", "5 fields"),
        ("* * * * *", "Mars/Olympus", "tz", "time zone"),
        ("* * * * *", "../../etc/passwd", "tz", "time zone"),
        ("* * * * *", "", "tz", "time zone"),
    ],
)
def test_malformed_or_never_firing_crons_are_refused_naming_the_field(
    expression: str, tz: str, field: str, words: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        cron.parse_cron(expression, tz)
    assert refused.value.field == field
    assert words in refused.value.message


@pytest.mark.parametrize("every_s", [0, -1, cron.EVERY_MAX_S + 1])
def test_intervals_out_of_range_are_refused(every_s: int) -> None:
    with pytest.raises(InvalidParameter) as refused:
        cron.interval(every_s)
    assert refused.value.field == "every_s"

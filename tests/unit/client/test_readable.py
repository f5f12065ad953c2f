"""Durations in seconds as the CLI's flags take them, instants in UTC."""

from __future__ import annotations

from raftq.client.readable import duration_s, plural, timestamp, yes_no


def test_a_duration_is_shown_in_seconds_like_the_flags() -> None:
    assert duration_s(60_000) == "60 s"
    assert duration_s(0) == "0 s"
    assert duration_s(250) == "0.25 s"
    assert duration_s(1_500) == "1.5 s"


def test_a_long_duration_carries_a_hint_in_larger_units() -> None:
    assert duration_s(599_000) == "599 s"
    assert duration_s(900_000) == "900 s (15 min)"
    assert duration_s(5_400_000) == "5400 s (1 h 30 min)"
    assert duration_s(345_600_000) == "345600 s (4 d)"
    assert duration_s(1_209_600_000) == "1209600 s (14 d)"
    assert duration_s(183_900_000) == "183900 s (2 d 3 h)"  # two units at most


def test_an_absent_value_is_a_dash() -> None:
    assert duration_s(None) == "-"
    assert timestamp(None) == "-"
    assert yes_no(None) == "-"


def test_an_instant_is_shown_in_utc_to_the_second() -> None:
    assert timestamp(0) == "1970-01-01 00:00:00Z"
    assert timestamp(1_796_412_602_999) == "2026-12-04 19:30:02Z"


def test_flags_and_counts_read_as_words() -> None:
    assert (yes_no(True), yes_no(False)) == ("yes", "no")
    assert (plural(1, "queue"), plural(0, "queue"), plural(3, "data key")) == (
        "1 queue",
        "0 queues",
        "3 data keys",
    )

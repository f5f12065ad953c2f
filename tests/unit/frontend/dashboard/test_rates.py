"""Per-queue rates as one frontend counts them (rates.py): exact per bucket, bounded."""

from __future__ import annotations

from raftq.frontend.dashboard.rates import BUCKET_MS, BUCKETS, QueueRates
from raftq.frontend.usage import Usage

START_MS = 1_700_000_000_000 - 1_700_000_000_000 % BUCKET_MS


def test_rates_are_the_messages_of_the_last_whole_buckets_per_second() -> None:
    # Given 60 sends and 30 receives (task leases count as receives) in the last minute
    rates = QueueRates()
    for second in range(60):
        rates.record("orders", "send", 1, START_MS + second * 1_000)
        if second % 2:
            rates.record("orders", "lease_tasks", 1, START_MS + second * 1_000)
    rates.record("orders", "undeliverable", 5, START_MS)  # not a direction: ignored
    # When the rates are read once that minute is over
    per_second = rates.per_second("orders", START_MS + 60_000)
    # Then they are exact
    assert per_second == {"send": 1.0, "receive": 0.5, "delete": 0.0}
    # And the bucket still filling is not counted (it would show a false dip)
    rates.record("orders", "delete", 100, START_MS + 60_000)
    assert rates.per_second("orders", START_MS + 60_000)["delete"] == 0.0
    assert rates.series("orders", START_MS + 70_000)["delete"][-1] == 100


def test_an_hour_of_traffic_keeps_one_ring_of_buckets_per_queue() -> None:
    rates = QueueRates()
    for second in range(3_600):
        rates.record("orders", "send", 3, START_MS + second * 1_000)
    assert rates.buckets_held() <= BUCKETS
    assert rates.series("orders", START_MS + 3_600_000)["send"] == [30] * BUCKETS


def test_past_the_queue_bound_the_least_recently_counted_queue_is_forgotten() -> None:
    rates = QueueRates(max_queues=2)
    rates.record("a", "send", 1, START_MS)
    rates.record("b", "send", 1, START_MS)
    rates.record("a", "send", 1, START_MS + 1)
    rates.record("c", "send", 1, START_MS + 2)
    assert len(rates) == 2
    now = START_MS + BUCKET_MS
    assert rates.series("b", now)["send"][-1] == 0
    assert rates.series("a", now)["send"][-1] == 2


def test_the_frontends_usage_records_feed_the_rates() -> None:
    # Given the usage records of a frontend (what the service calls for each request)
    usage = Usage(None)
    for action, messages in (("send", 4), ("receive", 3), ("finish_tasks", 2)):
        usage.record(
            at_ms=START_MS,
            key="K",
            principal="p",
            queue="q",
            action=action,
            messages=messages,
            size=0,
        )
    # Then the dashboard's rates count them by direction
    series = usage.rates.series("q", START_MS + BUCKET_MS)
    assert (series["send"][-1], series["receive"][-1], series["delete"][-1]) == (4, 3, 2)

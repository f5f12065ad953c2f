"""Token buckets on a fake clock: bursts, refill, all-or-nothing across buckets, Retry-After."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftq.common.clock import FakeClock
from raftq.frontend.rate_limit import IDLE_FORGET_MS, Limit, RateLimiter

PER_KEY = Limit(rate_per_s=10, burst=20)
PER_QUEUE = Limit(rate_per_s=100, burst=5)


def test_a_burst_is_allowed_then_refused_with_the_wait_until_a_token_is_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    checks = [("key", "AK1", PER_KEY)]
    assert all(limiter.take(checks).allowed for _ in range(20))
    refused = limiter.take(checks)
    assert (refused.allowed, refused.retry_after_s) == (False, 1)
    clock.advance(99)
    assert not limiter.take(checks).allowed  # 0.99 tokens back
    clock.advance(1)
    assert limiter.take(checks).allowed


def test_a_batch_costs_one_token_a_message_and_a_long_wait_is_rounded_up() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    slow = [("key", "AK1", Limit(rate_per_s=0.5, burst=10))]
    assert limiter.take(slow, cost=10).allowed
    refused = limiter.take(slow, cost=3)
    assert (refused.allowed, refused.retry_after_s) == (False, 6)


def test_a_refusal_by_one_bucket_takes_nothing_from_the_others() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    both = [("key", "AK1", PER_KEY), ("queue", "orders", PER_QUEUE)]
    assert limiter.take(both, cost=5).allowed
    assert not limiter.take(both, cost=1).allowed  # the queue's bucket is empty
    # The key's bucket still has its 15 tokens: another queue can use them.
    assert limiter.take([("key", "AK1", PER_KEY), ("queue", "other", PER_QUEUE)], cost=5).allowed
    assert limiter.take([("key", "AK1", PER_KEY)], cost=10).allowed
    assert not limiter.take([("key", "AK1", PER_KEY)]).allowed


def test_keys_and_queues_are_separate_buckets() -> None:
    limiter = RateLimiter(FakeClock())
    assert limiter.take([("key", "AK1", PER_KEY)], cost=20).allowed
    assert limiter.take([("key", "AK2", PER_KEY)], cost=20).allowed
    assert limiter.take([("queue", "AK1", PER_KEY)], cost=20).allowed  # same name, other kind


def test_idle_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for i in range(100):
        limiter.take([("key", f"AK{i}", PER_KEY)])
    assert len(limiter) == 100
    clock.advance(IDLE_FORGET_MS)
    limiter.take([("key", "AK-new", PER_KEY)])
    assert len(limiter) == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0)])
def test_a_limit_that_cannot_work_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Limit(rate_per_s=rate, burst=burst)


def test_a_request_costs_at_least_a_token() -> None:
    with pytest.raises(ValueError):
        RateLimiter(FakeClock()).take([("key", "AK1", PER_KEY)], cost=0)


@given(
    steps=st.lists(st.tuples(st.integers(0, 2_000), st.integers(1, 12)), max_size=200),
    rate=st.integers(1, 50),
    burst=st.integers(1, 40),
)
def test_over_any_window_no_more_than_burst_plus_rate_times_time_is_allowed(
    steps: list[tuple[int, int]], rate: int, burst: int
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limit = Limit(rate_per_s=rate, burst=burst)
    allowed = 0
    for gap_ms, cost in steps:
        clock.advance(gap_ms)
        decision = limiter.take([("key", "AK", limit)], cost=cost)
        if decision.allowed:
            allowed += cost
        else:
            assert decision.retry_after_s >= 1
    elapsed_s = clock.monotonic_ms() / 1000
    assert allowed <= burst + rate * elapsed_s + 1e-9


def test_a_zero_rate_means_no_limit_and_keeps_no_bucket() -> None:
    # Given a per-key limit of 0 (no limit) next to a real per-queue limit
    clock = FakeClock()
    limiter = RateLimiter(clock)
    checks = [("key", "AK1", Limit.per_second(0)), ("queue", "q", Limit.per_second(1_000))]
    # When far more than any burst goes through the unlimited bucket alone
    assert all(limiter.take(checks[:1], cost=10).allowed for _ in range(10_000))
    # Then nothing was refused or remembered, and the queue's limit still counts
    assert len(limiter) == 0
    assert limiter.take(checks, cost=2_000).allowed
    assert not limiter.take(checks).allowed


def test_a_limit_per_second_bursts_two_seconds_worth_and_refuses_a_negative_rate() -> None:
    assert Limit.per_second(2_000) == Limit(rate_per_s=2_000, burst=4_000)
    assert Limit.per_second(0.2).burst == 1
    with pytest.raises(ValueError, match="positive finite rate"):
        Limit.per_second(-1)

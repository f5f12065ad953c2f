"""The waits between the SDK's attempts (retry.py): pure, with a seeded or fixed draw."""

from __future__ import annotations

from random import Random

import pytest

from raftq.client.retry import Backoff, RetryPolicy


@pytest.mark.parametrize("seed", range(20))
def test_waits_stay_under_their_capped_ceiling_and_add_up_to_the_budget(seed: int) -> None:
    policy = RetryPolicy(budget_s=15.0, first_wait_s=0.1, max_wait_s=2.0)
    backoff = Backoff(policy, Random(seed).random)
    waits = list(iter(backoff.next_wait_s, None))
    ceilings = [min(2.0, 0.1 * 2**n) for n in range(len(waits))]
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    assert sum(waits) == pytest.approx(15.0)
    assert backoff.next_wait_s() is None  # spent: no more retries


def test_the_longest_draws_double_from_the_first_wait_up_to_the_cap() -> None:
    backoff = Backoff(RetryPolicy(budget_s=10.0, first_wait_s=0.5, max_wait_s=3.0), lambda: 1.0)
    assert list(iter(backoff.next_wait_s, None)) == [0.5, 1.0, 2.0, 3.0, 3.0, 0.5]


def test_a_retry_after_is_obeyed_and_one_past_the_budget_ends_the_retries() -> None:
    backoff = Backoff(RetryPolicy(budget_s=5.0), lambda: 0.5)
    assert backoff.next_wait_s(retry_after_s=3) == 3
    assert backoff.next_wait_s(retry_after_s=3) is None  # 2 s left


def test_a_retry_limit_stops_before_the_budget() -> None:
    assert Backoff(RetryPolicy(max_retries=0), lambda: 0.5).next_wait_s() is None
    limited = Backoff(RetryPolicy(max_retries=2), lambda: 0.5)
    assert len(list(iter(limited.next_wait_s, None))) == 2

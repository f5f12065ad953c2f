"""Adaptive concurrency: a pure function of lease outcomes and a fake time."""

from __future__ import annotations

import pytest

from raftq.worker.concurrency import ConcurrencyPolicy, after_lease, after_tick, initial_state

POLICY = ConcurrencyPolicy(min_slots=1, max_slots=3, full_batches_to_grow=2, idle_s_to_shrink=30)


def test_it_grows_after_full_batches_that_fill_every_slot_up_to_the_max() -> None:
    state = initial_state(POLICY, now_s=0)
    assert state.target == 1
    state = after_lease(POLICY, state, asked=1, got=1, running=1, now_s=1)
    assert state.target == 1  # one full batch is not a trend
    state = after_lease(POLICY, state, asked=1, got=1, running=1, now_s=2)
    assert state.target == 2
    for now_s in range(3, 10):
        state = after_lease(POLICY, state, asked=1, got=1, running=state.target, now_s=now_s)
    assert state.target == 3  # and no further


def test_a_short_batch_ends_the_growth_streak() -> None:
    state = initial_state(POLICY, now_s=0)
    state = after_lease(POLICY, state, asked=1, got=1, running=1, now_s=1)
    state = after_lease(POLICY, state, asked=1, got=0, running=0, now_s=2)
    state = after_lease(POLICY, state, asked=1, got=1, running=1, now_s=3)
    assert state.target == 1


def test_it_shrinks_one_slot_per_idle_period_down_to_the_min() -> None:
    policy = ConcurrencyPolicy(1, 3)
    state = initial_state(policy, now_s=0)
    for running in (1, 1, 2, 2):  # two full batches at each size: 1 -> 2 -> 3
        state = after_lease(policy, state, asked=1, got=1, running=running, now_s=0)
    assert state.target == 3
    # a slot is free since the last growth (t=0)
    state = after_tick(policy, state, running=0, now_s=29.9)
    assert state.target == 3
    state = after_tick(policy, state, running=0, now_s=30)
    assert state.target == 2
    state = after_tick(policy, state, running=0, now_s=59.9)
    assert state.target == 2
    state = after_tick(policy, state, running=0, now_s=60)
    state = after_tick(policy, state, running=0, now_s=1_000)
    assert state.target == 1


def test_busy_slots_restart_the_idle_timer() -> None:
    policy = ConcurrencyPolicy(1, 2)
    state = initial_state(policy, now_s=0)
    state = after_lease(policy, state, asked=1, got=1, running=1, now_s=0)
    state = after_lease(policy, state, asked=1, got=1, running=1, now_s=0)
    assert state.target == 2
    state = after_tick(policy, state, running=1, now_s=20)
    state = after_tick(policy, state, running=2, now_s=45)  # all busy again
    state = after_tick(policy, state, running=1, now_s=60)
    assert state.target == 2
    assert after_tick(policy, state, running=1, now_s=90).target == 1


@pytest.mark.parametrize(("low", "high"), [(0, 2), (3, 2)])
def test_bad_bounds_are_refused(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        ConcurrencyPolicy(low, high)

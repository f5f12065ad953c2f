"""How many tasks a worker runs at once, between `min_slots` and `max_slots`.

Pure: the worker reports each lease call (how many it asked, how many came, how many ran) and
the time, and reads back the target. Rules:
- grow by one when `full_batches_to_grow` lease calls in a row were answered in full and filled
  every slot: the queue has more than this worker takes (depth > 0) and the worker is the
  bottleneck;
- shrink by one when a slot has stayed free for `idle_s_to_shrink` (and again after each further
  such period): capacity nobody needed.
A short batch ends a growth streak; filling every slot restarts the idle timer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class ConcurrencyPolicy:
    min_slots: int
    max_slots: int
    full_batches_to_grow: int = 2
    idle_s_to_shrink: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_slots <= self.max_slots:
            raise ValueError(
                f"concurrency needs 1 <= min ({self.min_slots}) <= max ({self.max_slots})"
            )
        if self.full_batches_to_grow < 1 or self.idle_s_to_shrink <= 0:
            raise ValueError("full_batches_to_grow must be >= 1 and idle_s_to_shrink > 0")


@dataclass(frozen=True, slots=True)
class ConcurrencyState:
    target: int
    full_streak: int  # lease calls in a row that filled every slot
    idle_since_s: float | None  # since when a slot has been free (None: all busy)


def initial_state(policy: ConcurrencyPolicy, now_s: float) -> ConcurrencyState:
    return ConcurrencyState(target=policy.min_slots, full_streak=0, idle_since_s=now_s)


def after_lease(
    policy: ConcurrencyPolicy,
    state: ConcurrencyState,
    *,
    asked: int,
    got: int,
    running: int,
    now_s: float,
) -> ConcurrencyState:
    """`running` counts the tasks held after the lease call, its own included."""
    saturated = asked > 0 and got == asked and running >= state.target
    streak = state.full_streak + 1 if saturated else 0
    if streak >= policy.full_batches_to_grow and state.target < policy.max_slots:
        return ConcurrencyState(target=state.target + 1, full_streak=0, idle_since_s=now_s)
    return after_tick(policy, replace(state, full_streak=streak), running=running, now_s=now_s)


def after_tick(
    policy: ConcurrencyPolicy, state: ConcurrencyState, *, running: int, now_s: float
) -> ConcurrencyState:
    """The worker's periodic look (and the end of each lease call): shrink after idleness."""
    if running >= state.target:
        return replace(state, idle_since_s=None)
    idle_since_s = now_s if state.idle_since_s is None else state.idle_since_s
    if now_s - idle_since_s >= policy.idle_s_to_shrink and state.target > policy.min_slots:
        return ConcurrencyState(target=state.target - 1, full_streak=0, idle_since_s=now_s)
    return replace(state, idle_since_s=idle_since_s)

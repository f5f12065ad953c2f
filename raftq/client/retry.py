"""How long the SDK waits between the attempts of one call: pure, so tests need no clock.

The rules it keeps:
- Full jitter: the wait before retry n (0-based) is drawn uniformly from
  [0, min(max_wait_s, first_wait_s * 2**n)], so clients that failed together do not come back
  together.
- A budget, not a count: retries go on until the waits add up to `budget_s`; the last wait is
  cut so that they add up to it exactly. The budget (15 s by default) is chosen to outlast a
  frontend's restart, which a fixed handful of short waits (four in about 1.5 s) did not.
  Time spent in the attempts themselves is not counted (a call that fails fast, as calls to a
  restarting frontend do, takes about `budget_s` in all; one whose attempts time out takes
  longer).
- A server's `Retry-After` is obeyed as the wait; one longer than what is left of the budget
  ends the retries (the next attempt would come too early and be refused again).
- `max_retries`, when set, stops the retries sooner (0: no retries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# Past 2**32 times the first wait, every wait is the cap; bounding the exponent keeps a long run
# of retries from overflowing a float.
_LARGEST_DOUBLING: Final = 32


@dataclass(frozen=True)
class RetryPolicy:
    """The SDK's retry settings (see the module docstring for how they combine)."""

    budget_s: float = 15.0
    first_wait_s: float = 0.1
    max_wait_s: float = 2.0
    max_retries: int | None = None

    def __post_init__(self) -> None:
        if self.budget_s < 0:
            raise ValueError(f"retry_budget_s must be >= 0, not {self.budget_s}")
        if self.first_wait_s <= 0:
            raise ValueError(f"retry_first_wait_s must be > 0, not {self.first_wait_s}")
        if self.max_wait_s < self.first_wait_s:
            raise ValueError(
                f"retry_max_wait_s must be >= retry_first_wait_s ({self.first_wait_s}), "
                f"not {self.max_wait_s}"
            )
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError(f"retries must be >= 0 or None, not {self.max_retries}")

    def ceiling_s(self, retry: int) -> float:
        """The longest wait before retry `retry` (0-based) that jitter may draw."""
        return min(self.max_wait_s, self.first_wait_s * 2.0 ** min(retry, _LARGEST_DOUBLING))


class Backoff:
    """The waits of one call's retries. `random` returns a float in [0, 1)."""

    def __init__(self, policy: RetryPolicy, random: Callable[[], float]) -> None:
        self._policy = policy
        self._random = random
        self._waited_s = 0.0
        self.retries = 0

    def next_wait_s(self, retry_after_s: float | None = None) -> float | None:
        """How long to wait before the next attempt, or None when the call must stop retrying."""
        policy = self._policy
        left_s = policy.budget_s - self._waited_s
        if left_s <= 0 or (policy.max_retries is not None and self.retries >= policy.max_retries):
            return None
        if retry_after_s is not None:
            if retry_after_s > left_s:
                return None
            wait_s = max(retry_after_s, 0.0)
        else:
            wait_s = self._random() * policy.ceiling_s(self.retries)
        if wait_s >= left_s:
            wait_s, self._waited_s = left_s, policy.budget_s  # exactly the budget, no float dust
        else:
            self._waited_s += wait_s
        self.retries += 1
        return wait_s

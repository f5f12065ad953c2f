"""Token buckets per access key and per queue (issue 6: 429 with `Retry-After`).

A bucket holds up to `burst` tokens and refills at `rate_per_s`; a request takes one token per
message (a batch of ten takes ten). A request that finds too few tokens takes none and learns
how long until there would be enough: that is its `Retry-After`. Buckets live in one frontend's
memory, so a limit applies per frontend; with N frontends behind the load balancer a caller can
reach N times it (documented with the settings). Time comes from a `Clock`, so tests never sleep.
Idle buckets are forgotten after `IDLE_FORGET_MS`, which bounds memory to the callers of the
last minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from raftq.common.clock import Clock

IDLE_FORGET_MS: Final = 10 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Limit:
    """`rate_per_s` tokens a second, up to `burst` saved. `unlimited` is no limit at all (the
    limiter keeps no bucket for it, and the rate and burst mean nothing): `Limit.per_second(0)`."""

    rate_per_s: float
    burst: int
    unlimited: bool = False

    def __post_init__(self) -> None:
        if self.unlimited:
            return
        if not (self.rate_per_s > 0 and math.isfinite(self.rate_per_s)) or self.burst < 1:
            raise ValueError("a limit needs a positive finite rate and a burst of at least 1")

    @classmethod
    def per_second(cls, rate_per_s: float) -> Limit:
        """A limit of `rate_per_s` with a burst of two seconds' worth; 0 means no limit."""
        if rate_per_s == 0:
            return cls(rate_per_s=math.inf, burst=1, unlimited=True)
        return cls(rate_per_s=rate_per_s, burst=max(1, int(rate_per_s * 2)))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ms: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0  # whole seconds, at least 1 when refused (the header's unit)


class RateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._last_sweep_ms = clock.monotonic_ms()

    def take(self, checks: list[tuple[str, str, Limit]], cost: int = 1) -> Decision:
        """Take `cost` tokens from every bucket named by (kind, name, limit), or from none.
        Refused when any bucket lacks them; `retry_after_s` is the longest wait among those."""
        if cost < 1:
            raise ValueError("a request costs at least one token")
        now_ms = self._clock.monotonic_ms()
        self._sweep(now_ms)
        buckets = [
            (self._refilled(kind, name, limit, now_ms), limit)
            for kind, name, limit in checks
            if not limit.unlimited
        ]
        waits = [
            (cost - bucket.tokens) / limit.rate_per_s
            for bucket, limit in buckets
            if bucket.tokens < cost
        ]
        if waits:
            return Decision(allowed=False, retry_after_s=max(1, math.ceil(max(waits))))
        for bucket, _ in buckets:
            bucket.tokens -= cost
        return Decision(allowed=True)

    def _refilled(self, kind: str, name: str, limit: Limit, now_ms: int) -> _Bucket:
        bucket = self._buckets.get((kind, name))
        if bucket is None:
            bucket = self._buckets[(kind, name)] = _Bucket(tokens=float(limit.burst), at_ms=now_ms)
        elapsed_s = max(0, now_ms - bucket.at_ms) / 1000
        bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed_s * limit.rate_per_s)
        bucket.at_ms = now_ms
        return bucket

    def _sweep(self, now_ms: int) -> None:
        if now_ms - self._last_sweep_ms < IDLE_FORGET_MS:
            return
        self._last_sweep_ms = now_ms
        idle = [key for key, b in self._buckets.items() if now_ms - b.at_ms >= IDLE_FORGET_MS]
        for key in idle:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)

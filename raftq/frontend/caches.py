"""What a frontend remembers from the metadata service, and for how long.

Keys: a key's secret and grants, for `KEY_TTL_MS`, so a revocation or a grant change counts
within that time; an unknown key is remembered as unknown for `UNKNOWN_KEY_TTL_MS`, so a caller
with a bad key cannot make every request cost a metadata round trip.

Placements: where a queue lives (cluster and epoch, the cluster's members, its data keys), for
`PLACEMENT_TTL_MS`. The cache is a fast path, never the truth: a backend that no longer serves
the queue says so (`QueueMoved`, `QueueDoesNotExist`), and the frontend asks again for a
placement newer than the one that failed (`refresh(name, newer_than=epoch)`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from raftq.common.clock import Clock
from raftq.common.errors import BackendUnavailable
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_models import Cluster, Queue

KEY_TTL_MS: Final = 30_000
UNKNOWN_KEY_TTL_MS: Final = 5_000
PLACEMENT_TTL_MS: Final = 10_000
MAX_ENTRIES: Final = 100_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueueRoute:
    queue: Queue
    cluster: Cluster

    @property
    def epoch(self) -> int:
        return self.queue.placement.epoch

    @property
    def members(self) -> list[str]:
        return [member.api_address for member in self.cluster.members]


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T | None
    expires_at_ms: int


class _TtlCache(Generic[T]):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}

    def lookup(self, name: str) -> _Entry[T] | None:
        entry = self._entries.get(name)
        if entry is None or entry.expires_at_ms <= self._clock.monotonic_ms():
            return None
        return entry

    def store(self, name: str, value: T | None, ttl_ms: int) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # crude but bounded; entries come back on demand
        self._entries[name] = _Entry(value, self._clock.monotonic_ms() + ttl_ms)

    def forget(self, name: str) -> None:
        self._entries.pop(name, None)


class KeyCache:
    def __init__(
        self, fetch: Callable[[str], Awaitable[KeyCredentials | None]], clock: Clock
    ) -> None:
        self._fetch = fetch
        self._cache: _TtlCache[KeyCredentials] = _TtlCache(clock)

    async def get(self, key_id: str) -> KeyCredentials | None:
        """The key's credentials, or None when it is unknown or revoked."""
        entry = self._cache.lookup(key_id)
        if entry is not None:
            return entry.value
        credentials = await self._fetch(key_id)
        ttl = KEY_TTL_MS if credentials is not None else UNKNOWN_KEY_TTL_MS
        self._cache.store(key_id, credentials, ttl)
        return credentials


class PlacementCache:
    def __init__(
        self,
        fetch: Callable[[str], Awaitable[QueueRoute | None]],
        clock: Clock,
        attempts: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._fetch = fetch
        self._cache: _TtlCache[QueueRoute] = _TtlCache(clock)
        self._attempts = attempts
        self._sleep = sleep

    async def get(self, name: str) -> QueueRoute | None:
        """Where the queue lives, or None when it does not exist (remembered briefly too)."""
        entry = self._cache.lookup(name)
        if entry is not None:
            return entry.value
        route = await self._fetch(name)
        self._cache.store(name, route, PLACEMENT_TTL_MS if route is not None else 1_000)
        return route

    def forget(self, name: str) -> None:
        """Drop what is known of the queue: this frontend just created or deleted it."""
        self._cache.forget(name)

    async def refresh(self, name: str, newer_than: int) -> QueueRoute | None:
        """A placement newer than epoch `newer_than`, after the cluster of that one refused
        the queue. A member that has not applied the switch yet may still answer with the old
        one; then ask again (a few times), and fail as unavailable if it stays old."""
        self._cache.forget(name)
        for attempt in range(self._attempts):
            route = await self._fetch(name)
            if route is None or route.epoch > newer_than:
                self._cache.store(name, route, PLACEMENT_TTL_MS)
                return route
            await self._sleep(0.05 * (attempt + 1))
        raise BackendUnavailable(f"queue {name!r} is moving; try again shortly")

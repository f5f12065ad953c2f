"""What a frontend remembers from the metadata service, and for how long.

Keys: a key's secret and grants, for `KEY_TTL_MS`, so a revocation or a grant change counts
within that time. Callers who are not authenticated yet choose the key id, so what they send
must cost the metadata leader a bounded amount of work and must not push out what legitimate
callers use (`KeyCache`):
- known keys and unknown ids live in two caches, each a bounded LRU: a flood of random ids
  evicts only other unknown ids, never a valid key;
- an unknown id is remembered as unknown for `UNKNOWN_KEY_TTL_MS`, so a client that retries
  with a bad key costs one round trip per that time;
- concurrent lookups of one id share one metadata round trip (single flight);
- at most `MAX_MISSES_IN_FLIGHT` ids found in neither cache are looked up at once; beyond that
  a new id is refused at once (`Throttled`), without a round trip. A key whose entry expired is
  renewed outside that cap, one round trip per key at a time, so a flood of random ids does not
  lock out callers this frontend already knows.

Placements: where a queue lives (cluster and epoch, the cluster's members, its data keys), for
`PLACEMENT_TTL_MS`. The cache is a fast path, never the truth: a backend that no longer serves
the queue says so (`QueueMoved`, `QueueDoesNotExist`), and the frontend asks again for a
placement newer than the one that failed (`refresh(name, newer_than=epoch)`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from raftq.common.clock import Clock
from raftq.common.errors import BackendUnavailable, Throttled
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_models import Cluster, Queue

KEY_TTL_MS: Final = 30_000
UNKNOWN_KEY_TTL_MS: Final = 5_000
PLACEMENT_TTL_MS: Final = 10_000
# Placements, by queue name (a route is a few hundred bytes).
MAX_ENTRIES: Final = 100_000
# The keys of every caller of this frontend (a secret and grants each, a few hundred bytes);
# only keys the metadata service vouched for get in, so only an admin makes this grow.
MAX_KEYS: Final = 100_000
# Enough for every misconfigured client at once; a flood of random ids just cycles through it.
MAX_UNKNOWN_KEYS: Final = 10_000
# A lookup takes a few milliseconds, so 64 at once admit thousands of new keys a second (more
# than a frontend's start-up needs), while a flood costs the metadata leader at most 64 reads
# at a time per frontend.
MAX_MISSES_IN_FLIGHT: Final = 64

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


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    value: T
    expires_at_ms: int


class _TtlCache(Generic[T]):
    """At most `max_entries` values, each until its TTL ends; when full, storing one more
    evicts the least recently used (expired entries stay until then, see `peek`)."""

    def __init__(self, clock: Clock, max_entries: int) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, name: str) -> _Entry[T] | None:
        """The entry of `name` if its TTL has not ended."""
        entry = self.peek(name)
        if entry is None or self.expired(entry):
            return None
        return entry

    def peek(self, name: str) -> _Entry[T] | None:
        """The entry of `name`, expired or not; either way it counts as used."""
        entry = self._entries.get(name)
        if entry is not None:
            self._entries.move_to_end(name)
        return entry

    def expired(self, entry: _Entry[T]) -> bool:
        return entry.expires_at_ms <= self._clock.monotonic_ms()

    def store(self, name: str, value: T, ttl_ms: int) -> None:
        self._entries[name] = _Entry(value, self._clock.monotonic_ms() + ttl_ms)
        self._entries.move_to_end(name)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget(self, name: str) -> None:
        self._entries.pop(name, None)


class KeyCache:
    """Access keys by id, looked up in the metadata service through `fetch` (None: unknown or
    revoked); the rules are in the module's docstring."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[KeyCredentials | None]],
        clock: Clock,
        *,
        max_keys: int = MAX_KEYS,
        max_unknown_keys: int = MAX_UNKNOWN_KEYS,
        max_misses_in_flight: int = MAX_MISSES_IN_FLIGHT,
    ) -> None:
        self._fetch = fetch
        self._known: _TtlCache[KeyCredentials] = _TtlCache(clock, max_keys)
        self._unknown: _TtlCache[None] = _TtlCache(clock, max_unknown_keys)
        self._max_misses_in_flight = max_misses_in_flight
        self._misses_in_flight = 0
        self._lookups: dict[str, asyncio.Task[KeyCredentials | None]] = {}

    async def get(self, key_id: str) -> KeyCredentials | None:
        """The key's credentials, or None when it is unknown or revoked.

        Raises `Throttled` when `key_id` is in neither cache and `MAX_MISSES_IN_FLIGHT` other
        such ids are being looked up. Not `InvalidClientTokenId`, the answer SQS gives for an
        unknown key: the id may be a valid key this frontend has not seen yet (a client that
        just started, a frontend that just started), and telling its owner the key is invalid
        would be false and final (SDKs do not retry it), while a throttling error is true (the
        key could not be checked now) and SDKs retry it with backoff. An attacker learns
        nothing from it either way: it is given before anything about the key is known.
        """
        known = self._known.peek(key_id)
        if known is not None and not self._known.expired(known):
            return known.value
        if known is None and self._unknown.lookup(key_id) is not None:
            return None
        lookup = self._lookups.get(key_id)
        if lookup is None:
            lookup = self._start_lookup(key_id, renewal=known is not None)
        # Shielded: a caller that goes away must not cancel the lookup others wait on.
        return await asyncio.shield(lookup)

    def _start_lookup(self, key_id: str, *, renewal: bool) -> asyncio.Task[KeyCredentials | None]:
        if not renewal:
            if self._misses_in_flight >= self._max_misses_in_flight:
                raise Throttled(
                    "too many unknown access key ids are being checked; retry later",
                    field="Authorization",
                )
            self._misses_in_flight += 1
        lookup = asyncio.get_running_loop().create_task(self._look_up(key_id))
        self._lookups[key_id] = lookup

        def finished(task: asyncio.Task[KeyCredentials | None]) -> None:
            if self._lookups.get(key_id) is task:
                del self._lookups[key_id]
            if not renewal:
                self._misses_in_flight -= 1
            if not task.cancelled():
                task.exception()  # retrieved here: every waiter may have gone away

        lookup.add_done_callback(finished)
        return lookup

    async def _look_up(self, key_id: str) -> KeyCredentials | None:
        credentials = await self._fetch(key_id)
        if credentials is None:
            self._known.forget(key_id)
            self._unknown.store(key_id, None, UNKNOWN_KEY_TTL_MS)
        else:
            self._unknown.forget(key_id)
            self._known.store(key_id, credentials, KEY_TTL_MS)
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
        self._cache: _TtlCache[QueueRoute | None] = _TtlCache(clock, MAX_ENTRIES)
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

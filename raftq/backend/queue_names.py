"""Queue names by queue id, for the labels of a backend node's metrics.

A replica knows its queues by id only; the metadata catalogue maps ids to names. A queue id is
made once, for one queue, and never names another (a queue made again under an old name gets a
new id), so a name once learnt never goes stale and is kept. Ids not named yet are looked up
when a scrape meets them, at most once per `RETRY_S` (the catalogue may be unreachable, or not
yet name a queue being created): until then the label is the queue id itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final

from raftq.common.clock import Clock
from raftq.common.errors import RaftqError

log = logging.getLogger(__name__)

RETRY_S: Final = 5.0
LOOKUP_TIMEOUT_S: Final = 2.0

Catalogue = Callable[[], Awaitable[Mapping[str, str]]]


class QueueNames:
    def __init__(self, catalogue: Catalogue | None, clock: Clock) -> None:
        """`catalogue` answers {queue id: name} (None: no metadata group to ask; the node
        sets it once its HTTP session is open)."""
        self.catalogue, self._clock = catalogue, clock
        self._names: dict[str, str] = {}
        self._asked_at_ms: int | None = None

    def name(self, queue_id: str) -> str:
        return self._names.get(queue_id, queue_id)

    async def learn(self, queue_ids: Iterable[str]) -> None:
        """Ask the catalogue if one of `queue_ids` has no name yet (and it was not asked in
        the last `RETRY_S`)."""
        if self.catalogue is None or all(q in self._names for q in queue_ids):
            return
        now_ms = self._clock.monotonic_ms()
        if self._asked_at_ms is not None and now_ms - self._asked_at_ms < RETRY_S * 1000:
            return
        self._asked_at_ms = now_ms
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                self._names.update(await self.catalogue())
        except (RaftqError, TimeoutError, OSError) as error:
            log.info("queue names for metrics not learnt: %s", error)

"""What the dashboard shows, read as the signed-in principal through the frontend's service,
so the grants that decide the REST API's answers decide the dashboard's.

A queue is listed when the key has an admin or receive grant on it (the REST listing's rule);
its counts when it has receive (`get_queue` authorizes them). Counts are the backend leader's,
exact as of the read. Clusters are shown to operators only: keys with an admin grant on
every queue (`*`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from raftq.common.errors import AccessDenied, RaftqError
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_models import Queue
from raftq.common.results import QueueStats
from raftq.frontend.dashboard.rates import Direction, QueueRates
from raftq.frontend.service import Frontend

# The overview lists at most this many queues (by name); a queue's own page shows any.
OVERVIEW_MAX_QUEUES: Final = 200
# Counts of that many queues are read at once, not all together.
READS_AT_ONCE: Final = 16


def is_operator(caller: KeyCredentials) -> bool:
    """May see the clusters: an admin grant on every queue."""
    return any(g.queues == "*" and "admin" in g.actions for g in caller.grants)


def may_list(caller: KeyCredentials, name: str) -> bool:
    return any(g.covers(name, "admin") or g.covers(name, "receive") for g in caller.grants)


@dataclass(frozen=True, slots=True)
class QueueRow:
    queue: Queue
    # None when the key may not read them (no receive grant) or the read failed: `problem`.
    stats: QueueStats | None
    problem: str | None
    rates: dict[Direction, float]
    # Seconds since the oldest message the queue holds was sent; None when it holds none.
    oldest_age_s: int | None = None


@dataclass(frozen=True, slots=True)
class QueueDetail:
    row: QueueRow
    # The queues whose dead letters come here (the ones this key may see).
    sources: tuple[str, ...]
    # The queue it redrives to, and after how many receives.
    dead_letter_queue: str | None
    max_receive_count: int | None


async def visible_queues(f: Frontend, caller: KeyCredentials) -> list[Queue]:
    catalogue = await f.metadata_catalogue()
    names = sorted(name for name in catalogue if may_list(caller, name))
    return [catalogue[name] for name in names[:OVERVIEW_MAX_QUEUES]]


async def queue_rows(
    f: Frontend, caller: KeyCredentials, queues: list[Queue], rates: QueueRates
) -> list[QueueRow]:
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def row(queue: Queue) -> QueueRow:
        async with gate:
            return await _row(f, caller, queue, rates)

    return list(await asyncio.gather(*(row(q) for q in queues)))


async def _row(f: Frontend, caller: KeyCredentials, queue: Queue, rates: QueueRates) -> QueueRow:
    per_second = rates.per_second(queue.name, f.clock.now_ms())
    try:
        _, stats = await f.get_queue(caller, queue.name)
    except AccessDenied:
        return QueueRow(queue, None, "no receive grant", per_second)
    except RaftqError as error:
        return QueueRow(queue, None, error.message, per_second)
    return QueueRow(queue, stats, None, per_second, oldest_age_s(stats, f.clock.now_ms()))


def oldest_age_s(stats: QueueStats, now_ms: int) -> int | None:
    """Whole seconds since the queue's oldest message was sent, by this frontend's clock (never
    negative when the clocks differ a little)."""
    if stats.oldest_sent_at_ms is None:
        return None
    return max(0, now_ms - stats.oldest_sent_at_ms) // 1000


async def queue_detail(
    f: Frontend, caller: KeyCredentials, name: str, rates: QueueRates
) -> QueueDetail:
    """One queue; `AccessDenied` (as the REST API) when the key may not see it at all."""
    if not may_list(caller, name):
        raise AccessDenied(f"{caller.principal_id} may not see queue {name!r}", field="name")
    catalogue = await f.metadata_catalogue()
    queue = catalogue.get(name)
    if queue is None:
        # The route's own error (QueueNotFound) comes from the service's read.
        queue, _ = await f.get_queue(caller, name)
    row = await _row(f, caller, queue, rates)
    sources = tuple(
        sorted(
            q.name
            for q in catalogue.values()
            if q.attributes.redrive is not None
            and q.attributes.redrive.dead_letter_queue == name
            and may_list(caller, q.name)
        )
    )
    redrive = queue.attributes.redrive
    return QueueDetail(
        row=row,
        sources=sources,
        dead_letter_queue=None if redrive is None else redrive.dead_letter_queue,
        max_receive_count=None if redrive is None else redrive.max_receive_count,
    )

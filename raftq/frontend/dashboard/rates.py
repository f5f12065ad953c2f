"""Send, receive and delete rates per queue, as this frontend saw them.

Each frontend counts the messages that pass through it (the service's usage records), in
buckets of `BUCKET_MS`, the last `BUCKETS` of them per queue: a rate shown on the dashboard is
this frontend's estimate, not the cluster's (behind a load balancer, each frontend sees its
share). Memory is bounded: `BUCKETS` buckets per queue, at most `max_queues` queues; when a new
queue would pass that, the one updated longest ago is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final, Literal

Direction = Literal["send", "receive", "delete"]
DIRECTIONS: Final[tuple[Direction, ...]] = ("send", "receive", "delete")

# 10 s buckets over 10 minutes: fine enough for a chart refreshed every 2 s, 60 points wide.
BUCKET_MS: Final = 10_000
BUCKETS: Final = 60
# More queues than one dashboard shows; each costs about 60 × 3 integers.
MAX_QUEUES: Final = 4_096

# The usage records' actions (service.py, tasks.py) by the direction they count toward.
_DIRECTION_OF: Final[dict[str, Direction]] = {
    "send": "send",
    "submit_task": "send",
    "receive": "receive",
    "lease_tasks": "receive",
    "delete": "delete",
    "finish_tasks": "delete",
}


@dataclass
class _Ring:
    """Counts by bucket number (`at_ms // BUCKET_MS`), the newest `BUCKETS` buckets only."""

    counts: dict[int, list[int]] = field(default_factory=dict)

    def add(self, bucket: int, direction: int, messages: int) -> None:
        if bucket not in self.counts:
            self.counts[bucket] = [0, 0, 0]
            for old in [b for b in self.counts if b <= bucket - BUCKETS]:
                del self.counts[old]
        self.counts[bucket][direction] += messages


class QueueRates:
    def __init__(self, max_queues: int = MAX_QUEUES) -> None:
        self._max_queues = max_queues
        self._rings: OrderedDict[str, _Ring] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rings)

    def buckets_held(self) -> int:
        """How many buckets all queues hold together (for tests of the bound)."""
        return sum(len(ring.counts) for ring in self._rings.values())

    def record(self, queue: str, action: str, messages: int, at_ms: int) -> None:
        """Count `messages` of `action` (a usage record's action; others are ignored)."""
        direction = _DIRECTION_OF.get(action)
        if direction is None or messages <= 0:
            return
        ring = self._rings.get(queue)
        if ring is None:
            if len(self._rings) >= self._max_queues:
                self._rings.popitem(last=False)
            ring = self._rings[queue] = _Ring()
        else:
            self._rings.move_to_end(queue)
        ring.add(at_ms // BUCKET_MS, DIRECTIONS.index(direction), messages)

    def per_second(
        self, queue: str, now_ms: int, window_ms: int = 60_000
    ) -> dict[Direction, float]:
        """Messages per second over the last `window_ms` of whole buckets before `now_ms`'s."""
        series = self.series(queue, now_ms, max(1, window_ms // BUCKET_MS))
        return {
            direction: sum(points) / (len(points) * BUCKET_MS / 1000)
            for direction, points in series.items()
        }

    def series(self, queue: str, now_ms: int, buckets: int = BUCKETS) -> dict[Direction, list[int]]:
        """Counts of the `buckets` whole buckets before the current one, oldest first (the
        current bucket is still filling, so it would show a false dip)."""
        ring = self._rings.get(queue)
        current = now_ms // BUCKET_MS
        numbers = range(current - buckets, current)
        held = ring.counts if ring is not None else {}
        return {
            direction: [held.get(n, [0, 0, 0])[i] for n in numbers]
            for i, direction in enumerate(DIRECTIONS)
        }

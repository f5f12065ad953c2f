"""Long-poll waiters on the leader: a receive that found nothing waits here until a commit may
have made a message visible in its queue, or until its own deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class LongPollWaiters:
    def __init__(self) -> None:
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, queue: str) -> None:
        for event in self._events.pop(queue, set()):
            event.set()

    async def wait(self, queue: str, timeout_s: float) -> None:
        event = asyncio.Event()
        self._events[queue].add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s)
        finally:
            waiting = self._events.get(queue)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._events[queue]

    @property
    def waiting(self) -> int:
        return sum(len(events) for events in self._events.values())

"""What the worker needs from the world: three calls of the SDK's `AsyncClient`, and a clock.

`TaskApi` is the slice of `raftq.client.sdk.AsyncClient` the worker uses; `StubTaskApi`
(stub.py) is its in-memory twin for tests. `WorkerClock` is monotonic time and sleeping, so a
test moves time with `ManualClock.advance` instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Sequence
from typing import Protocol

from raftq.client.task_models import EntryOutcome, LeasedTask, TaskFinish


class TaskApi(Protocol):
    async def lease_tasks(
        self,
        queue: str,
        worker_id: str,
        *,
        max_tasks: int = 1,
        lease_s: float | None = None,
        wait_s: int = 0,
    ) -> list[LeasedTask]:
        """Up to `max_tasks` tasks, leased for `lease_s`; waits up to `wait_s` for the first."""
        ...

    async def heartbeat_tasks(
        self, queue: str, leases: Sequence[tuple[str, float]]
    ) -> EntryOutcome:
        """Extend each lease to `lease_s` from now; 0 hands the task back to the queue."""
        ...

    async def finish_tasks(self, queue: str, reports: Sequence[TaskFinish]) -> EntryOutcome:
        """Report attempts; a lease that was taken over fails with ReceiptHandleIsInvalid."""
        ...


class WorkerClock(Protocol):
    def monotonic_s(self) -> float: ...

    async def sleep(self, delay_s: float) -> None: ...


class SystemWorkerClock:
    def monotonic_s(self) -> float:
        return time.monotonic()

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)


class ManualClock:
    """A clock that moves only on `advance`; sleepers wake when it passes their deadline."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties wake in the order they slept

    def monotonic_s(self) -> float:
        return self._now_s

    async def sleep(self, delay_s: float) -> None:
        if delay_s <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now_s + delay_s, next(self._order), woken))
        await woken

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, woken in self._sleepers if not woken.done())

    def advance(self, delta_s: float) -> None:
        if delta_s < 0:
            raise ValueError("a manual clock moves forward only")
        self._now_s += delta_s
        while self._sleepers and self._sleepers[0][0] <= self._now_s:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)

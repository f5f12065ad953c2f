"""Attempt reports of one worker, joined into batch calls.

A slot is free again as soon as its handler returned: the report then waits here, with the
reports of other slots, for a `finish_tasks` call of up to `batch_max` reports. Until the call
answers, the lease stays held (and heartbeated) by the worker, so a crash before the report is
committed only brings the task back when its lease ends: at least once, never lost.

Rules: reports go out in the order they came; at most `calls_max` calls are in flight (one by
default), and a report that arrives while they all are waits for the next one (which carries
everything waiting by then: under load, calls grow to `batch_max` by themselves). With one call
in flight a worker of 8 slots sends about one report call per lease instead of one per two
tasks (measured: commands per task 0.78 with four, 0.38 with one). A call that fails fails each
of its reports' waits with that error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from raftq.client.task_models import EntryOutcome, TaskFinish

Refusal = tuple[str, str] | None  # (error code, message) of a report the service refused

CALLS_MAX: Final = 1


class ReportBatcher:
    def __init__(
        self,
        finish: Callable[[Sequence[TaskFinish]], Awaitable[EntryOutcome]],
        batch_max: int,
        calls_max: int = CALLS_MAX,
    ) -> None:
        self._finish = finish
        self._batch_max = batch_max
        self._calls_max = calls_max
        self._waiting: list[tuple[TaskFinish, asyncio.Future[Refusal]]] = []
        self._calls: set[asyncio.Task[None]] = set()

    async def report(self, report: TaskFinish) -> Refusal:
        """Send `report` in the next batch; None once it is recorded, else why it was refused."""
        future: asyncio.Future[Refusal] = asyncio.get_running_loop().create_future()
        self._waiting.append((report, future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._waiting and len(self._calls) < self._calls_max:
            batch, self._waiting = (
                self._waiting[: self._batch_max],
                self._waiting[self._batch_max :],
            )
            call = asyncio.get_running_loop().create_task(self._send(batch))
            self._calls.add(call)
            call.add_done_callback(self._ended)

    def _ended(self, call: asyncio.Task[None]) -> None:
        self._calls.discard(call)
        self._pump()

    async def _send(self, batch: list[tuple[TaskFinish, asyncio.Future[Refusal]]]) -> None:
        try:
            outcome = await self._finish([report for report, _ in batch])
        except BaseException as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for report, future in batch:
            if not future.done():
                future.set_result(outcome.failed.get(report.lease))

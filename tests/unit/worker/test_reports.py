"""Reports joined into batch calls (worker/reports.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from raftq.client.task_models import EntryOutcome, TaskFinish
from raftq.worker.reports import ReportBatcher


class Service:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.answer = asyncio.Event()
        self.refuse: set[str] = set()
        self.fail = False

    async def finish(self, reports: Sequence[TaskFinish]) -> EntryOutcome:
        self.calls.append([r.lease for r in reports])
        await self.answer.wait()
        if self.fail:
            raise ConnectionError("gone")
        return EntryOutcome(
            succeeded=[r.lease for r in reports if r.lease not in self.refuse],
            failed={lease: ("ReceiptHandleIsInvalid", "taken") for lease in self.refuse},
        )


async def test_reports_that_come_while_a_call_is_out_go_together_in_the_next() -> None:
    service = Service()
    batcher = ReportBatcher(service.finish, batch_max=3)
    first = asyncio.create_task(batcher.report(TaskFinish("a", "succeeded")))
    await asyncio.sleep(0)
    later = [
        asyncio.create_task(batcher.report(TaskFinish(lease, "succeeded")))
        for lease in ("b", "c", "d", "e")
    ]
    await asyncio.sleep(0)
    assert service.calls == [["a"]]  # one call at a time: the others wait for it
    service.refuse = {"d"}
    service.answer.set()
    assert await first is None
    results = await asyncio.gather(*later)
    assert service.calls == [["a"], ["b", "c", "d"], ["e"]]  # in order, at most 3 a call
    assert results == [None, None, ("ReceiptHandleIsInvalid", "taken"), None]


async def test_a_failed_call_fails_each_of_its_reports() -> None:
    service = Service()
    service.fail = True
    service.answer.set()
    batcher = ReportBatcher(service.finish, batch_max=10)
    with pytest.raises(ConnectionError):
        await batcher.report(TaskFinish("a", "retry"))

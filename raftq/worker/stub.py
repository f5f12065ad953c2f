"""`StubTaskApi`: the task calls of the SDK, in memory, for tests (dramatiq's StubBroker idea).

It keeps the backend's task rules that a worker can observe: a lease is a fresh receipt handle
per attempt, each lease starts an attempt, a lease that ran out hands the task to the next
lease call, a finish or heartbeat on a stale lease fails with ReceiptHandleIsInvalid, a retry
waits `retry_delay_s` in the queue (or dies when the attempts are used up), a heartbeat with
lease 0 hands the task back at once, a release does too and uncounts its attempt. Time is the
worker's `WorkerClock`. Every call is recorded so that tests can assert on what the worker asked.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from raftq.client.task_models import EntryOutcome, LeasedTask, TaskError, TaskFinish
from raftq.common.errors import ReceiptHandleInvalid
from raftq.worker.api import WorkerClock

STALE_LEASE = (ReceiptHandleInvalid.code, "the lease was taken over or has ended")


@dataclass
class StubTask:
    task_id: str
    type: str
    payload: Any
    max_attempts: int
    timeout_s: float
    state: str = "queued"  # queued, retrying, running, succeeded, dead
    attempt: int = 0
    visible_at_s: float = 0.0
    lease: str | None = None
    lease_deadline_s: float = 0.0
    result: Any = None
    errors: list[TaskError] = field(default_factory=list)
    handed_back: int = 0


@dataclass(frozen=True)
class LeaseCall:
    worker_id: str
    max_tasks: int
    lease_s: float | None
    wait_s: int
    got: int


class StubTaskApi:
    def __init__(self, clock: WorkerClock, *, default_lease_s: float = 30.0) -> None:
        self._clock = clock
        self._default_lease_s = default_lease_s
        self.tasks: dict[str, StubTask] = {}
        self._ids = itertools.count(1)
        self._handles = itertools.count(1)
        self._changed = asyncio.Event()
        self.lease_calls: list[LeaseCall] = []
        self.heartbeat_calls: list[list[tuple[str, float]]] = []
        self.finish_calls: list[list[TaskFinish]] = []

    # --- the test's side ---------------------------------------------------------------------

    def submit(
        self,
        type: str,
        payload: Any = None,
        *,
        max_attempts: int = 3,
        timeout_s: float = 300.0,
    ) -> str:
        task_id = f"t{next(self._ids)}"
        self.tasks[task_id] = StubTask(task_id, type, payload, max_attempts, timeout_s)
        self._changed.set()
        return task_id

    def leased_to_running(self) -> list[str]:
        return [t.task_id for t in self.tasks.values() if t.state == "running"]

    @property
    def finishes(self) -> list[TaskFinish]:
        return [report for call in self.finish_calls for report in call]

    # --- the TaskApi -------------------------------------------------------------------------

    async def lease_tasks(
        self,
        queue: str,
        worker_id: str,
        *,
        max_tasks: int = 1,
        lease_s: float | None = None,
        wait_s: int = 0,
    ) -> list[LeasedTask]:
        deadline_s = self._clock.monotonic_s() + wait_s
        while True:
            leased = self._lease_now(
                max_tasks, self._default_lease_s if lease_s is None else lease_s
            )
            remaining_s = deadline_s - self._clock.monotonic_s()
            if leased or remaining_s <= 0:
                self.lease_calls.append(
                    LeaseCall(worker_id, max_tasks, lease_s, wait_s, len(leased))
                )
                return leased
            self._changed.clear()
            waiting = asyncio.ensure_future(self._changed.wait())
            sleeping = asyncio.ensure_future(self._clock.sleep(remaining_s))
            try:
                await asyncio.wait({waiting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                sleeping.cancel()

    def _lease_now(self, max_tasks: int, lease_s: float) -> list[LeasedTask]:
        now_s = self._clock.monotonic_s()
        leased: list[LeasedTask] = []
        for task in self.tasks.values():
            if len(leased) == max_tasks:
                break
            if task.state == "running" and task.lease_deadline_s <= now_s:
                task.state = "retrying"  # the lease ran out: the task is due again
            if task.state in ("queued", "retrying") and task.visible_at_s <= now_s:
                if task.attempt >= task.max_attempts:
                    task.state = "dead"  # its last attempt's lease ran out
                    continue
                task.attempt += 1
                task.state = "running"
                task.lease = f"{task.task_id}/lease-{next(self._handles)}"
                task.lease_deadline_s = now_s + lease_s
                leased.append(
                    LeasedTask(
                        task.task_id,
                        task.lease,
                        task.type,
                        task.payload,
                        task.attempt,
                        task.max_attempts,
                        task.timeout_s,
                        task.lease_deadline_s,
                    )
                )
        return leased

    def _holder(self, lease: str) -> StubTask | None:
        now_s = self._clock.monotonic_s()
        for task in self.tasks.values():
            if task.lease == lease and task.state == "running" and task.lease_deadline_s > now_s:
                return task
        return None

    async def heartbeat_tasks(
        self, queue: str, leases: Sequence[tuple[str, float]]
    ) -> EntryOutcome:
        self.heartbeat_calls.append(list(leases))
        outcome = EntryOutcome()
        for lease, lease_s in leases:
            task = self._holder(lease)
            if task is None:
                outcome.failed[lease] = STALE_LEASE
                continue
            outcome.succeeded.append(lease)
            if lease_s == 0:
                task.state, task.lease, task.handed_back = "queued", None, task.handed_back + 1
                task.visible_at_s = self._clock.monotonic_s()
                self._changed.set()
            else:
                task.lease_deadline_s = self._clock.monotonic_s() + lease_s
        await asyncio.sleep(0)
        return outcome

    async def finish_tasks(self, queue: str, reports: Sequence[TaskFinish]) -> EntryOutcome:
        self.finish_calls.append(list(reports))
        outcome = EntryOutcome()
        for report in reports:
            task = self._holder(report.lease)
            if task is None:
                outcome.failed[report.lease] = STALE_LEASE
                continue
            outcome.succeeded.append(report.lease)
            task.lease = None
            if report.error is not None:
                task.errors.append(report.error)
            if report.outcome == "released":  # never started: the attempt does not count
                task.state, task.handed_back = "queued", task.handed_back + 1
                task.attempt -= 1
                task.visible_at_s = self._clock.monotonic_s()
                self._changed.set()
            elif report.outcome == "succeeded":
                task.state, task.result = "succeeded", report.result
            elif report.outcome == "retry" and task.attempt < task.max_attempts:
                task.state = "retrying"
                task.visible_at_s = self._clock.monotonic_s() + report.retry_delay_s
                self._changed.set()
            else:
                task.state = "dead"
        await asyncio.sleep(0)
        return outcome

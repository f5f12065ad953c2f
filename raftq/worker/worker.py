"""The worker: lease tasks of one queue, run their handlers, report each attempt.

Rules it keeps:
- It holds no more leases than it has free slots (the lease call asks for exactly the free
  slots, at most 10), so tasks it cannot start stay in the queue for other workers; when idle it
  long-polls (`poll_wait_s`).
- Every lease it holds is extended by one batched heartbeat (a call per 10 leases) each
  `lease_s / 3`: a task longer than its lease runs once, and a killed worker's tasks come back
  within `lease_s`.
- Retries wait in the queue: a failed attempt is finished with outcome "retry" and the delay,
  never slept on here. A finish refused because the lease was taken over (ReceiptHandleIsInvalid)
  is logged and dropped: another worker owns the task now.
- Stopping: a first `request_stop()` (SIGTERM, SIGINT) stops leasing; tasks a lease call returns
  after it are handed back at once, released (no attempt counted); running ones get `grace_s`.
  A second one, or the end of the grace, cancels what still runs and hands back its leases.
  A lease call in flight at a first stop is waited for (at most `poll_wait_s`), at a second one
  abandoned: whatever the service leased to it comes back when that lease ends, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as random_module
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import raftq
from raftq.client.task_models import EntryOutcome, LeasedTask, TaskFinish
from raftq.common.errors import ReceiptHandleInvalid, ResultNotJson
from raftq.worker import concurrency as slots
from raftq.worker.api import SystemWorkerClock, TaskApi, WorkerClock
from raftq.worker.attempt_span import attempt_span
from raftq.worker.executors import Returned, run_attempt
from raftq.worker.hooks import Hooks, call_hook
from raftq.worker.registry import (
    Registry,
    TaskContext,
    error_of,
    failure_report,
    json_problem,
    unknown_type_report,
)
from raftq.worker.reports import ReportBatcher
from raftq.worker.stats import WorkerStats, default_worker_id

log = logging.getLogger(__name__)

# The most tasks one lease call asks for, and leases one heartbeat or report call names: the
# REST API's batch limit (the SDK's default `batch_max_entries`).
LEASE_BATCH_MAX: Final = 10
ERROR_PAUSE_S: Final = 1.0  # after a failed lease call, before the next (the SDK retried already)


@dataclass(slots=True)
class _Held:
    task: LeasedTask
    job: asyncio.Task[None] | None = None
    lost: bool = False  # a heartbeat found the lease taken over: the task is someone else's
    reporting: bool = False  # the handler returned: its slot is free, its report on its way


class Worker:
    def __init__(
        self,
        api: TaskApi,
        registry: Registry,
        *,
        queue: str,
        worker_id: str | None = None,
        concurrency: int = 4,
        min_concurrency: int = 1,
        lease_s: float = 30.0,
        grace_s: float = 30.0,
        poll_wait_s: int = 10,
        idle_s_to_shrink: float = 30.0,
        hooks: Hooks | None = None,
        clock: WorkerClock | None = None,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        if lease_s < 1 or grace_s < 0 or not 0 <= poll_wait_s <= 20:
            raise ValueError("a worker needs lease_s >= 1, grace_s >= 0, 0 <= poll_wait_s <= 20")
        self._api, self._registry, self.queue = api, registry, queue
        self.worker_id = worker_id or default_worker_id()
        self._lease_s, self._grace_s, self._poll_wait_s = lease_s, grace_s, poll_wait_s
        self._hooks = hooks or Hooks()
        self._clock: WorkerClock = clock or SystemWorkerClock()
        self._random = random
        self._policy = slots.ConcurrencyPolicy(
            min_slots=min_concurrency, max_slots=concurrency, idle_s_to_shrink=idle_s_to_shrink
        )
        self._slots = slots.initial_state(self._policy, self._clock.monotonic_s())
        self._held: dict[str, _Held] = {}  # every lease held: running, or being reported
        self._reports = ReportBatcher(
            lambda reports: self._api.finish_tasks(self.queue, reports), LEASE_BATCH_MAX
        )
        self._stop_requests = 0
        self._stopped_at_s = 0.0  # of the first stop: the grace counts from it
        self._wake = asyncio.Event()  # an attempt ended, or a stop was asked
        self._hard_stop = asyncio.Event()
        self.stats = WorkerStats()

    @property
    def target_concurrency(self) -> int:
        return self._slots.target

    @property
    def running(self) -> list[str]:
        return [held.task.task_id for held in self._held.values()]

    def request_stop(self) -> None:
        """First call: stop gracefully; second: stop now."""
        self._stop_requests += 1
        self._wake.set()
        if self._stop_requests == 1:
            self._stopped_at_s = self._clock.monotonic_s()
            log.info(
                "worker %s stopping: no new leases, %g s of grace",
                self.worker_id,
                self._grace_s,
                extra={"event": "stopping", "queue": self.queue},
            )
        else:
            log.warning(
                "worker %s stopping now: running tasks are handed back",
                self.worker_id,
                extra={"event": "stopping_now", "queue": self.queue},
            )
            self._hard_stop.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self.request_stop)

    async def run(self) -> None:
        """Work until stopped; returns once every lease is finished or handed back."""
        log.info(
            "raftq %s worker %s on queue %s runs %s",
            raftq.__version__,
            self.worker_id,
            self.queue,
            self._registry.types,
            extra={"event": "started", "queue": self.queue},
        )
        await self._declare_types()
        heartbeats = asyncio.create_task(self._heartbeat_loop())
        try:
            await self._lease_loop()
            await self._drain()
        finally:
            if self._held:  # cancelled from outside: still hand back what is held
                await self._stop_now()
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeats

    async def _declare_types(self) -> None:
        """Tell the queue which types this worker runs, so a task of a type no worker handles is
        refused when it is submitted. A refusal (no grant) is logged: the worker runs anyway."""
        try:
            await self._api.set_task_types(self.queue, add=self._registry.types)
        except Exception as error:
            log.warning(
                "could not declare task types on %s: %s",
                self.queue,
                error,
                extra={"event": "task_types_not_declared", "queue": self.queue, "error": error},
            )

    # --- leasing -------------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        while self._stop_requests == 0:
            free = self._slots.target - self._busy()
            if free <= 0:
                self._wake.clear()
                await self._wake.wait()
                continue
            asked = min(free, LEASE_BATCH_MAX)
            call = asyncio.ensure_future(
                self._api.lease_tasks(
                    self.queue,
                    self.worker_id,
                    max_tasks=asked,
                    lease_s=self._lease_s,
                    wait_s=self._poll_wait_s,
                )
            )
            hard = asyncio.ensure_future(self._hard_stop.wait())
            try:
                await asyncio.wait({call, hard}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                call.cancel()
                raise
            finally:
                hard.cancel()
            if not call.done():  # a hard stop: the call's leases end on their own
                call.cancel()
                return
            try:
                leased = call.result()
            except Exception:  # the SDK retried; keep working, say why
                log.exception(
                    "leasing from %s failed; trying again",
                    self.queue,
                    extra={"event": "lease_failed", "queue": self.queue},
                )
                await self._clock.sleep(ERROR_PAUSE_S)
                continue
            self.stats.leased += len(leased)
            if self._stop_requests:
                await self._hand_back([task.lease for task in leased], started=False)
                return
            for task in leased:
                self._start(task)
            self._slots = slots.after_lease(
                self._policy,
                self._slots,
                asked=asked,
                got=len(leased),
                running=self._busy(),
                now_s=self._clock.monotonic_s(),
            )

    def _busy(self) -> int:
        """Slots taken: leases whose handler has not returned yet."""
        return sum(1 for held in self._held.values() if not held.reporting)

    def _start(self, task: LeasedTask) -> None:
        held = _Held(task)
        self._held[task.lease] = held
        held.job = asyncio.create_task(self._attempt(held), name=f"task-{task.task_id}")

    async def _hand_back(self, leases: Sequence[str], *, started: bool) -> None:
        """Return leased tasks to the queue now. One never started is released (its attempt is
        not counted); one whose handler was cancelled gets its lease ended (heartbeat with 0):
        that attempt happened."""
        if not leases:
            return
        self.stats.handed_back += len(leases)
        try:
            if started:
                outcome = await self._heartbeat([(lease, 0.0) for lease in leases])
            else:
                outcome = await self._release(leases)
        except Exception:
            log.exception(
                "handing back %d leases failed; they come back when they end",
                len(leases),
                extra={"event": "hand_back_failed", "queue": self.queue},
            )
            return
        for lease, (code, message) in outcome.failed.items():
            log.info(
                "handing back %s refused (%s: %s)",
                lease,
                code,
                message,
                extra={"event": "hand_back_refused", "queue": self.queue},
            )

    async def _release(self, leases: Sequence[str]) -> EntryOutcome:
        outcome = EntryOutcome()
        for start in range(0, len(leases), LEASE_BATCH_MAX):
            reports = [
                TaskFinish(lease=lease, outcome="released")
                for lease in leases[start : start + LEASE_BATCH_MAX]
            ]
            batch = await self._api.finish_tasks(self.queue, reports)
            outcome.succeeded.extend(batch.succeeded)
            outcome.failed.update(batch.failed)
        return outcome

    # --- one attempt ---------------------------------------------------------------------------

    async def _attempt(self, held: _Held) -> None:
        try:
            with attempt_span(self.queue, held.task, self.worker_id) as traced:
                report = traced.reported(await self._outcome(held.task))
                held.reporting = True
                self._wake.set()  # its slot is free: lease the next task while this one reports
                if not held.lost:
                    await self._finish(held.task, report)
        except asyncio.CancelledError:
            if not held.lost or self._hard_stop.is_set():
                raise
        finally:
            self._held.pop(held.task.lease, None)
            self._slots = slots.after_tick(
                self._policy, self._slots, running=self._busy(), now_s=self._clock.monotonic_s()
            )
            self._wake.set()

    async def _outcome(self, task: LeasedTask) -> TaskFinish:
        spec = self._registry.get(task.type)
        if spec is None:
            report = unknown_type_report(task, self._registry.types)
            log.error(
                "task %s: %s",
                task.task_id,
                report.error.message if report.error else "",
                extra={"event": "task_type_unknown", "queue": self.queue},
            )
            return report
        context = TaskContext(
            task.task_id, task.type, task.attempt, spec.attempts_for(task), self.worker_id
        )
        await call_hook(self._hooks.on_start, context)
        ending = await run_attempt(spec, task.payload, context, self._clock, spec.timeout_for(task))
        if isinstance(ending, Returned):
            problem = json_problem(ending.result)
            if problem is None:
                await call_hook(self._hooks.on_success, context, ending.result)
                return TaskFinish(lease=task.lease, outcome="succeeded", result=ending.result)
            error = error_of(ResultNotJson(f"{task.type} returned {problem}"))
            await call_hook(self._hooks.on_failure, context, error)
            return TaskFinish(lease=task.lease, outcome="failed", error=error)
        report = failure_report(spec, task, ending.error, self._random, ending.traceback)
        assert report.error is not None
        if report.outcome == "retry":
            log.info(
                "task %s attempt %d failed, retry in %.1f s: %s",
                task.task_id,
                task.attempt,
                report.retry_delay_s,
                report.error.message,
                extra={"event": "task_retrying", "queue": self.queue},
            )
            await call_hook(self._hooks.on_retry, context, report.error, report.retry_delay_s)
        else:
            log.warning(
                "task %s failed for good at attempt %d: %s",
                task.task_id,
                task.attempt,
                report.error.message,
                extra={"event": "task_failed", "queue": self.queue},
            )
            await call_hook(self._hooks.on_failure, context, report.error)
        return report

    async def _finish(self, task: LeasedTask, report: TaskFinish) -> None:
        """Report once; a refused or lost report is not retried: the lease's end brings the task
        back if the service did not record it."""
        try:
            refusal = await self._reports.report(report)
        except Exception:
            log.exception(
                "finishing task %s failed; it runs again when its lease ends",
                task.task_id,
                extra={"event": "task_report_failed", "queue": self.queue},
            )
            return
        if refusal is None:
            counter = {"succeeded": "succeeded", "retry": "retried", "failed": "failed"}
            name = counter[report.outcome]
            setattr(self.stats, name, getattr(self.stats, name) + 1)
            self.stats.outcomes.append(f"{task.task_id}:{report.outcome}")
        elif refusal[0] == ReceiptHandleInvalid.code:
            self.stats.lost += 1
            log.info(
                "task %s was taken over; its report is dropped",
                task.task_id,
                extra={"event": "task_report_dropped", "queue": self.queue},
            )
        else:
            log.warning(
                "task %s: report refused (%s: %s)",
                task.task_id,
                *refusal,
                extra={"event": "task_report_refused", "queue": self.queue},
            )

    # --- heartbeats and stopping ---------------------------------------------------------------

    async def _heartbeat(self, leases: Sequence[tuple[str, float]]) -> EntryOutcome:
        """One heartbeat call per batch of leases (more than a batch only above 10 slots)."""
        outcome = EntryOutcome()
        for start in range(0, len(leases), LEASE_BATCH_MAX):
            batch = await self._api.heartbeat_tasks(
                self.queue, leases[start : start + LEASE_BATCH_MAX]
            )
            outcome.succeeded.extend(batch.succeeded)
            outcome.failed.update(batch.failed)
        return outcome

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._clock.sleep(self._lease_s / 3)
            now_s = self._clock.monotonic_s()
            self._slots = slots.after_tick(
                self._policy, self._slots, running=self._busy(), now_s=now_s
            )
            leases = [(lease, self._lease_s) for lease, held in self._held.items() if not held.lost]
            if not leases:
                continue
            try:
                outcome = await self._heartbeat(leases)
            except Exception:
                log.exception(
                    "heartbeat of %d leases failed; next one in %g s",
                    len(leases),
                    self._lease_s / 3,
                    extra={"event": "heartbeat_failed", "queue": self.queue},
                )
                continue
            for lease, (code, message) in outcome.failed.items():
                held = self._held.get(lease)
                if held is None:
                    continue
                held.lost = True
                self.stats.lost += 1
                log.warning(
                    "task %s lost its lease (%s: %s); abandoning it",
                    held.task.task_id,
                    code,
                    message,
                    extra={"event": "lease_lost", "queue": self.queue},
                )
                if held.job is not None:
                    held.job.cancel()

    async def _drain(self) -> None:
        """After a stop: running attempts have until `grace_s` after it, or a second stop."""
        grace_left_s = self._grace_s - (self._clock.monotonic_s() - self._stopped_at_s)
        grace = asyncio.ensure_future(self._clock.sleep(grace_left_s))
        hard = asyncio.ensure_future(self._hard_stop.wait())
        try:
            while self._held and not grace.done() and not hard.done():
                jobs = {held.job for held in self._held.values() if held.job is not None}
                await asyncio.wait({*jobs, grace, hard}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            grace.cancel()
            hard.cancel()
        if self._held:
            await self._stop_now()

    async def _stop_now(self) -> None:
        held = list(self._held.values())
        self._hard_stop.set()
        for one in held:
            if one.job is not None:
                one.job.cancel()
        await asyncio.gather(
            *(one.job for one in held if one.job is not None), return_exceptions=True
        )
        await self._hand_back([one.task.lease for one in held if not one.lost], started=True)

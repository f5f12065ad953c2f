"""Firing schedules: the metadata leader submits each due tick's task to its queue.

While this node leads with current state, a pass runs about every `PASS_INTERVAL_S`. For each
schedule that is not paused and whose `next_tick_ms` has come, it:

  1. sends the task to the leader of the queue's backend cluster: one `SendMessages` entry with
     the schedule's sealed body, its `TaskSpec`, and the dedup id `s-{schedule_id}-{tick_ms}`
     (schedule_models.tick_dedup_id);
  2. only then proposes `RecordTick(tick_ms, next_tick_ms)` to the metadata group.

A leader that dies between 1 and 2 leaves the tick unrecorded: the next leader sends it again
and the queue answers with the first send's task (a duplicate within the dedup window, 5 minutes
by default), so each tick fires once. The dedup window bounds this: a tick left unrecorded for
longer than the window and fired again would be stored twice; a new leader takes over within
seconds.

No burst of catch-up: a schedule that fell behind (no leader for a while, the queue's cluster
unreachable) fires only the latest tick that has come (cron.latest_tick_ms); the ticks in
between are skipped, never queued. A failure (the cluster electing or unreachable, the queue
moving, an unknown outcome) is logged and the schedule is tried again on a later pass, after a
pause that doubles with each failure in a row up to `RETRY_MAX_S`; the tick tried then is the
latest one due by then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from raftq.common.commands import SendEntry, SendMessages
from raftq.common.errors import InternalError, QueueNotFound, RaftqError, error_from_code
from raftq.common.metadata_commands import AnyMetadataCommand, RecordTick
from raftq.common.metadata_models import Queue
from raftq.common.results import Failure, SendResult
from raftq.common.schedule_models import Schedule, tick_dedup_id
from raftq.common.tasks_wire import TaskSpec
from raftq.metadata import cron
from raftq.metadata.dead_letter_forwarder import BackendCommands
from raftq.metadata.schedule_ticks import timing_of

log = logging.getLogger(__name__)

# An `@every 1` schedule fires within a quarter of a second of its tick.
PASS_INTERVAL_S: Final = 0.25
RETRY_MAX_S: Final = 10.0
SCHEDULES_IN_FLIGHT: Final = 8


@dataclass
class _Retry:
    failures: int = 0
    at_ms: int = 0  # monotonic


class ScheduleFirer:
    def __init__(
        self,
        *,
        leading: Callable[[], bool],
        catalogue: Callable[[], tuple[list[Schedule], dict[str, Queue]]],
        backends: BackendCommands,
        propose: Callable[[AnyMetadataCommand], Awaitable[Any]],
        now_ms: Callable[[], int],
        monotonic_ms: Callable[[], int],
    ) -> None:
        self._leading = leading
        self._catalogue = catalogue
        self._backends = backends
        self._propose = propose
        self._now_ms = now_ms  # the leader's clock, the one it stamps commands with
        self._monotonic_ms = monotonic_ms
        self._retries: dict[str, _Retry] = {}
        self._timings: dict[tuple[str | None, int | None, str], cron.TickSpec] = {}

    async def run(self) -> None:
        while True:
            if self._leading():
                await self.fire_once()
            await asyncio.sleep(PASS_INTERVAL_S)

    async def fire_once(self) -> int:
        """One pass: the ticks fired (sent and recorded)."""
        if not self._leading():
            return 0
        schedules, queues = self._catalogue()
        for schedule_id in set(self._retries) - {s.schedule_id for s in schedules}:
            del self._retries[schedule_id]
        now_ms, monotonic_ms = self._now_ms(), self._monotonic_ms()
        due = [
            s
            for s in schedules
            if not s.paused
            and s.next_tick_ms <= now_ms
            and self._retries.get(s.schedule_id, _Retry()).at_ms <= monotonic_ms
        ]
        slots = asyncio.Semaphore(SCHEDULES_IN_FLIGHT)

        async def visit(schedule: Schedule) -> int:
            async with slots:
                return await self._visit(schedule, queues.get(schedule.queue))

        return sum(await asyncio.gather(*(visit(s) for s in due)))

    async def _visit(self, schedule: Schedule, queue: Queue | None) -> int:
        try:
            await self._fire(schedule, queue)
        except RaftqError as error:
            self._failed(schedule.schedule_id)
            log.info(
                "schedule %s waits: %s (%s)",
                schedule.name,
                error,
                error.code,
                extra={"event": "schedule_waiting", "error": error},
            )
            return 0
        except Exception:  # a supervisor loop: any failure is retried, and said
            self._failed(schedule.schedule_id)
            log.exception(
                "schedule %s waits: firing failed",
                schedule.name,
                extra={"event": "schedule_failed"},
            )
            return 0
        self._retries.pop(schedule.schedule_id, None)
        return 1

    async def _fire(self, schedule: Schedule, queue: Queue | None) -> None:
        if queue is None or queue.queue_id != schedule.queue_id or queue.lifecycle != "active":
            # Being created, moved or deleted (forgetting it removes the schedule): wait.
            raise QueueNotFound(f"queue {schedule.queue} does not serve now", field="queue")
        timing = self._timing(schedule)
        tick_ms = cron.latest_tick_ms(timing, schedule.next_tick_ms, self._now_ms())
        entry = SendEntry(
            entry_id="tick",
            body=schedule.body,
            dedup_id=tick_dedup_id(schedule.schedule_id, tick_ms),
            priority=schedule.priority,
            task=TaskSpec(
                type=schedule.task_type,
                max_attempts=schedule.max_attempts,
                timeout_ms=schedule.timeout_ms,
            ),
        )
        result = await self._backends.run(
            queue.placement.cluster_id,
            SendMessages(now_ms=0, queue=queue.queue_id, entries=(entry,)),
        )
        if not isinstance(result, SendResult):
            raise InternalError(f"a send answered {result.kind}")
        if result.failed:
            failure = result.failed[0]
            raise error_from_code(failure.code, failure.message, field=failure.field)
        recorded = await self._propose(
            RecordTick(
                now_ms=0,
                actor="scheduler",
                schedule_id=schedule.schedule_id,
                tick_ms=tick_ms,
                next_tick_ms=cron.next_tick_ms(timing, tick_ms),
            )
        )
        if isinstance(recorded, Failure):
            raise recorded.to_error()
        log.info(
            "schedule %s fired its tick %d (%s)",
            schedule.name,
            tick_ms,
            "a repeat" if result.sent[0].duplicate else "new",
            extra={"event": "schedule_fired"},
        )

    def _timing(self, schedule: Schedule) -> cron.TickSpec:
        key = (schedule.cron, schedule.every_ms, schedule.tz)
        timing = self._timings.get(key)
        if timing is None:
            timing = self._timings[key] = timing_of(schedule)
        return timing

    def _failed(self, schedule_id: str) -> None:
        retry = self._retries.setdefault(schedule_id, _Retry())
        retry.failures += 1
        pause_s = min(PASS_INTERVAL_S * 2**retry.failures, RETRY_MAX_S)
        retry.at_ms = self._monotonic_ms() + int(pause_s * 1000)

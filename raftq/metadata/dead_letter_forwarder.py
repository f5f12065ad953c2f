"""Forwarding dead letters to a dead-letter queue (DLQ) on another backend cluster.

A message past its queue's max receive count whose DLQ its cluster does not serve waits in the
queue's outbox (backend/dead_letter.py). The metadata leader forwards it, through three backend
commands that are each idempotent (backend/ops_dead_letters.py):

  1. `ReadDeadLetters` on the source's cluster: a batch of the oldest waiting dead letters, and
     the DLQ the queue's redrive policy names now (by queue id).
  2. `AcceptDeadLetters` on the cluster the catalogue places that DLQ on: it stores each one
     as a visible message, or recognizes it as stored before (a repeated forward).
  3. `ReleaseDeadLetters` on the source's cluster, with the ids the DLQ acknowledged: only now
     do they leave the outbox. When the queue has no redrive policy any more, step 2 is skipped
     and they are released `return_to_queue`: visible in their queue again, none lost.

Which queues to visit comes from the backend leaders' load reports (dead_letter_reports.py), so
a deployment without dead letters is never polled: an idle pass reads only memory. A pass runs
about every `PASS_INTERVAL_S` while this node leads. An error (the queue moved: `QueueMoved`;
a cluster electing, unreachable, or an outcome unknown) ends that queue's turn, is logged, and
the queue is tried again on a later pass, after a pause that doubles with each failure in a row
up to `RETRY_MAX_S`. A crash anywhere, or a new metadata leader, simply repeats steps: a
batch accepted but not released is accepted again as duplicates, then released. A batch read
by two leaders at once ends the same way.

The redrive target is the one the source's replica names at step 1, the same policy the
backend uses to dead-letter locally. Two windows can leave a second copy, never a loss: the
policy removed (or changed) between an accept and its release makes the next pass return the
message to its queue (or forward it to the new DLQ) while the first DLQ keeps its copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from raftq.common.clock import Clock
from raftq.common.commands import (
    AcceptDeadLetters,
    AnyCommand,
    ReadDeadLetters,
    ReleaseDeadLetters,
)
from raftq.common.errors import DeadLetterQueueInvalid, InternalError, RaftqError
from raftq.common.metadata_models import Queue
from raftq.common.results import (
    CommandResult,
    DeadLetters,
    DeadLettersAccepted,
    DeadLettersReleased,
)
from raftq.metadata.dead_letter_reports import DeadLetterReports
from raftq.metadata.node import MetadataNode

log = logging.getLogger(__name__)

PASS_INTERVAL_S: Final = 1.0
RETRY_MAX_S: Final = 10.0
# Batches one queue forwards in one pass; a queue with more waiting goes on at the next pass,
# so a large backlog does not hold the others up.
BATCHES_PER_PASS: Final = 16
# Queues forwarded at once: one whose cluster is slow to answer does not hold the others up.
QUEUES_IN_FLIGHT: Final = 8

ResultT = TypeVar("ResultT")


class BackendCommands(Protocol):
    """Runs a command on a cluster's leader; a failure result is raised as its error
    (metadata/backends.py)."""

    async def run(self, cluster_id: str, command: AnyCommand) -> CommandResult: ...


@dataclass
class _Progress:
    """One queue's state in the forwarder (monotonic ms)."""

    drained_at_ms: int | None = None  # when the pass that emptied its outbox began
    failures: int = 0  # in a row
    retry_at_ms: int = 0


class DeadLetterForwarder:
    def __init__(
        self,
        *,
        leading: Callable[[], bool],
        queues: Callable[[], list[Queue]],
        reports: DeadLetterReports,
        backends: BackendCommands,
        clock: Clock,
    ) -> None:
        self._leading = leading
        self._queues = queues
        self._reports = reports
        self._backends = backends
        self._clock = clock
        self._progress: dict[str, _Progress] = {}

    @classmethod
    def of(cls, node: MetadataNode, backends: BackendCommands) -> DeadLetterForwarder:
        def queues() -> list[Queue]:
            with node.machine.lock:
                return list(node.machine.machine.state.queues.values())

        return cls(
            # A leader elected a moment ago may not have applied the latest placements yet.
            leading=lambda: node.raft.leads_current_state,
            queues=queues,
            reports=node.dead_letters,
            backends=backends,
            clock=node.clock,
        )

    async def run(self) -> None:
        while True:
            if self._leading():
                await self.forward_once()
            await asyncio.sleep(PASS_INTERVAL_S)

    async def forward_once(self) -> int:
        """One pass over the queues the reports name that are due; the dead letters it moved
        (forwarded or returned to their queue)."""
        if not self._leading():
            return 0
        named = self._reports.waiting()
        for queue_id in set(self._progress) - set(named):
            del self._progress[queue_id]
        now_ms = self._clock.monotonic_ms()
        due = []
        for queue_id, named_at_ms in sorted(named.items()):
            progress = self._progress.setdefault(queue_id, _Progress())
            drained = progress.drained_at_ms is not None and named_at_ms < progress.drained_at_ms
            if not drained and now_ms >= progress.retry_at_ms:
                due.append(queue_id)
        if not due:
            return 0
        catalogue = {queue.queue_id: queue for queue in self._queues()}
        slots = asyncio.Semaphore(QUEUES_IN_FLIGHT)

        async def visit(queue_id: str) -> int:
            async with slots:
                return await self._visit(queue_id, catalogue)

        return sum(await asyncio.gather(*(visit(queue_id) for queue_id in due)))

    async def _visit(self, queue_id: str, catalogue: dict[str, Queue]) -> int:
        progress = self._progress[queue_id]
        started_ms = self._clock.monotonic_ms()
        source = catalogue.get(queue_id)
        name = source.name if source is not None else queue_id
        try:
            moved, emptied = await self._drain(source, catalogue)
        except RaftqError as error:
            self._failed(progress)
            log.info(
                "dead letters of queue %s wait: %s (%s)",
                name,
                error,
                error.code,
                extra={"event": "dead_letters_waiting", "queue": name, "error": error},
            )
            return 0
        except Exception:  # a supervisor loop: any failure is retried, and said
            self._failed(progress)
            log.exception(
                "dead letters of queue %s wait: forwarding failed",
                name,
                extra={"event": "dead_letters_failed", "queue": name},
            )
            return 0
        progress.failures, progress.retry_at_ms = 0, 0
        if emptied:
            progress.drained_at_ms = started_ms
        return moved

    def _failed(self, progress: _Progress) -> None:
        progress.failures += 1
        pause_s = min(PASS_INTERVAL_S * 2 ** (progress.failures - 1), RETRY_MAX_S)
        progress.retry_at_ms = self._clock.monotonic_ms() + int(pause_s * 1000)

    async def _drain(self, source: Queue | None, catalogue: dict[str, Queue]) -> tuple[int, bool]:
        """Forward batches until the outbox is empty (True) or this pass's share is done."""
        if source is None or source.lifecycle in ("creating", "deleting"):
            return 0, True  # no replica to forward from, or one about to be dropped
        moved = 0
        for _ in range(BATCHES_PER_PASS):
            if not self._leading():
                return moved, False
            letters = await self._run(
                source.placement.cluster_id,
                ReadDeadLetters(now_ms=0, queue=source.queue_id),
                DeadLetters,
            )
            if letters.entries:
                moved += await self._forward(source, letters, catalogue)
            if not letters.more:
                return moved, True
        return moved, False

    async def _forward(
        self, source: Queue, letters: DeadLetters, catalogue: dict[str, Queue]
    ) -> int:
        """Steps 2 and 3 for one batch; the dead letters released."""
        message_ids = tuple(letter.message_id for letter in letters.entries)
        cluster_id = source.placement.cluster_id
        if letters.dead_letter_queue is None:
            returned = await self._run(
                cluster_id,
                ReleaseDeadLetters(
                    now_ms=0, queue=source.queue_id, message_ids=message_ids, return_to_queue=True
                ),
                DeadLettersReleased,
            )
            log.info(
                "queue %s has no redrive policy any more: %d dead letters returned to it",
                source.name,
                len(returned.released),
                extra={"event": "dead_letters_returned", "queue": source.name},
            )
            return len(returned.released)
        dlq = catalogue.get(letters.dead_letter_queue)
        if dlq is None or dlq.lifecycle in ("creating", "deleting"):
            raise DeadLetterQueueInvalid(
                f"the dead-letter queue of {source.name} is not in the catalogue (or is being "
                "created or deleted): set the queue's redrive policy again",
                field="redrive",
            )
        accepted = await self._run(
            dlq.placement.cluster_id,
            AcceptDeadLetters(
                now_ms=0,
                queue=dlq.queue_id,
                source=source.queue_id,
                source_fifo=letters.fifo,
                entries=letters.entries,
            ),
            DeadLettersAccepted,
        )
        acknowledged = accepted.accepted + accepted.duplicates
        released = await self._run(
            cluster_id,
            ReleaseDeadLetters(now_ms=0, queue=source.queue_id, message_ids=acknowledged),
            DeadLettersReleased,
        )
        log.info(
            "forwarded %d dead letters of queue %s to %s (%d already there)",
            len(released.released),
            source.name,
            dlq.name,
            len(accepted.duplicates),
            extra={"event": "dead_letters_forwarded", "queue": source.name},
        )
        return len(released.released)

    async def _run(self, cluster_id: str, command: AnyCommand, kind: type[ResultT]) -> ResultT:
        result = await self._backends.run(cluster_id, command)
        if not isinstance(result, kind):
            raise InternalError(f"{command.kind} answered {result.kind}, not {kind.__name__}")
        return result

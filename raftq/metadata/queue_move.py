"""Moving a queue from one backend cluster to another while it is in use.

The protocol, run by the metadata leader. Every step is idempotent, so a new leader finishes
what an old one started (its reconciler picks up every queue left `moving`):

  1. Commit `BeginMove`: the queue is `moving` to the target. The source keeps serving.
  2. On the target, `BeginImport(epoch + 1, session)`: an empty replica that serves nobody.
     If the target already serves the queue under that epoch, an earlier mover finished the
     copy: skip to 6.
  3. On the source, `FenceQueue(epoch + 1)`: the switch. From this entry on the source refuses
     every request for the queue with `QueueMoved`, so nothing it acknowledged afterwards can be
     lost: it acknowledges nothing afterwards. Clients retry on the target once step 7 tells
     them where it is.
  4. Read the fenced, frozen source out in chunks (`/v1/export` on its leader) and file each
     chunk on the target (`ImportRecords`, one Raft entry each). Messages, in-flight leases
     with their receipt handles, dedup and receive-attempt memory and statuses all move.
  5. `FinishImport` with the number of records read: the target checks it copied exactly that
     many under this session, then serves.
  6. Drop the source's replica.
  7. Commit `SwitchPlacement`: the placement names the target under epoch + 1.

Between 3 and 7 the queue answers `QueueMoved` (retry): that pause is the copy's duration
(measured in docs/benchmarks.md). A crash or error anywhere leaves the queue `moving`; the next
attempt starts a new session, which discards a partial copy; the backend refuses any command of
an older session, so two movers can never finish with a mix of their copies. A move cannot be
cancelled once begun: it completes when both clusters are reachable.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Final

from raftq.common.commands import BeginImport, DropQueue, FenceQueue, FinishImport, ImportRecords
from raftq.common.errors import NotLeader, QueueNotFound, RaftqError
from raftq.common.metadata_commands import BeginMove, SwitchPlacement
from raftq.common.metadata_models import Queue
from raftq.common.metadata_results import QueueResult
from raftq.common.node_api import ExportRequest
from raftq.common.queue_names import named_error
from raftq.common.results import Failure, QueueCreated
from raftq.metadata.backends import Backends
from raftq.metadata.node import MetadataNode
from raftq.metadata.placement import choose_cluster

log = logging.getLogger(__name__)

RETRY_INTERVAL_S: Final = 1.0
# Chunks being filed on the target at once while the next ones are read from the source.
IMPORTS_IN_FLIGHT: Final = 4


@dataclass
class MoveProgress:
    """What a move is doing, for `raftq admin queues move` (served by the leader)."""

    target: str
    phase: str = "starting"
    records: int = 0
    chunks: int = 0
    attempts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    fenced_at: float | None = None
    switched_at: float | None = None
    export_s: float = 0.0  # time spent reading the source, and filing on the target
    import_s: float = 0.0
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        """`paused_s`: how long the queue has answered `QueueMoved` (fence to switch)."""
        paused_s = None
        if self.fenced_at is not None:
            paused_s = round((self.switched_at or time.monotonic()) - self.fenced_at, 3)
        return {
            "target": self.target,
            "phase": self.phase,
            "records": self.records,
            "chunks": self.chunks,
            "attempts": self.attempts,
            "paused_s": paused_s,
            "export_s": round(self.export_s, 3),
            "import_s": round(self.import_s, 3),
            "error": self.error,
        }


class QueueMover:
    def __init__(self, node: MetadataNode, backends: Backends) -> None:
        self._node = node
        self._backends = backends
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.progress: dict[str, MoveProgress] = {}

    async def start(self, name: str, target: str | None, actor: str) -> Queue:
        """Commit the move and start it; returns the queue, `moving`. `target` None: the
        least-loaded healthy cluster other than the queue's own."""
        if not self._node.raft.is_leader:
            raise NotLeader(
                "this node is not the leader", leader_hint=self._node.leader_api_address
            )
        state = self._node.machine.machine.state
        queue = state.queues.get(name)
        if queue is None:
            raise QueueNotFound(f"queue {name!r} does not exist", field="name")
        if target is None:
            others = [
                c for c in state.clusters.values() if c.cluster_id != queue.placement.cluster_id
            ]
            target = choose_cluster(
                self._node.liveness.view(others),
                state.queues_per_cluster(),
                self._node.clock.now_ms(),
            )
        result = await self._node.execute(
            BeginMove(now_ms=0, actor=actor, name=name, target_cluster=target)
        )
        if isinstance(result, Failure):
            raise result.to_error()
        assert isinstance(result, QueueResult), result
        if result.changed:  # a new move, not a retried start: its own progress
            self.progress[name] = MoveProgress(target=target)
            log.info(
                "moving queue %s from cluster %s to %s (asked by %s)",
                name,
                queue.placement.cluster_id,
                target,
                actor,
                extra={"event": "queue_move_started", "queue": name},
            )
        self._ensure_running(result.queue)
        return result.queue

    def reconcile_once(self) -> None:
        """Make sure every `moving` queue has a mover on this (leader) node."""
        for queue in list(self._node.machine.machine.state.queues.values()):
            if queue.lifecycle == "moving":
                self._ensure_running(queue)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _ensure_running(self, queue: Queue) -> None:
        task = self._tasks.get(queue.name)
        if task is None or task.done():
            self._tasks[queue.name] = asyncio.create_task(self._drive(queue.name))

    async def _drive(self, name: str) -> None:
        """Attempt the move until it is done or this node stops leading."""
        while self._node.raft.is_leader:
            queue = self._node.queue(name)
            if queue is None or queue.lifecycle != "moving" or queue.move_target is None:
                return
            progress = self.progress.setdefault(name, MoveProgress(target=queue.move_target))
            progress.attempts += 1
            try:
                await self._attempt(queue, progress)
                progress.phase, progress.error = "done", None
                log.info(
                    "moved queue %s to cluster %s: %d records, paused %s s, %d attempt(s)",
                    name,
                    progress.target,
                    progress.records,
                    progress.as_json()["paused_s"],
                    progress.attempts,
                    extra={"event": "queue_moved", "queue": name},
                )
                return
            except RaftqError as error:  # shown by `raftq admin`: it names the queue
                named = named_error(error, queue.queue_id, name)
                progress.error = f"{error.code}: {named}"
                log.info(
                    "moving %s: attempt %d failed: %s",
                    name,
                    progress.attempts,
                    named,
                    extra={"event": "queue_move_failed", "queue": name, "error": named},
                )
            except Exception as error:  # a supervisor loop: any failure is retried, and said
                progress.error = f"{type(error).__name__}: {error}"
                log.exception(
                    "moving %s: attempt %d failed",
                    name,
                    progress.attempts,
                    extra={"event": "queue_move_failed", "queue": name},
                )
            await asyncio.sleep(RETRY_INTERVAL_S)

    async def _attempt(self, queue: Queue, progress: MoveProgress) -> None:
        assert queue.move_target is not None
        source, target = queue.placement.cluster_id, queue.move_target
        epoch = queue.placement.epoch + 1
        session = secrets.token_urlsafe(12)
        now_ms = self._node.clock.now_ms()
        progress.phase, progress.records, progress.chunks = "preparing the target", 0, 0
        progress.export_s = progress.import_s = 0.0
        begun = await self._backends.run(
            target, BeginImport(now_ms=now_ms, queue=queue.queue_id, epoch=epoch, session=session)
        )
        assert isinstance(begun, QueueCreated), begun
        if begun.created:
            progress.phase = "fencing the source"
            await self._backends.run(
                source, FenceQueue(now_ms=now_ms, queue=queue.queue_id, epoch=epoch)
            )
            if progress.fenced_at is None:
                progress.fenced_at = time.monotonic()
            progress.phase = "copying"
            await self._copy(queue, epoch, session, progress)
        progress.phase = "dropping the source"
        await self._backends.run(source, DropQueue(now_ms=now_ms, queue=queue.queue_id))
        progress.phase = "switching placement"
        switched = await self._node.execute(
            SwitchPlacement(now_ms=0, actor="mover", name=queue.name, queue_id=queue.queue_id)
        )
        if isinstance(switched, Failure):
            raise switched.to_error()
        progress.switched_at = time.monotonic()

    async def _copy(self, queue: Queue, epoch: int, session: str, progress: MoveProgress) -> None:
        """Read chunks one after another (each names the next) while up to
        `IMPORTS_IN_FLIGHT` of them are being filed on the target: the puts of distinct keys
        commute, and `FinishImport` waits for all of them."""
        assert queue.move_target is not None
        target = queue.move_target
        exporter = self._backends.client(queue.placement.cluster_id)
        slots = asyncio.Semaphore(IMPORTS_IN_FLIGHT)
        imports: set[asyncio.Task[None]] = set()

        async def file(records: tuple[tuple[bytes, bytes], ...]) -> None:
            started = time.monotonic()
            try:
                command = ImportRecords(
                    now_ms=self._node.clock.now_ms(),
                    queue=queue.queue_id,
                    session=session,
                    records=records,
                )
                await self._backends.run(target, command)
            finally:
                slots.release()
            progress.import_s += time.monotonic() - started
            progress.records += len(records)
            progress.chunks += 1

        after: bytes | None = None
        total = 0
        try:
            while True:
                started = time.monotonic()
                chunk = await exporter.export(
                    ExportRequest(queue=queue.queue_id, epoch=epoch, after=after)
                )
                progress.export_s += time.monotonic() - started
                total += len(chunk.records)
                if chunk.records:
                    await slots.acquire()
                    for task in imports:
                        if task.done() and (error := task.exception()) is not None:
                            slots.release()
                            raise error
                    imports.add(asyncio.create_task(file(chunk.records)))
                if chunk.after is None:
                    break
                after = chunk.after
            await asyncio.gather(*imports)
        finally:
            for task in imports:
                task.cancel()
            await asyncio.gather(*imports, return_exceptions=True)
        assert progress.records == total, (progress.records, total)
        await self._backends.run(
            target,
            FinishImport(
                now_ms=self._node.clock.now_ms(),
                queue=queue.queue_id,
                session=session,
                records_total=total,
                fifo=chunk.fifo,
                attributes=chunk.attributes,
                created_at_ms=chunk.created_at_ms,
                created_index=chunk.created_index,
                last_purge_at_ms=chunk.last_purge_at_ms,
            ),
        )

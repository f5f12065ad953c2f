"""Creating and deleting a queue across the catalogue and a backend cluster.

The protocol, run by the metadata leader. Every step is idempotent, so a new leader can finish
what an old one started:

create(name, fifo, attributes, tags):
  1. Choose a placement (least-loaded healthy cluster, `placement.py`) and a fresh queue id, and
     commit `CreateQueue`: the queue is `creating`. An identical queue that already exists is
     continued instead; one with other attributes is refused (`QueueAlreadyExists`).
  2. Create the replica on that cluster (backend `CreateQueue`, idempotent).
  3. Commit `ActivateQueue`. Only now does the caller hear of success.

set(name, changes): commit the new attributes in the catalogue (refused unless the queue is
  `active`), then set the whole attribute set on the replica; a retry after a failure between
  the two converges. Moves are in queue_move.py.

delete(name):
  1. Commit `BeginDeleteQueue`: the queue is `deleting`, and frontends stop routing to it.
  2. Drop the replica (backend `DropQueue`, idempotent).
  3. Commit `ForgetQueue`.

A replica is made only after its queue is catalogued, and a queue is forgotten only after its
replica is dropped. A crash between steps therefore leaves a `creating` or `deleting` queue in
the catalogue, never a replica the catalogue does not name. The leader's reconciler finishes
such queues every `RECONCILE_INTERVAL_S` (`IDLE_RECONCILE_INTERVAL_S` while there are none), so
no half-made queue outlives its next pass.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Final

from raftq.common import commands as backend
from raftq.common.errors import ConflictingState, NotLeader, QueueNotFound, RaftqError
from raftq.common.metadata_commands import (
    ActivateQueue,
    BeginDeleteQueue,
    CreateQueue,
    ForgetQueue,
    SetQueueAttributes,
)
from raftq.common.metadata_models import Placement, Queue
from raftq.common.metadata_results import QueueResult
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes
from raftq.common.queue_names import named_error
from raftq.common.results import Failure
from raftq.metadata.backends import Backends
from raftq.metadata.handlers import check_new_queue
from raftq.metadata.node import MetadataNode
from raftq.metadata.placement import choose_cluster
from raftq.metadata.queue_move import QueueMover

log = logging.getLogger(__name__)

RECONCILE_INTERVAL_S: Final = 1.0
# A pass that found nothing half-made is followed by the next this much later, so an idle leader
# wakes rarely; a new leader's first pass, which finishes what the old one left, comes within it.
IDLE_RECONCILE_INTERVAL_S: Final = 5.0


class QueueLifecycle:
    def __init__(self, node: MetadataNode, backends: Backends) -> None:
        self._node = node
        self._backends = backends

    async def create(
        self,
        name: str,
        fifo: bool,
        attributes: QueueAttributes,
        actor: str,
        tags: dict[str, str] | None = None,
    ) -> Queue:
        if not self._node.raft.is_leader:
            raise NotLeader(
                "this node is not the leader", leader_hint=self._node.leader_api_address
            )
        state = self._node.machine.machine.state
        existing = state.queues.get(name)
        if existing is not None and existing.lifecycle == "deleting":
            raise ConflictingState(f"queue {name!r} is being deleted", field="name")
        if existing is not None:  # a retry: the command answers alike, or refuses a difference
            queue_id, placement = existing.queue_id, existing.placement
        else:
            check_new_queue(state, name, fifo, attributes)
            queue_id = f"q-{secrets.token_hex(8)}"
            cluster_id = choose_cluster(
                self._node.liveness.view(state.clusters.values()),
                state.queues_per_cluster(),
                self._node.clock.now_ms(),
            )
            placement = Placement(cluster_id=cluster_id, epoch=1)
        queue = await self._commit_queue(
            CreateQueue(
                now_ms=0,
                actor=actor,
                queue_id=queue_id,
                name=name,
                fifo=fifo,
                attributes=attributes,
                placement=placement,
                tags=tags or {},
            )
        )
        if queue.lifecycle == "creating":
            queue = await self._finish_creating(queue, actor)
        return queue

    async def set_attributes(self, name: str, changes: QueueAttributeChanges, actor: str) -> Queue:
        """Change attributes in the catalogue, then on the replica. Both steps set the whole
        attribute set, so a retry after a failure between them converges."""
        queue = self._node.queue(name)
        if queue is None:
            raise QueueNotFound(f"queue {name!r} does not exist", field="name")
        attributes = changes.applied_to(queue.attributes)
        queue = await self._commit_queue(
            SetQueueAttributes(now_ms=0, actor=actor, name=name, attributes=attributes)
        )
        replica = self._backend_attributes(queue.attributes)
        whole = QueueAttributeChanges(
            **replica.model_dump(exclude={"redrive"}),
            redrive=replica.redrive,
            clear_redrive=replica.redrive is None,
        )
        await self._on_backend(
            queue, backend.SetQueueAttributes(now_ms=0, queue=queue.queue_id, changes=whole)
        )
        return queue

    async def delete(self, name: str, actor: str) -> None:
        queue = await self._commit_queue(BeginDeleteQueue(now_ms=0, actor=actor, name=name))
        await self._finish_deleting(queue, actor)

    async def run_reconciler(self, mover: QueueMover) -> None:
        while True:
            half_made = False
            if self._node.raft.is_leader:
                half_made = await self.reconcile_once()
                mover.reconcile_once()
            await asyncio.sleep(RECONCILE_INTERVAL_S if half_made else IDLE_RECONCILE_INTERVAL_S)

    async def reconcile_once(self) -> bool:
        """One pass; True when it found a queue `creating` or `deleting` (done or not)."""
        half_made = False
        for queue in list(self._node.machine.machine.state.queues.values()):
            half_made = half_made or queue.lifecycle in ("creating", "deleting")
            try:
                if queue.lifecycle == "creating":
                    await self._finish_creating(queue, "reconciler")
                elif queue.lifecycle == "deleting":
                    await self._finish_deleting(queue, "reconciler")
            except RaftqError as error:
                log.info(
                    "queue %s stays %s for now: %s",
                    queue.name,
                    queue.lifecycle,
                    error,
                    extra={"event": "queue_lifecycle_waiting", "queue": queue.name},
                )
        return half_made

    async def _finish_creating(self, queue: Queue, actor: str) -> Queue:
        replica = backend.CreateQueue(
            now_ms=0,
            queue=queue.queue_id,
            fifo=queue.fifo,
            attributes=self._backend_attributes(queue.attributes),
        )
        await self._on_backend(queue, replica)
        return await self._commit_queue(
            ActivateQueue(now_ms=0, actor=actor, name=queue.name, queue_id=queue.queue_id)
        )

    async def _finish_deleting(self, queue: Queue, actor: str) -> None:
        await self._on_backend(queue, backend.DropQueue(now_ms=0, queue=queue.queue_id))
        result = await self._node.execute(
            ForgetQueue(now_ms=0, actor=actor, name=queue.name, queue_id=queue.queue_id)
        )
        if isinstance(result, Failure):
            raise result.to_error()

    def _backend_attributes(self, attributes: QueueAttributes) -> QueueAttributes:
        """The catalogue names a dead-letter queue by name; a replica knows it by queue id."""
        redrive = attributes.redrive
        if redrive is None:
            return attributes
        target = self._node.machine.machine.state.queues.get(redrive.dead_letter_queue)
        if target is None:
            raise ConflictingState("the dead-letter queue no longer exists", field="redrive")
        return attributes.model_copy(
            update={"redrive": redrive.model_copy(update={"dead_letter_queue": target.queue_id})}
        )

    async def _on_backend(self, queue: Queue, command: backend.AnyCommand) -> None:
        """Run `command` on the queue's cluster; its errors name the queue, not its id."""
        try:
            await self._backends.run(queue.placement.cluster_id, command)
        except RaftqError as error:
            named_error(error, queue.queue_id, queue.name)
            raise

    async def _commit_queue(
        self, command: CreateQueue | ActivateQueue | BeginDeleteQueue | SetQueueAttributes
    ) -> Queue:
        result = await self._node.execute(command)
        if isinstance(result, Failure):
            raise result.to_error()
        assert isinstance(result, QueueResult), result
        return result.queue

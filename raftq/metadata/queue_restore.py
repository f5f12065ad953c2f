"""Restoring a queue from a backup as a new queue (docs/backup.md), run by the metadata leader
for `raftq admin restore`.

  1. `begin`: refuse a name the catalogue holds (even an empty queue's: a restore makes a new
     queue, with the backup's FIFO-ness, attributes, dedup memory and sealing identity, none of
     which an existing queue can take over), check the attributes as a new queue's, choose the
     cluster (the one asked for, else the least loaded), draw a queue id and a session, and make
     an empty IMPORTING replica there (`BeginImport`, epoch 1): it serves nobody.
  2. The tool files the backup's records on that cluster (`ImportRecords` of the session).
  3. `finish`: `FinishImport` checks that the session holds exactly the backup's record count and
     turns the replica SERVING; then the queue is catalogued (`CreateQueue` with the backup's
     data keys and sealing identity) and activated as any new queue (queue_lifecycle.py).

The restored queue has a new id but seals under its source's (`Queue.sealing_id`), so the
messages the source sealed, and the data keys wrapped for it, open: nothing is re-encrypted and
no master key is needed. A restore that stops before `finish` leaves an IMPORTING replica that
no catalogue entry names and that serves nobody; a new restore makes another.
"""

from __future__ import annotations

import secrets

from raftq.common.backup_api import RestoreBeginRequest, RestoreBegun, RestoreFinishRequest
from raftq.common.commands import BeginImport, FinishImport
from raftq.common.errors import (
    ClusterNotFound,
    ConflictingState,
    DeadLetterQueueInvalid,
    InvalidParameter,
    NotLeader,
    QueueAlreadyExists,
)
from raftq.common.metadata_commands import CreateQueue, SetRedriveAllowPolicy
from raftq.common.metadata_models import Placement, Queue
from raftq.common.metadata_results import QueueResult
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import Failure
from raftq.metadata.backends import Backends
from raftq.metadata.handlers import check_new_queue
from raftq.metadata.node import MetadataNode
from raftq.metadata.placement import choose_cluster
from raftq.metadata.queue_lifecycle import QueueLifecycle


class QueueRestorer:
    def __init__(self, node: MetadataNode, backends: Backends, lifecycle: QueueLifecycle) -> None:
        self._node = node
        self._backends = backends
        self._lifecycle = lifecycle

    async def begin(self, call: RestoreBeginRequest) -> RestoreBegun:
        if not self._node.raft.is_leader:
            raise NotLeader(
                "this node is not the leader", leader_hint=self._node.leader_api_address
            )
        state = self._node.machine.machine.state
        if call.name in state.queues:
            raise QueueAlreadyExists(
                f"queue {call.name!r} exists: a restore makes a new queue and refuses an "
                "existing name, even an empty queue's (delete it first, or restore --as a new "
                "name)",
                field="name",
            )
        redrive = call.attributes.redrive
        if redrive is not None and redrive.dead_letter_queue not in state.queues:
            raise DeadLetterQueueInvalid(
                f"queue {call.name!r} names the dead-letter queue {redrive.dead_letter_queue!r}, "
                "which does not exist: restore (or create) it first",
                field="redrive",
            )
        check_new_queue(state, call.name, call.fifo, call.attributes)
        if call.sealing_id is not None and not call.data_keys:
            raise InvalidParameter(
                "a sealing identity comes with its data keys", field="sealing_id"
            )
        if call.cluster_id is not None:
            if call.cluster_id not in state.clusters:
                raise ClusterNotFound(f"no backend cluster {call.cluster_id!r}", field="cluster")
            cluster_id = call.cluster_id
        else:
            cluster_id = choose_cluster(
                self._node.liveness.view(state.clusters.values()),
                state.queues_per_cluster(),
                self._node.clock.now_ms(),
            )
        queue_id, session = f"q-{secrets.token_hex(8)}", secrets.token_urlsafe(12)
        await self._backends.run(
            cluster_id,
            BeginImport(now_ms=self._node.clock.now_ms(), queue=queue_id, epoch=1, session=session),
        )
        members = tuple(m.api_address for m in state.clusters[cluster_id].members)
        return RestoreBegun(
            queue_id=queue_id, cluster_id=cluster_id, session=session, members=members
        )

    async def finish(self, call: RestoreFinishRequest) -> Queue:
        begin, begun = call.begin, call.begun
        await self._backends.run(
            begun.cluster_id,
            FinishImport(
                now_ms=self._node.clock.now_ms(),
                queue=begun.queue_id,
                session=begun.session,
                records_total=call.records_total,
                fifo=begin.fifo,
                attributes=self._replica_attributes(begin.attributes),
                created_at_ms=call.created_at_ms,
                created_index=call.created_index,
                last_purge_at_ms=call.last_purge_at_ms,
            ),
        )
        created = await self._node.execute(
            CreateQueue(
                now_ms=0,
                actor=begin.actor,
                queue_id=begun.queue_id,
                name=begin.name,
                fifo=begin.fifo,
                attributes=begin.attributes,
                placement=Placement(cluster_id=begun.cluster_id, epoch=1),
                tags=begin.tags,
                data_keys=begin.data_keys,
                sealing_id=begin.sealing_id,
            )
        )
        if isinstance(created, Failure):
            raise created.to_error()
        assert isinstance(created, QueueResult), created
        if created.queue.queue_id != begun.queue_id:
            raise ConflictingState(
                f"queue {begin.name!r} was created by someone else during the restore",
                field="name",
            )
        # Activation as for any new queue: the replica exists (it answers `created: False`).
        queue = await self._lifecycle.create(
            begin.name, begin.fifo, begin.attributes, begin.actor, begin.tags
        )
        if begin.redrive_allow is not None:
            allowed = await self._node.execute(
                SetRedriveAllowPolicy(
                    now_ms=0, actor=begin.actor, name=begin.name, policy=begin.redrive_allow
                )
            )
            if isinstance(allowed, Failure):
                raise allowed.to_error()
            if isinstance(allowed, QueueResult):
                queue = allowed.queue
        return queue

    def _replica_attributes(self, attributes: QueueAttributes) -> QueueAttributes:
        """The catalogue names a dead-letter queue by name; a replica knows it by queue id."""
        redrive = attributes.redrive
        if redrive is None:
            return attributes
        target = self._node.machine.machine.state.queues.get(redrive.dead_letter_queue)
        if target is None:
            raise ConflictingState(
                f"the dead-letter queue {redrive.dead_letter_queue!r} does not exist",
                field="redrive",
            )
        return attributes.model_copy(
            update={"redrive": redrive.model_copy(update={"dead_letter_queue": target.queue_id})}
        )

"""A queue moving between clusters: the backend half (the metadata leader drives it, see
raftq/metadata/queue_move.py).

On the cluster the queue leaves, `FenceQueue` marks the replica FENCED under the new placement
epoch: it refuses every request from then on, and nothing changes its records any more (expiry
sweeps and dead-letter moves pass it by), so they can be read out consistently
(`queue_export.py`).

On the cluster the queue moves to, one copy is a *session*: `BeginImport` makes an empty
IMPORTING replica (discarding what an earlier session copied), `ImportRecords` files portable
records under this replica's qnum, and `FinishImport` checks that the session's record count
matches the source's and turns the replica SERVING with the source's queue record. A command
of any other session is refused, so two movers (an old leader's and a new one's) can never
finish with a mix of their copies: only a session that copied everything since its own
`BeginImport` can finish.
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.ops_queues import allocate_qnum
from raftq.backend.queue_state import QueueState
from raftq.backend.records import ImportSession, QueueRecord, ReplicaStatus
from raftq.common.commands import BeginImport, FenceQueue, FinishImport, ImportRecords
from raftq.common.errors import (
    ConflictingState,
    InvalidParameter,
    QueueAlreadyExists,
    QueueMoved,
    QueueNotFound,
)
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import Done, QueueCreated


def fence_queue(ctx: ApplyContext, command: FenceQueue) -> Done:
    queue = QueueState.find(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    if queue is None:
        raise QueueNotFound(f"queue {command.queue!r} does not exist", field="queue")
    record = queue.record
    if record.status == ReplicaStatus.FENCED and record.epoch == command.epoch:
        return Done()
    if record.status == ReplicaStatus.IMPORTING:
        raise QueueMoved(f"queue {command.queue!r} is still being copied in", field="queue")
    if command.epoch <= record.epoch:
        raise ConflictingState(
            f"the replica holds epoch {record.epoch}; a fence needs a newer one", field="epoch"
        )
    record.status = ReplicaStatus.FENCED
    record.epoch = command.epoch
    queue.save_record()
    return Done()


def begin_import(ctx: ApplyContext, command: BeginImport) -> QueueCreated:
    """`created` False: the replica already serves the queue under this epoch (a copy finished
    before; the mover goes on with what follows it)."""
    existing = QueueState.find(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    if existing is not None:
        record = existing.record
        if record.status == ReplicaStatus.SERVING:
            if record.epoch >= command.epoch:
                return QueueCreated(created=False)
            raise QueueAlreadyExists(
                f"queue {command.queue!r} is served here under epoch {record.epoch}", field="queue"
            )
        if record.epoch > command.epoch:
            raise ConflictingState(
                f"the replica holds the newer epoch {record.epoch}", field="epoch"
            )
        qnum = record.qnum  # an older copy (unfinished, or one moved away): start afresh
        for family in keys.QUEUE_FAMILIES:
            ctx.txn.delete_range(*keys.family_range(family, qnum))
    else:
        qnum = allocate_qnum(ctx)
    placeholder = QueueRecord(
        queue_id=command.queue,
        qnum=qnum,
        fifo=False,
        attributes=QueueAttributes(),
        created_at_ms=ctx.now_ms,
        created_index=ctx.index,
        epoch=command.epoch,
        status=ReplicaStatus.IMPORTING,
    )
    ctx.txn.put(keys.queue_key(command.queue), placeholder.pack())
    session = ImportSession(session=command.session, epoch=command.epoch, records=0)
    ctx.txn.put(keys.import_key(command.queue), session.pack())
    return QueueCreated(created=True)


def import_records(ctx: ApplyContext, command: ImportRecords) -> Done:
    record, session = _importing(ctx, command.queue, command.session)
    try:
        local = [
            (keys.local_key(portable, record.qnum), value) for portable, value in command.records
        ]
    except ValueError as error:
        raise InvalidParameter(f"a record key is not portable: {error}", field="records") from None
    for key, value in local:
        ctx.txn.put(key, value)
    grown = ImportSession(session.session, session.epoch, session.records + len(local))
    ctx.txn.put(keys.import_key(command.queue), grown.pack())
    return Done()


def finish_import(ctx: ApplyContext, command: FinishImport) -> Done:
    found = QueueState.find(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    if found is not None and found.record.status == ReplicaStatus.SERVING:
        raw = ctx.txn.get(keys.import_key(command.queue))
        if raw is None:
            return Done()  # finished already (a retry)
    record, session = _importing(ctx, command.queue, command.session)
    if session.records != command.records_total:
        raise ConflictingState(
            f"the session copied {session.records} records, the source has {command.records_total}",
            field="records_total",
        )
    record.fifo = command.fifo
    record.attributes = command.attributes
    record.created_at_ms = command.created_at_ms
    record.created_index = command.created_index
    record.last_purge_at_ms = command.last_purge_at_ms
    record.status = ReplicaStatus.SERVING
    ctx.txn.put(keys.queue_key(command.queue), record.pack())
    ctx.txn.delete(keys.import_key(command.queue))
    return Done()


def _importing(
    ctx: ApplyContext, queue_id: str, session_id: str
) -> tuple[QueueRecord, ImportSession]:
    found = QueueState.find(ctx.txn, queue_id, ctx.now_ms, ctx.advanced)
    raw = ctx.txn.get(keys.import_key(queue_id))
    if found is None or found.record.status != ReplicaStatus.IMPORTING or raw is None:
        raise ConflictingState(f"queue {queue_id!r} is not being imported", field="queue")
    session = ImportSession.unpack(raw)
    if session.session != session_id:
        raise ConflictingState("a newer copy replaced this session", field="session")
    return found.record, session

"""Reading queues out of a checkpoint of a replica's store, for a backup (docs/backup.md).

The checkpoint holds the state after one applied entry (backup_sessions.py), so chunks read from
it at different times form one consistent copy, while the live queue goes on serving: nothing
is fenced. Records are *portable* (keys.portable_key), the form a move copies and `ImportRecords`
files, with two changes, because a restored queue is a new queue whose receipt handles were
never given out:

- a message in flight is released: its visibility deadline becomes 0 (its IN_FLIGHT key and
  its record's timer), so the restored queue's first apply makes it visible again, through the
  ordinary end-of-visibility path (FIFO group state included); its receive count is kept, and
  no receipt handle of the old queue is its latest;
- receive-attempt memory (ATTEMPT) is left out: it replays receipt handles of the old queue.
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.records import MessageMeta, MessageState, QueueRecord, ReplicaStatus
from raftq.backend.store import ReadView
from raftq.common import limits
from raftq.common.backup_api import BackedUpQueue, BackupChunk
from raftq.common.errors import QueueMoved, QueueNotFound

_FAMILIES = tuple(sorted(f for f in keys.QUEUE_FAMILIES if f != keys.ATTEMPT))
# The handle tag of a released lease: no receipt handle carries it (tags are hashes,
# identifiers.handle_tag), so every handle of the old queue stays invalid on the restored one.
_RELEASED_TAG = b"released"


def applied_index(view: ReadView) -> int:
    raw = view.get(keys.META_APPLIED_INDEX)
    return 0 if raw is None else keys.read_u64(raw, 0)


def backed_up_queues(view: ReadView, queue_ids: tuple[str, ...] | None) -> list[BackedUpQueue]:
    """The records of `queue_ids` (None: every queue the replica serves). A queue named but not
    here, or here but not serving (moving in or out), is refused."""
    records: list[QueueRecord] = []
    if queue_ids is None:
        for _, raw in view.scan(keys.QUEUE, keys.prefix_end(keys.QUEUE)):
            record = QueueRecord.unpack(raw)
            if record.status == ReplicaStatus.SERVING:
                records.append(record)
    else:
        for queue_id in queue_ids:
            records.append(queue_record(view, queue_id))
    return [
        BackedUpQueue(
            queue_id=r.queue_id,
            fifo=r.fifo,
            attributes=r.attributes,
            created_at_ms=r.created_at_ms,
            created_index=r.created_index,
            last_purge_at_ms=r.last_purge_at_ms,
        )
        for r in records
    ]


def queue_record(view: ReadView, queue_id: str) -> QueueRecord:
    raw = view.get(keys.queue_key(queue_id))
    if raw is None:
        raise QueueNotFound(f"queue {queue_id!r} does not exist on this cluster", field="queue")
    record = QueueRecord.unpack(raw)
    if record.status != ReplicaStatus.SERVING:
        raise QueueMoved(f"queue {queue_id!r} is moving; back it up once it moved", field="queue")
    return record


def backup_chunk(
    view: ReadView,
    queue_id: str,
    after: bytes | None,
    max_bytes: int = limits.MOVE_CHUNK_MAX_BYTES,
    max_records: int = limits.MOVE_CHUNK_MAX_RECORDS,
) -> BackupChunk:
    """The next records of the queue after the local key `after` (the families are read in key
    order, so one cursor spans them all)."""
    qnum = queue_record(view, queue_id).qnum
    records: list[tuple[bytes, bytes]] = []
    size, last_local = 0, b""
    for family in _FAMILIES:
        start, stop = keys.family_range(family, qnum)
        if after is not None:
            if after >= stop:
                continue
            start = max(start, after + b"\x00")
        for key, value in view.scan(start, stop):
            full = size + len(key) + len(value) > max_bytes or len(records) >= max_records
            if records and full:
                return BackupChunk(records=tuple(records), after=last_local)
            released_key, released_value = released(family, key, value)
            records.append((keys.portable_key(released_key), released_value))
            size += len(key) + len(value)
            last_local = key
    return BackupChunk(records=tuple(records), after=None)


def released(family: bytes, key: bytes, value: bytes) -> tuple[bytes, bytes]:
    """The record with an in-flight lease ended at time 0 (see the module header)."""
    if family == keys.IN_FLIGHT:
        qnum = int.from_bytes(key[1:5], "big")
        return keys.timed_key(keys.IN_FLIGHT, qnum, 0, keys.seq_at_end(key)), value
    if family == keys.MESSAGE:
        meta = MessageMeta.unpack(value)
        if meta.state is MessageState.IN_FLIGHT:
            meta.timer_ms = 0
            meta.handle_tag = _RELEASED_TAG
            return key, meta.pack()
    return key, value

"""Reading a fenced queue out of a replica, in chunks, for a move (ops_move.py).

Only a FENCED replica is read: nothing changes its records any more, so chunks read at
different times form one consistent copy. The cursor is the last local key returned; the
families are read in key order, so one cursor spans all of them.
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.records import QueueRecord, ReplicaStatus
from raftq.backend.store import ReadView
from raftq.common import limits
from raftq.common.errors import ConflictingState, QueueNotFound
from raftq.common.node_api import ExportChunk, ExportRequest

_FAMILIES = tuple(sorted(keys.QUEUE_FAMILIES))


def export_chunk(
    store: ReadView,
    request: ExportRequest,
    max_bytes: int = limits.MOVE_CHUNK_MAX_BYTES,
    max_records: int = limits.MOVE_CHUNK_MAX_RECORDS,
) -> ExportChunk:
    raw = store.get(keys.queue_key(request.queue))
    if raw is None:
        raise QueueNotFound(f"queue {request.queue!r} does not exist", field="queue")
    record = QueueRecord.unpack(raw)
    if record.status != ReplicaStatus.FENCED or record.epoch != request.epoch:
        raise ConflictingState(
            f"queue {request.queue!r} is not fenced under epoch {request.epoch} here",
            field="epoch",
        )
    records: list[tuple[bytes, bytes]] = []
    size, last_local = 0, b""
    for family in _FAMILIES:
        start, stop = keys.family_range(family, record.qnum)
        if request.after is not None:
            if request.after >= stop:
                continue
            start = max(start, request.after + b"\x00")
        for key, value in store.scan(start, stop):
            full = size + len(key) + len(value) > max_bytes or len(records) >= max_records
            if records and full:
                return _chunk(record, records, after=last_local)
            records.append((keys.portable_key(key), value))
            size += len(key) + len(value)
            last_local = key
    return _chunk(record, records, after=None)


def _chunk(
    record: QueueRecord, records: list[tuple[bytes, bytes]], after: bytes | None
) -> ExportChunk:
    return ExportChunk(
        fifo=record.fifo,
        attributes=record.attributes,
        created_at_ms=record.created_at_ms,
        created_index=record.created_index,
        last_purge_at_ms=record.last_purge_at_ms,
        records=tuple(records),
        after=after,
    )

"""The records kept in the EXPIRY index (keys.py), and when each expires: an EXPIRY entry removes
its record only if the record's own time is the entry's (queue_state.py `_gc_records`)."""

from __future__ import annotations

from raftq.backend import keys, task_records
from raftq.backend.records import AcceptRecord, AttemptRecord, DedupRecord, StatusRecord
from raftq.common.errors import CorruptState


def expires_at(kind: bytes, raw: bytes) -> int:
    """The expiry time of a record of `kind` stored as `raw`."""
    if kind == keys.EXPIRY_DEDUP:
        return DedupRecord.unpack(raw).expires_at_ms
    if kind == keys.EXPIRY_ATTEMPT:
        return AttemptRecord.unpack(raw).expires_at_ms
    if kind == keys.EXPIRY_STATUS:
        return StatusRecord.unpack(raw).expires_at_ms
    if kind == keys.EXPIRY_ACCEPTED:
        return AcceptRecord.unpack(raw).expires_at_ms
    if kind == keys.EXPIRY_TASK:
        return task_records.expires_at(raw)
    raise CorruptState(f"unknown expiry kind {kind!r}")

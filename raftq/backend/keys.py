"""The RocksDB key layout of a backend replica: every key family, in one place.

All keys sort as raw bytes. Numbers are fixed-width big-endian so byte order is numeric order.
Each queue gets a number (`qnum`, u32) at creation that is never reused, so a dropped queue's
leftovers can never be mistaken for a new queue's and per-queue families are one contiguous
range each (purge and drop are range deletes, not scans).

| prefix | key                       | value         | purpose                      |
|--------|---------------------------|---------------|------------------------------|
| 0x00   | meta name                 | varies        | applied index, digest, clock |
| Q      | queue_id                  | QueueRecord   | queue catalogue              |
| N      | queue_id                  | ImportSession | copy in progress (a move)    |
| C      | qnum                      | Counters      | exact counts, next sequence  |
| M      | qnum seq                  | MessageMeta   | message state (small, hot)   |
| B      | qnum seq                  | body record   | body + attributes            |
| I      | qnum message_id           | seq           | lookup by message id         |
| V      | qnum (9 - priority) seq   | -             | visible, standard queue order |
| F      | qnum len(group) group seq | -             | visible, per FIFO group order |
| A      | qnum head_seq group       | -             | FIFO groups ready to deliver |
| G      | qnum group                | GroupState    | FIFO group in-flight count   |
| D      | qnum due_ms seq           | -             | delayed, by time due         |
| T      | qnum deadline_ms seq      | -             | in flight, by deadline       |
| R      | qnum sent_at_ms seq       | -             | retention, by send time      |
| O      | qnum seq                  | -             | waiting for a remote DLQ     |
| U      | qnum dedup_id             | DedupRecord   | send deduplication           |
| L      | qnum len(src) src msg_id  | AcceptRecord  | dead letters taken in        |
| W      | qnum attempt_id           | AttemptRecord | receive attempt replay       |
| S      | qnum message_id           | StatusRecord  | status of removed messages   |
| X      | qnum expires_ms kind key  | -             | expiry of U, W, S, L, K records |
| K      | qnum message_id           | TaskRecord    | a task's record (its status) |
| Z      | qnum len(type) type seq   | -             | tasks in flight, by type     |
| Y      | qnum type                 | TypeLimits    | a task type's rate limits    |
| J      | qnum phase finished_ms id | -             | finished tasks, by outcome   |

A move copies a queue's families to another cluster as *portable* keys: the key without its
qnum (and, in EXPIRY keys, without the qnum of the record key they end in), so the receiving
replica can file them under its own qnum (`portable_key`, `local_key`).

Retention is indexed by send time, not by expiry time, so a change of the queue's retention
applies to stored messages at once without reindexing: a message expires when
`sent_at_ms + retention_ms <= now_ms`.
"""

from __future__ import annotations

import struct
from typing import Final

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

META: Final = b"\x00"
META_APPLIED_INDEX: Final = META + b"applied_index"
META_DIGEST: Final = META + b"digest"
META_CLOCK_MS: Final = META + b"clock_ms"
META_NEXT_QNUM: Final = META + b"next_qnum"

QUEUE: Final = b"Q"
IMPORT: Final = b"N"
COUNTERS: Final = b"C"
MESSAGE: Final = b"M"
BODY: Final = b"B"
BY_ID: Final = b"I"
VISIBLE: Final = b"V"
GROUP_VISIBLE: Final = b"F"
GROUP_READY: Final = b"A"
GROUP_STATE: Final = b"G"
DELAYED: Final = b"D"
IN_FLIGHT: Final = b"T"
RETENTION: Final = b"R"
DLQ_OUTBOX: Final = b"O"
DEDUP: Final = b"U"
# Dead letters this queue took in from a source queue on another cluster (AcceptDeadLetters),
# by (source queue id, message id): a repeated forward stores nothing (ops_dead_letters.py).
ACCEPTED: Final = b"L"
ATTEMPT: Final = b"W"
STATUS: Final = b"S"
EXPIRY: Final = b"X"
# The task layer (task_records.py, ops_tasks.py): a task is a message with a record under TASK.
TASK: Final = b"K"
TASK_RUNNING: Final = b"Z"
TASK_LIMITS: Final = b"Y"
TASK_FINISHED: Final = b"J"

# Families holding messages and everything derived from them: a purge deletes exactly these.
MESSAGE_FAMILIES: Final = (
    MESSAGE,
    BODY,
    BY_ID,
    VISIBLE,
    GROUP_VISIBLE,
    GROUP_READY,
    GROUP_STATE,
    DELAYED,
    IN_FLIGHT,
    RETENTION,
    DLQ_OUTBOX,
    ATTEMPT,
    TASK_RUNNING,
)
# A drop deletes these as well (the dedup and status memory of the queue). A purge keeps the
# memory of accepted dead letters, as it keeps send dedup: a forward repeated after a purge
# must not bring a purged dead letter back. It keeps task records (a purged task reads as
# cancelled until its record expires) and task limits (configuration).
QUEUE_FAMILIES: Final = (
    *MESSAGE_FAMILIES,
    COUNTERS,
    DEDUP,
    ACCEPTED,
    STATUS,
    EXPIRY,
    TASK,
    TASK_LIMITS,
    TASK_FINISHED,
)

# Record kinds in the EXPIRY family.
EXPIRY_DEDUP: Final = b"u"
EXPIRY_ATTEMPT: Final = b"w"
EXPIRY_STATUS: Final = b"s"
EXPIRY_ACCEPTED: Final = b"l"
EXPIRY_TASK: Final = b"k"


def u32(value: int) -> bytes:
    return _U32.pack(value)


def u64(value: int) -> bytes:
    return _U64.pack(value)


def read_u64(raw: bytes, offset: int) -> int:
    value: int = _U64.unpack_from(raw, offset)[0]
    return value


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key that starts with `prefix`."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        raise ValueError("a prefix of only 0xff bytes has no end")
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def queue_key(queue_id: str) -> bytes:
    return QUEUE + queue_id.encode()


def import_key(queue_id: str) -> bytes:
    return IMPORT + queue_id.encode()


def family(prefix: bytes, qnum: int) -> bytes:
    """The prefix of one per-queue family; the family spans [this, prefix_end(this))."""
    return prefix + u32(qnum)


def family_range(prefix: bytes, qnum: int) -> tuple[bytes, bytes]:
    start = family(prefix, qnum)
    return start, prefix_end(start)


def counters_key(qnum: int) -> bytes:
    return family(COUNTERS, qnum)


def message_key(qnum: int, seq: int) -> bytes:
    return family(MESSAGE, qnum) + u64(seq)


def body_key(qnum: int, seq: int) -> bytes:
    return family(BODY, qnum) + u64(seq)


def by_id_key(qnum: int, message_id: str) -> bytes:
    return family(BY_ID, qnum) + message_id.encode()


def visible_key(qnum: int, priority: int, seq: int) -> bytes:
    # Higher priority first: store the complement so ascending order serves priority 9 first.
    return family(VISIBLE, qnum) + bytes([9 - priority]) + u64(seq)


def group_prefix(qnum: int, group_id: str) -> bytes:
    encoded = group_id.encode()
    return family(GROUP_VISIBLE, qnum) + bytes([len(encoded)]) + encoded


def group_visible_key(qnum: int, group_id: str, seq: int) -> bytes:
    return group_prefix(qnum, group_id) + u64(seq)


def group_ready_key(qnum: int, head_seq: int, group_id: str) -> bytes:
    return family(GROUP_READY, qnum) + u64(head_seq) + group_id.encode()


def group_state_key(qnum: int, group_id: str) -> bytes:
    return family(GROUP_STATE, qnum) + group_id.encode()


def timed_key(prefix: bytes, qnum: int, at_ms: int, seq: int) -> bytes:
    """Keys of the DELAYED, IN_FLIGHT and RETENTION families: (time, seq) order."""
    return family(prefix, qnum) + u64(at_ms) + u64(seq)


def timed_until(prefix: bytes, qnum: int, now_ms: int) -> bytes:
    """End of the timed keys due at `now_ms` (times <= now_ms)."""
    return family(prefix, qnum) + u64(now_ms + 1)


def outbox_key(qnum: int, seq: int) -> bytes:
    return family(DLQ_OUTBOX, qnum) + u64(seq)


def dedup_key(qnum: int, dedup_id: str) -> bytes:
    return family(DEDUP, qnum) + dedup_id.encode()


def accepted_key(qnum: int, source_queue_id: str, message_id: str) -> bytes:
    source = source_queue_id.encode()  # at most 128 bytes (QueueId): its length fits one byte
    return family(ACCEPTED, qnum) + bytes([len(source)]) + source + message_id.encode()


def attempt_key(qnum: int, attempt_id: str) -> bytes:
    return family(ATTEMPT, qnum) + attempt_id.encode()


def status_key(qnum: int, message_id: str) -> bytes:
    return family(STATUS, qnum) + message_id.encode()


def task_key(qnum: int, message_id: str) -> bytes:
    return family(TASK, qnum) + message_id.encode()


def task_type_prefix(prefix: bytes, qnum: int, task_type: str) -> bytes:
    """The keys of one task type in TASK_RUNNING (task types are at most 128 bytes)."""
    encoded = task_type.encode()
    return family(prefix, qnum) + bytes([len(encoded)]) + encoded


def task_running_key(qnum: int, task_type: str, seq: int) -> bytes:
    return task_type_prefix(TASK_RUNNING, qnum, task_type) + u64(seq)


def task_limits_key(qnum: int, task_type: str) -> bytes:
    return family(TASK_LIMITS, qnum) + task_type.encode()


def task_finished_key(qnum: int, phase: int, finished_at_ms: int, message_id: str) -> bytes:
    return family(TASK_FINISHED, qnum) + bytes([phase]) + u64(finished_at_ms) + message_id.encode()


def expiry_key(qnum: int, expires_ms: int, kind: bytes, record_key: bytes) -> bytes:
    return family(EXPIRY, qnum) + u64(expires_ms) + kind + record_key


def split_expiry_key(key: bytes) -> tuple[int, bytes, bytes]:
    """(expires_ms, kind, record_key) of an EXPIRY key."""
    offset = len(EXPIRY) + 4
    return read_u64(key, offset), key[offset + 8 : offset + 9], key[offset + 9 :]


def seq_at_end(key: bytes) -> int:
    """The sequence number that ends a VISIBLE, F, D, T, R, O key."""
    return read_u64(key, len(key) - 8)


def group_of_ready_key(key: bytes) -> tuple[int, str]:
    """(head_seq, group_id) of a GROUP_READY key."""
    offset = len(GROUP_READY) + 4
    return read_u64(key, offset), key[offset + 8 :].decode()


def portable_key(key: bytes) -> bytes:
    """`key` of a per-queue family without its queue's qnum (see the module header)."""
    portable = key[:1] + key[5:]
    if key[:1] == EXPIRY:
        offset = len(EXPIRY) + 8 + 1  # expires_ms, kind
        portable = portable[:offset] + portable_key(portable[offset:])
    return portable


def local_key(portable: bytes, qnum: int) -> bytes:
    """The inverse of `portable_key`: the key under this replica's `qnum`. Raises `ValueError`
    for a key of no per-queue family, or an EXPIRY key too short to hold its record key."""
    prefix = portable[:1]
    if prefix not in QUEUE_FAMILIES:
        raise ValueError(f"not a per-queue family: {prefix!r}")
    if prefix == EXPIRY:
        offset = len(EXPIRY) + 8 + 1
        if len(portable) <= offset:
            raise ValueError("an expiry key without its record key")
        portable = portable[:offset] + local_key(portable[offset:], qnum)
    return prefix + u32(qnum) + portable[1:]

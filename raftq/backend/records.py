"""Records a replica stores, and their byte encoding (msgpack arrays, a version first).

Hot records (`MessageMeta`, `Counters`) are plain slotted dataclasses packed by position: they are
read and rewritten on every transition. The queue record reuses the wire model of attributes.
A record that does not decode raises `CorruptState`: a replica never serves what it cannot read.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgpack

from raftq.common.errors import CorruptState
from raftq.common.queue_attributes import QueueAttributes

_VERSION = 1


def _pack(*fields: Any) -> bytes:
    packed: bytes = msgpack.packb((_VERSION, *fields), use_bin_type=True)
    return packed


RecordT = TypeVar("RecordT")


def _build(what: str, make: Callable[[], RecordT]) -> RecordT:
    """Build a record from decoded fields; any mismatch (a bad enum, a wrong type) is corruption."""
    try:
        return make()
    except (ValueError, TypeError) as error:
        raise CorruptState(f"{what} record has bad fields: {error}") from None


def _unpack(raw: bytes, what: str, *arities: int) -> tuple[Any, ...]:
    """The fields of a record of one of `arities` (a record that grew a trailing field)."""
    try:
        data = msgpack.unpackb(raw, use_list=False, raw=False)
    except Exception as error:
        raise CorruptState(f"{what} record does not decode: {error}") from None
    if not isinstance(data, tuple) or len(data) - 1 not in arities or data[0] != _VERSION:
        raise CorruptState(f"{what} record has an unknown shape")
    return data[1:]


class MessageState(enum.IntEnum):
    VISIBLE = 1
    DELAYED = 2
    IN_FLIGHT = 3
    DEAD_LETTER_PENDING = 4


@dataclass(slots=True)
class MessageMeta:
    seq: int
    message_id: str
    state: MessageState
    priority: int
    group_id: str | None
    dedup_id: str | None
    sent_at_ms: int
    # DELAYED: when it becomes visible; IN_FLIGHT: its visibility deadline; otherwise 0.
    timer_ms: int
    receive_count: int
    first_received_at_ms: int
    received_at_ms: int
    # Tag of the latest receipt handle; b"" before the first receive.
    handle_tag: bytes
    dead_letter_source: str | None
    size_bytes: int
    # The task type when the message is a task (its record: keys.TASK); None for a message.
    task_type: str | None = None

    def pack(self) -> bytes:
        if self.task_type is None:  # the 14 fields of a message, as stored before tasks
            return _pack(*self._message_fields())
        return _pack(*self._message_fields(), self.task_type)

    def _message_fields(self) -> tuple[Any, ...]:
        return (
            self.seq,
            self.message_id,
            int(self.state),
            self.priority,
            self.group_id,
            self.dedup_id,
            self.sent_at_ms,
            self.timer_ms,
            self.receive_count,
            self.first_received_at_ms,
            self.received_at_ms,
            self.handle_tag,
            self.dead_letter_source,
            self.size_bytes,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> MessageMeta:
        f = _unpack(raw, "message", 14, 15)
        if len(f) == 15 and not isinstance(f[14], str):
            raise CorruptState("message record has a task type that is not text")
        return _build("message", lambda: cls(f[0], f[1], MessageState(f[2]), *f[3:]))


@dataclass(slots=True)
class Counters:
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0
    dead_letter_pending: int = 0
    next_seq: int = 1

    def pack(self) -> bytes:
        return _pack(
            self.visible, self.in_flight, self.delayed, self.dead_letter_pending, self.next_seq
        )

    @classmethod
    def unpack(cls, raw: bytes) -> Counters:
        fields = _unpack(raw, "counters", 5)
        return _build("counters", lambda: cls(*fields))


class ReplicaStatus(enum.IntEnum):
    """Whether a replica serves its queue (see ops_move.py for the move protocol)."""

    SERVING = 0
    FENCED = 1  # moved away under a newer placement epoch: frozen, refuses every request
    IMPORTING = 2  # being copied in from the cluster it moves from: refuses every request


@dataclass(slots=True)
class QueueRecord:
    queue_id: str
    qnum: int
    fifo: bool
    attributes: QueueAttributes
    created_at_ms: int
    created_index: int
    last_purge_at_ms: int | None = None
    # The placement epoch this replica holds the queue under (raised by every move).
    epoch: int = 1
    status: ReplicaStatus = ReplicaStatus.SERVING

    def pack(self) -> bytes:
        return _pack(
            self.queue_id,
            self.qnum,
            self.fifo,
            self.attributes.model_dump(mode="python"),
            self.created_at_ms,
            self.created_index,
            self.last_purge_at_ms,
            self.epoch,
            int(self.status),
        )

    @classmethod
    def unpack(cls, raw: bytes) -> QueueRecord:
        f = _unpack(raw, "queue", 9)
        try:
            attributes = QueueAttributes.model_validate(f[3])
        except ValueError as error:
            raise CorruptState(f"queue record attributes do not validate: {error}") from None
        return _build(
            "queue",
            lambda: cls(f[0], f[1], f[2], attributes, f[4], f[5], f[6], f[7], ReplicaStatus(f[8])),
        )


@dataclass(slots=True, frozen=True)
class ImportSession:
    """The copy in progress into an IMPORTING replica: only its session's records count."""

    session: str
    epoch: int
    records: int

    def pack(self) -> bytes:
        return _pack(self.session, self.epoch, self.records)

    @classmethod
    def unpack(cls, raw: bytes) -> ImportSession:
        fields = _unpack(raw, "import", 3)
        return _build("import", lambda: cls(*fields))


def pack_body(body: bytes, attributes: bytes) -> bytes:
    return _pack(body, attributes)


def unpack_body(raw: bytes) -> tuple[bytes, bytes]:
    body, attributes = _unpack(raw, "body", 2)
    return body, attributes


@dataclass(slots=True)
class GroupState:
    in_flight: int = 0
    # The head sequence under which the group sits in GROUP_READY, if it does.
    ready_head: int | None = None

    def pack(self) -> bytes:
        return _pack(self.in_flight, self.ready_head)

    @classmethod
    def unpack(cls, raw: bytes) -> GroupState:
        fields = _unpack(raw, "group", 2)
        return _build("group", lambda: cls(*fields))


@dataclass(slots=True, frozen=True)
class DedupRecord:
    message_id: str
    seq: int
    expires_at_ms: int

    def pack(self) -> bytes:
        return _pack(self.message_id, self.seq, self.expires_at_ms)

    @classmethod
    def unpack(cls, raw: bytes) -> DedupRecord:
        fields = _unpack(raw, "dedup", 3)
        return _build("dedup", lambda: cls(*fields))


@dataclass(slots=True, frozen=True)
class AcceptRecord:
    """A dead letter this queue took in from another cluster (keys.accepted_key): kept until
    no forward of it can come any more (ops_dead_letters.py)."""

    seq: int  # the sequence it was stored under here
    expires_at_ms: int

    def pack(self) -> bytes:
        return _pack(self.seq, self.expires_at_ms)

    @classmethod
    def unpack(cls, raw: bytes) -> AcceptRecord:
        fields = _unpack(raw, "accept", 2)
        return _build("accept", lambda: cls(*fields))


@dataclass(slots=True, frozen=True)
class AttemptRecord:
    expires_at_ms: int
    # (seq, receive_count) of every message the first receive returned.
    received: tuple[tuple[int, int], ...] = field(default=())

    def pack(self) -> bytes:
        return _pack(self.expires_at_ms, self.received)

    @classmethod
    def unpack(cls, raw: bytes) -> AttemptRecord:
        expires_at_ms, received = _unpack(raw, "attempt", 2)
        return _build("attempt", lambda: cls(expires_at_ms, tuple(tuple(i) for i in received)))


class RemovedAs(enum.IntEnum):
    DELETED = 1
    DEAD_LETTERED = 2
    EXPIRED = 3


@dataclass(slots=True, frozen=True)
class StatusRecord:
    removed_as: RemovedAs
    receive_count: int
    at_ms: int
    expires_at_ms: int
    result: bytes | None = None

    def pack(self) -> bytes:
        return _pack(
            int(self.removed_as), self.receive_count, self.at_ms, self.expires_at_ms, self.result
        )

    @classmethod
    def unpack(cls, raw: bytes) -> StatusRecord:
        f = _unpack(raw, "status", 5)
        return _build("status", lambda: cls(RemovedAs(f[0]), *f[1:]))


# For record modules beside this one (task_records.py): the same encoding rules.
pack_fields = _pack
unpack_fields = _unpack
build_record = _build

"""Commands of the backend queue state machine: versioned, frozen, typed values.

Every replica applies the same commands in the same order and must reach the same state, so a
command carries everything apply needs that is not already replicated state: the leader's
`now_ms` (time is an input) and all caller-chosen values. Ids and receipt handles are derived
from the log index during apply, so no randomness is carried.

One Raft entry carries the commands of one group commit, in one of two formats (the entry's `v`):
- v1, `CommandBatch`: the commands as one msgpack map, each stamped with its own `now_ms`
  (`codec.encode_batch`). Logs written before v2 hold these; they replay as they always did.
- v2, `SplicedBatch`: the leader's `now_ms` once, and each command as the bytes its sender
  encoded (`codec.encode`), spliced in by the leader without decoding them
  (`codec.encode_entry`). Apply validates each command on its own, with the entry's `now_ms`.
- v3, `CompactBatch`: v2's content as a msgpack array `[3, now_ms, commands]` instead of a map,
  18 bytes less per entry (the keys), a tenth of an entry of one small receive. Written only
  while every member of the group applies it (command level 3: common/command_levels.py).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, get_args

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from raftq.common import limits
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes
from raftq.common.tasks_wire import (
    TASK_TYPES_MAX,
    FinishEntry,
    TaskCursor,
    TaskLimitRate,
    TaskPageSize,
    TaskRunningLimit,
    TaskSpec,
    TaskStateField,
    TaskType,
)
from raftq.common.wire import (
    DelayMs,
    EntryId,
    MessageBytes,
    MessageId,
    Priority,
    QueueId,
    ReceiptHandle,
    TimestampMs,
    Token,
    VisibilityTimeoutMs,
    WireModel,
)

# The entry format versions (an entry's `v`): 1 is `CommandBatch`, 2 is `SplicedBatch`, 3 is
# `CompactBatch`.
COMMAND_VERSION: Final = 1
SPLICED_VERSION: Final = 2
COMPACT_VERSION: Final = 3

BatchSize = Annotated[int, Field(ge=1, le=limits.BATCH_ENTRIES_MAX)]


def _without_none(data: dict[str, object], name: str) -> dict[str, object]:
    if data.get(name, 0) is None:
        del data[name]
    return data


class Command(WireModel):
    now_ms: TimestampMs


class QueueCommand(Command):
    queue: QueueId


class CreateQueue(QueueCommand):
    """Create this replica's copy of a queue; idempotent for identical attributes."""

    kind: Literal["create_queue"] = "create_queue"
    fifo: bool = False
    attributes: QueueAttributes = QueueAttributes()


class SetQueueAttributes(QueueCommand):
    kind: Literal["set_queue_attributes"] = "set_queue_attributes"
    changes: QueueAttributeChanges


class SendEntry(WireModel):
    entry_id: EntryId
    body: MessageBytes
    # Opaque to the backend: the frontend encodes (and encrypts) message attributes.
    attributes: MessageBytes = b""
    delay_ms: DelayMs | None = None
    # Deliver-at scheduling beyond 15 minutes (a raftq extension); exclusive with delay_ms.
    deliver_at_ms: TimestampMs | None = None
    dedup_id: Token | None = None
    group_id: Token | None = None
    priority: Priority = 0
    # Set on a task's submission (ops_tasks.py): the message is that task. Left out of the
    # encoding when absent, so a send encodes to the bytes it had before tasks existed.
    task: TaskSpec | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_task(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return _without_none(handler(self), "task")

    @model_validator(mode="after")
    def _one_schedule(self) -> SendEntry:
        if self.delay_ms is not None and self.deliver_at_ms is not None:
            raise ValueError("delay_ms and deliver_at_ms are mutually exclusive")
        return self


class SendMessages(QueueCommand):
    kind: Literal["send"] = "send"
    entries: Annotated[
        tuple[SendEntry, ...], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class ReceiveMessages(QueueCommand):
    kind: Literal["receive"] = "receive"
    max_messages: BatchSize = 1
    visibility_timeout_ms: VisibilityTimeoutMs | None = None
    attempt_id: Token | None = None
    # Set by a task worker: a task lease (ops_tasks.py) rather than a plain receive: tasks out
    # of attempts are not handed out, each type keeps its rate limits, the worker is recorded.
    # Left out of the encoding when absent (as SendEntry.task).
    worker_id: Token | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_worker(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return _without_none(handler(self), "worker_id")


class DeleteEntry(WireModel):
    entry_id: EntryId
    receipt_handle: ReceiptHandle
    result: Annotated[bytes, Field(max_length=limits.DELETE_RESULT_MAX_BYTES)] | None = None


class DeleteMessages(QueueCommand):
    kind: Literal["delete"] = "delete"
    entries: Annotated[
        tuple[DeleteEntry, ...], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class VisibilityEntry(WireModel):
    entry_id: EntryId
    receipt_handle: ReceiptHandle
    visibility_timeout_ms: VisibilityTimeoutMs


class ChangeVisibility(QueueCommand):
    kind: Literal["change_visibility"] = "change_visibility"
    entries: Annotated[
        tuple[VisibilityEntry, ...], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class DeadLetterEntry(WireModel):
    entry_id: EntryId
    receipt_handle: ReceiptHandle


class MoveToDeadLetter(QueueCommand):
    """Move in-flight messages to the queue's dead-letter queue now (a worker giving up)."""

    kind: Literal["dead_letter"] = "dead_letter"
    entries: Annotated[
        tuple[DeadLetterEntry, ...], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


DeadLetterBatchSize = Annotated[int, Field(ge=1, le=limits.DEAD_LETTER_BATCH_MAX)]


class DeadLetter(WireModel):
    """A message waiting in its source queue's outbox for a dead-letter queue on another cluster,
    with everything needed to re-create it there. `body` and `attributes` are the bytes as
    stored: sealed with the source queue's data key, which is why the copy names its source."""

    message_id: MessageId
    body: MessageBytes
    attributes: MessageBytes = b""
    group_id: Token | None = None
    dedup_id: Token | None = None
    sent_at_ms: TimestampMs
    receive_count: Annotated[int, Field(ge=0, le=2**31)]
    first_received_at_ms: TimestampMs
    size_bytes: Annotated[int, Field(ge=0, le=2**31)]
    priority: Priority = 0


class ReadDeadLetters(QueueCommand):
    """A read through the log (it changes nothing but state time): the oldest dead letters
    waiting in the queue's outbox, up to `limit` of them and, past the first, `max_bytes` of
    bodies and attributes; with the queue's redrive target as it stands now."""

    kind: Literal["read_dead_letters"] = "read_dead_letters"
    limit: DeadLetterBatchSize = limits.DEAD_LETTER_BATCH_MAX
    max_bytes: Annotated[int, Field(ge=1, le=limits.DEAD_LETTER_BATCH_MAX_BYTES)] = (
        limits.DEAD_LETTER_BATCH_MAX_BYTES
    )


class AcceptDeadLetters(QueueCommand):
    """On the dead-letter queue's cluster: store `entries`, dead letters of `source` (a queue of
    another cluster), as visible messages, each at most once (keys.ACCEPTED)."""

    kind: Literal["accept_dead_letters"] = "accept_dead_letters"
    source: QueueId
    source_fifo: bool
    entries: Annotated[
        tuple[DeadLetter, ...], Field(min_length=1, max_length=limits.DEAD_LETTER_BATCH_MAX)
    ]


class ReleaseDeadLetters(QueueCommand):
    """On the source's cluster, once the dead-letter queue accepted them: remove these dead
    letters from the outbox, or with `return_to_queue` (the queue has no redrive policy any
    more) make them visible in the queue again. Those no longer waiting are skipped."""

    kind: Literal["release_dead_letters"] = "release_dead_letters"
    message_ids: Annotated[
        tuple[MessageId, ...], Field(min_length=1, max_length=limits.DEAD_LETTER_BATCH_MAX)
    ]
    return_to_queue: bool = False


class PurgeQueue(QueueCommand):
    kind: Literal["purge"] = "purge"


class DropQueue(QueueCommand):
    kind: Literal["drop_queue"] = "drop_queue"


PlacementEpoch = Annotated[int, Field(ge=1, le=2**31)]
ImportSessionId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PortableRecord = tuple[
    Annotated[bytes, Field(min_length=1, max_length=1024)],
    Annotated[bytes, Field(max_length=limits.MESSAGE_SIZE_MAX_BYTES + 64 * 1024)],
]


class FenceQueue(QueueCommand):
    """A move's switch on the cluster the queue leaves: from now on this replica refuses every
    request for the queue (`QueueMoved`) and its records stay frozen for the copy."""

    kind: Literal["fence_queue"] = "fence_queue"
    epoch: PlacementEpoch


class BeginImport(QueueCommand):
    """On the cluster a queue moves to: make an empty IMPORTING replica for `session`,
    discarding whatever an earlier, unfinished session copied."""

    kind: Literal["begin_import"] = "begin_import"
    epoch: PlacementEpoch
    session: ImportSessionId


class ImportRecords(QueueCommand):
    """Portable records (keys/portable_key) copied from the fenced source, for `session`."""

    kind: Literal["import_records"] = "import_records"
    session: ImportSessionId
    records: Annotated[tuple[PortableRecord, ...], Field(max_length=limits.MOVE_CHUNK_MAX_RECORDS)]


class FinishImport(QueueCommand):
    """Every record of the session is in: take the source's queue record and serve."""

    kind: Literal["finish_import"] = "finish_import"
    session: ImportSessionId
    records_total: Annotated[int, Field(ge=0)]
    fifo: bool
    attributes: QueueAttributes
    created_at_ms: TimestampMs
    created_index: Annotated[int, Field(ge=0)]
    last_purge_at_ms: TimestampMs | None


class GetQueueStats(QueueCommand):
    """A read through the log: exact counts, linearizable. Changes nothing but state time."""

    kind: Literal["get_queue_stats"] = "get_queue_stats"


class GetMessageStatus(QueueCommand):
    """A read through the log: the status of one message by id."""

    kind: Literal["get_message_status"] = "get_message_status"
    message_id: MessageId


class FinishTasks(QueueCommand):
    """Workers report attempts by receipt handle: succeeded, retry after a delay, or failed."""

    kind: Literal["finish_tasks"] = "finish_tasks"
    entries: Annotated[
        tuple[FinishEntry, ...], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class CancelTasks(QueueCommand):
    """Cancel tasks that are not running (queued, scheduled or waiting for a retry)."""

    kind: Literal["cancel_tasks"] = "cancel_tasks"
    task_ids: Annotated[
        tuple[MessageId, ...], Field(min_length=1, max_length=limits.BATCH_ENTRIES_MAX)
    ]


class GetTask(QueueCommand):
    """A read through the log: one task's status."""

    kind: Literal["get_task"] = "get_task"
    task_id: MessageId


class ListTasks(QueueCommand):
    """A read through the log: a bounded page of a queue's tasks in one state."""

    kind: Literal["list_tasks"] = "list_tasks"
    state: TaskStateField
    cursor: TaskCursor | None = None
    limit: TaskPageSize = 50


class SetTaskLimits(QueueCommand):
    """Rate limits of one task type of the queue, for all workers together; both None clears."""

    kind: Literal["set_task_limits"] = "set_task_limits"
    task_type: TaskType
    # Starts per second, in thousandths (so apply does integer arithmetic only).
    rate_milli: TaskLimitRate | None = None
    max_running: TaskRunningLimit | None = None


class SetTaskTypes(QueueCommand):
    """Declare task types of the queue (`add`) or forget some (`remove`). Once a queue has
    declared types, a task of another type is refused at submission."""

    kind: Literal["set_task_types"] = "set_task_types"
    add: Annotated[tuple[TaskType, ...], Field(max_length=TASK_TYPES_MAX)] = ()
    remove: Annotated[tuple[TaskType, ...], Field(max_length=TASK_TYPES_MAX)] = ()


class GetTaskTypes(QueueCommand):
    kind: Literal["get_task_types"] = "get_task_types"


class GetTaskLimits(QueueCommand):
    kind: Literal["get_task_limits"] = "get_task_limits"


class ListQueues(Command):
    """A read through the log: the ids of every queue replica stored here."""

    kind: Literal["list_queues"] = "list_queues"


class Expire(Command):
    """Housekeeping the leader proposes periodically: due timers, retention, expired records."""

    kind: Literal["expire"] = "expire"
    max_transitions: Annotated[int, Field(ge=1, le=limits.EXPIRE_TRANSITIONS_MAX)] = 10_000


AnyCommand = Annotated[
    CreateQueue
    | SetQueueAttributes
    | SendMessages
    | ReceiveMessages
    | DeleteMessages
    | ChangeVisibility
    | MoveToDeadLetter
    | ReadDeadLetters
    | AcceptDeadLetters
    | ReleaseDeadLetters
    | PurgeQueue
    | DropQueue
    | FenceQueue
    | BeginImport
    | ImportRecords
    | FinishImport
    | GetQueueStats
    | GetMessageStatus
    | FinishTasks
    | CancelTasks
    | GetTask
    | ListTasks
    | SetTaskLimits
    | GetTaskLimits
    | SetTaskTypes
    | GetTaskTypes
    | ListQueues
    | Expire,
    Field(discriminator="kind"),
]


class CommandBatch(WireModel):
    """What one Raft entry carries: commands applied in order, in one atomic write."""

    v: Literal[1] = COMMAND_VERSION
    commands: Annotated[tuple[AnyCommand, ...], Field(min_length=1)]


# Every command kind; the leader refuses others before logging a command it does not validate.
COMMAND_KINDS: Final = frozenset(
    model.model_fields["kind"].default for model in get_args(get_args(AnyCommand)[0])
)


class SplicedBatch(WireModel):
    """What one v2 Raft entry carries: the leader's time for all its commands, and the commands as
    encoded bytes, decoded and validated one by one in apply (one that does not decode fails
    alone). The leader builds it with `codec.encode_entry`, never through this model."""

    v: Literal[2] = SPLICED_VERSION
    now_ms: TimestampMs
    commands: Annotated[tuple[bytes, ...], Field(min_length=1)]


class CompactBatch(WireModel):
    """A v3 Raft entry, read: what a v2 entry carries, sent as the array `[3, now_ms, commands]`
    (`codec.encode_entry` at level 3); codec.decode_entry validates it through this model."""

    v: Literal[3] = COMPACT_VERSION
    now_ms: TimestampMs
    commands: Annotated[tuple[bytes, ...], Field(min_length=1)]

"""Results of backend commands and reads. `apply` returns these; it never raises."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from raftq.common.commands import DeadLetter
from raftq.common.errors import RaftqError, error_from_code
from raftq.common.tasks_wire import TaskLimits, TaskPage, TaskStatus, TaskTypes
from raftq.common.wire import WireModel


class Failure(WireModel):
    """A whole command failed and changed nothing."""

    kind: Literal["failure"] = "failure"
    code: str
    message: str
    field: str | None = None

    @classmethod
    def of(cls, error: RaftqError) -> Failure:
        return cls(code=error.code, message=error.message, field=error.field)

    def to_error(self) -> RaftqError:
        return error_from_code(self.code, self.message, field=self.field)


class EntryFailure(WireModel):
    """One entry of a batch failed; the other entries stand."""

    entry_id: str
    code: str
    message: str
    field: str | None = None

    @classmethod
    def of(cls, entry_id: str, error: RaftqError) -> EntryFailure:
        return cls(entry_id=entry_id, code=error.code, message=error.message, field=error.field)


class QueueCreated(WireModel):
    kind: Literal["queue_created"] = "queue_created"
    created: bool  # False when an identical queue already existed


class Done(WireModel):
    kind: Literal["done"] = "done"


class SentMessage(WireModel):
    entry_id: str
    message_id: str
    sequence_number: int
    duplicate: bool  # True: an earlier send with this dedup id stands, nothing was stored


class SendResult(WireModel):
    kind: Literal["sent"] = "sent"
    sent: tuple[SentMessage, ...]
    failed: tuple[EntryFailure, ...]


class ReceivedMessage(WireModel):
    message_id: str
    receipt_handle: str
    body: bytes
    attributes: bytes
    sequence_number: int
    group_id: str | None
    dedup_id: str | None
    priority: int
    sent_at_ms: int
    first_received_at_ms: int
    receive_count: int
    dead_letter_source: str | None


class ReceiveResult(WireModel):
    kind: Literal["received"] = "received"
    messages: tuple[ReceivedMessage, ...]
    # When the next delayed or in-flight message of the queue becomes visible (None: none is
    # waiting): a long poll that got nothing sleeps until then or until a send wakes it.
    next_visible_at_ms: int | None = None


class BatchResult(WireModel):
    """Delete, change visibility, dead-letter: which entries succeeded, which failed and why."""

    kind: Literal["batch"] = "batch"
    succeeded: tuple[str, ...]
    failed: tuple[EntryFailure, ...]


class PurgeResult(WireModel):
    kind: Literal["purged"] = "purged"
    purged: int


class ExpireResult(WireModel):
    kind: Literal["expired"] = "expired"
    transitions: int
    more: bool  # True when the limit stopped the sweep before everything due was handled


class DeadLetters(WireModel):
    """ReadDeadLetters: the oldest dead letters waiting in the queue's outbox."""

    kind: Literal["dead_letters"] = "dead_letters"
    entries: tuple[DeadLetter, ...]
    more: bool  # True when more were waiting than this answer holds
    fifo: bool
    # The queue id the queue's redrive policy names now; None: it has no redrive policy.
    dead_letter_queue: str | None


class DeadLettersAccepted(WireModel):
    """AcceptDeadLetters: the message ids stored now, and those stored by an earlier accept."""

    kind: Literal["dead_letters_accepted"] = "dead_letters_accepted"
    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]


class DeadLettersReleased(WireModel):
    """ReleaseDeadLetters: the message ids removed (or returned to the queue); those that were no
    longer waiting are not listed."""

    kind: Literal["dead_letters_released"] = "dead_letters_released"
    released: tuple[str, ...]
    returned_to_queue: bool  # True: they are visible in the queue again, not dead-lettered


class QueueList(WireModel):
    kind: Literal["queue_list"] = "queue_list"
    queue_ids: tuple[str, ...]


class QueueStats(WireModel):
    """Exact counts at a point in (state) time."""

    kind: Literal["queue_stats"] = "queue_stats"
    visible: int
    in_flight: int
    delayed: int
    dead_letter_pending: int
    # The send time of the oldest message the queue holds, in any state; None when it is empty.
    oldest_sent_at_ms: int | None = None

    def counts(self) -> tuple[int, int, int, int]:
        """(visible, in flight, delayed, dead-letter pending)."""
        return (self.visible, self.in_flight, self.delayed, self.dead_letter_pending)


MessageState = Literal[
    "pending", "delayed", "in_flight", "dead_letter_pending", "deleted", "dead_lettered", "expired"
]


class MessageStatus(WireModel):
    kind: Literal["message_status"] = "message_status"
    message_id: str
    state: MessageState
    receive_count: int
    at_ms: int  # when it entered this state (sent, became in flight, was removed)
    result: bytes | None = None


# Any result, told apart by its `kind` when decoded.
CommandResult = Annotated[
    Failure
    | QueueCreated
    | Done
    | SendResult
    | ReceiveResult
    | BatchResult
    | PurgeResult
    | ExpireResult
    | QueueStats
    | MessageStatus
    | DeadLetters
    | DeadLettersAccepted
    | DeadLettersReleased
    | QueueList
    | TaskStatus
    | TaskPage
    | TaskLimits
    | TaskTypes,
    Field(discriminator="kind"),
]

"""Commands addressed by receipt handle: delete, change visibility, move to dead-letter.

Deleting a message that is already gone succeeds (a retried delete is idempotent); a handle that
is not its message's latest is refused, so a consumer whose lease expired and was re-leased by
another cannot delete under the other's feet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from raftq.backend.apply_context import ApplyContext
from raftq.backend.batches import require_distinct_entry_ids
from raftq.backend.dead_letter import dead_letter_target, move_to_dead_letter
from raftq.backend.queue_state import QueueState
from raftq.backend.records import MessageState, RemovedAs
from raftq.common import limits
from raftq.common.commands import (
    ChangeVisibility,
    DeadLetterEntry,
    DeleteEntry,
    DeleteMessages,
    MoveToDeadLetter,
    VisibilityEntry,
)
from raftq.common.errors import (
    ClientError,
    DeadLetterQueueInvalid,
    InvalidParameter,
    MessageNotInflight,
)
from raftq.common.results import BatchResult, EntryFailure


class _Entry(Protocol):
    @property
    def entry_id(self) -> str: ...


EntryT = TypeVar("EntryT", bound=_Entry)


def each_entry(entries: Sequence[EntryT], handle: Callable[[EntryT], None]) -> BatchResult:
    require_distinct_entry_ids(entry.entry_id for entry in entries)
    succeeded: list[str] = []
    failed: list[EntryFailure] = []
    for entry in entries:
        try:
            handle(entry)
        except ClientError as error:
            failed.append(EntryFailure.of(entry.entry_id, error))
        else:
            succeeded.append(entry.entry_id)
    return BatchResult(succeeded=tuple(succeeded), failed=tuple(failed))


def delete_messages(ctx: ApplyContext, command: DeleteMessages) -> BatchResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)

    def delete(entry: DeleteEntry) -> None:
        meta = queue.meta_for_handle(entry.receipt_handle)
        if meta is not None:
            queue.remove(meta, RemovedAs.DELETED, entry.result)

    return each_entry(command.entries, delete)


def change_visibility(ctx: ApplyContext, command: ChangeVisibility) -> BatchResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)

    def change(entry: VisibilityEntry) -> None:
        meta = queue.meta_for_handle(entry.receipt_handle)
        if meta is None:
            raise MessageNotInflight(MessageNotInflight.GONE, field="receipt_handle")
        if not queue.leased(meta):
            raise MessageNotInflight(MessageNotInflight.NOT_LEASED, field="receipt_handle")
        deadline_ms = ctx.now_ms + entry.visibility_timeout_ms
        if deadline_ms - meta.received_at_ms > limits.VISIBILITY_TIMEOUT_MAX_MS:
            raise InvalidParameter(
                "visibility may not extend past 12 hours from the receive",
                field="visibility_timeout_ms",
            )
        if entry.visibility_timeout_ms == 0:
            queue.transition(meta, MessageState.VISIBLE)
        else:
            queue.transition(meta, MessageState.IN_FLIGHT, deadline_ms)

    return each_entry(command.entries, change)


def move_messages_to_dead_letter(ctx: ApplyContext, command: MoveToDeadLetter) -> BatchResult:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    if queue.record.attributes.redrive is None:
        raise DeadLetterQueueInvalid("the queue has no dead-letter queue", field="queue")
    target = dead_letter_target(queue)

    def move(entry: DeadLetterEntry) -> None:
        meta = queue.meta_for_handle(entry.receipt_handle)
        if meta is not None and meta.state is not MessageState.DEAD_LETTER_PENDING:
            move_to_dead_letter(queue, meta, target)

    return each_entry(command.entries, move)

"""Which SDK calls may be repeated after an unknown outcome, and why: the one table of them.

A call the service refused before doing anything (429, 503 with `Retry-After`, no connection)
is retried whatever it is (transport.py). One whose outcome is unknown (a timeout or a lost
connection after sending; 500, 502, 504, or 503 without `Retry-After`) is retried only when the
service answers the repeat as it answered the first: `idempotent=True` below, each with its
reason. The `keys` are what makes that so; an `OutcomeUnknown` names them, so the caller can
call again just as safely.
"""

from __future__ import annotations

from collections.abc import Sequence

from raftq.client.transport import Operation


def send(queue: str, dedup_id: str) -> Operation:
    """The backend answers a dedup id it has seen (within the queue's dedup window) with the
    first message's id and stores nothing."""
    return Operation(f"send to queue {queue!r}", idempotent=True, keys=(dedup_id,))


def send_batch(queue: str, dedup_ids: Sequence[str]) -> Operation:
    """As `send`, entry by entry: every entry carries its own dedup id."""
    return Operation(
        f"send of {len(dedup_ids)} messages to queue {queue!r}",
        idempotent=True,
        keys=tuple(dedup_ids),
    )


def receive(queue: str, attempt_id: str) -> Operation:
    """Repeated with the same attempt id, which the backend answers (for 5 minutes) with the
    messages and receipt handles it gave the first, still in flight: a retried receive leases
    no other messages. (Without attempt ids a repeat would lease others and leave the first
    ones hidden until their visibility timeout; SQS SDKs retry ReceiveMessage all the same, and
    it has ReceiveRequestAttemptId for the same repair.)"""
    return Operation(f"receive from queue {queue!r}", idempotent=True, keys=(attempt_id,))


def delete(queue: str, receipt_handles: Sequence[str]) -> Operation:
    """Deleting a message that is already deleted succeeds."""
    count = len(receipt_handles)
    what = "delete" if count == 1 else f"delete of {count} messages"
    return Operation(f"{what} from queue {queue!r}", idempotent=True, keys=tuple(receipt_handles))


def change_visibility(queue: str, receipt_handle: str) -> Operation:
    """A repeat sets the same timeout again, counted from the repeat. (A repeated change to 0 s
    finds the message visible already and answers its entry `MessageNotInflight`.)"""
    return Operation(
        f"visibility change in queue {queue!r}", idempotent=True, keys=(receipt_handle,)
    )


def create_queue(name: str) -> Operation:
    """Creating a queue that exists with the same attributes returns it unchanged; with other
    attributes the repeat is refused (`QueueAlreadyExists`), so a repeat never changes a queue."""
    return Operation(f"creating queue {name!r}", idempotent=True)


def read(what: str) -> Operation:
    """Reads change nothing."""
    return Operation(what, idempotent=True)


def purge(name: str) -> Operation:
    """Not repeated: a second purge deletes the messages sent after the first one committed."""
    return Operation(f"purge of queue {name!r}", idempotent=False)


def update_queue(name: str) -> Operation:
    """Not repeated: the repeat would undo a change another caller made in between."""
    return Operation(f"updating queue {name!r}", idempotent=False)


def delete_queue(name: str) -> Operation:
    """Not repeated: the repeat could delete a queue created again in between."""
    return Operation(f"deleting queue {name!r}", idempotent=False)

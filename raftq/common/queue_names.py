"""Errors that reach people name queues, never their internal ids.

A backend knows a queue only by its id (`q-0ad4…`): that is what its commands carry and what its
errors say. The name is known where the command was made (a frontend's route, the metadata
leader's queue lifecycle and moves), so that is where an error is renamed, once, on its way out:
`named_error` for an error raised, `named_result` for a batch whose entries failed one by one.
"""

from __future__ import annotations

from typing import TypeVar

from raftq.common.errors import RaftqError
from raftq.common.results import BatchResult, CommandResult, EntryFailure, SendResult

ErrorType = TypeVar("ErrorType", bound=RaftqError)


def named(text: str, queue_id: str, name: str) -> str:
    """`text` with every mention of `queue_id` replaced by `name`."""
    return text.replace(queue_id, name) if queue_id else text


def named_error(error: ErrorType, queue_id: str, name: str) -> ErrorType:
    """`error` itself, its message (and its `str`) naming the queue instead of its id."""
    error.message = named(error.message, queue_id, name)
    error.args = (error.message, *error.args[1:])
    return error


def named_failures(
    failures: tuple[EntryFailure, ...], queue_id: str, name: str
) -> tuple[EntryFailure, ...]:
    return tuple(
        failure.model_copy(update={"message": named(failure.message, queue_id, name)})
        for failure in failures
    )


def named_result(result: CommandResult, queue_id: str, name: str) -> CommandResult:
    """`result` with its failed entries' messages naming the queue (a send or another batch)."""
    if isinstance(result, SendResult | BatchResult) and result.failed:
        renamed = named_failures(result.failed, queue_id, name)
        return result.model_copy(update={"failed": renamed})
    return result

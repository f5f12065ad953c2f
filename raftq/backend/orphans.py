"""Leases taken for a caller that is gone, given back.

A receive that was proposed and then lost its caller (the frontend's connection closed, or the
client gave up) still commits: its messages are leased to nobody and would stay invisible for
their whole visibility timeout. The group committer hands such results here
(`GroupCommitter(orphaned=...)`), and the leader proposes a change of visibility to 0 for each
leased message, which makes them visible again at once (their receive count keeps the attempt,
as SQS counts a receive whose answer was lost).
"""

from __future__ import annotations

from raftq.common import codec
from raftq.common.commands import ChangeVisibility, ReceiveMessages, VisibilityEntry
from raftq.common.errors import RaftqError
from raftq.common.results import CommandResult, ReceiveResult


def release_of(command: bytes, result: CommandResult) -> ChangeVisibility | None:
    """The command that gives back what `command` leased, if it was a receive that did."""
    if not isinstance(result, ReceiveResult) or not result.messages:
        return None
    try:
        receive = codec.decode_command(command)
    except RaftqError:
        return None
    if not isinstance(receive, ReceiveMessages):
        return None
    return ChangeVisibility(
        now_ms=0,
        queue=receive.queue,
        entries=tuple(
            VisibilityEntry(
                entry_id=f"m{i}", receipt_handle=message.receipt_handle, visibility_timeout_ms=0
            )
            for i, message in enumerate(result.messages)
        ),
    )

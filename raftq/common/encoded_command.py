"""A command as its sender encoded it (`codec.encode`), read only as far as the leader must.

The leader logs such a command without validating it: the frontend built it from validated
models, and apply validates it on every replica (`codec.decode_entry`), answering a command that
does not decode with its own `Failure`. `peek` only checks that the bytes are one msgpack map of
a known `kind`, and reads what routing and long polls need: the kind, the queue, and which
entries would make a message visible at once if they succeed. A payload that fails these checks
is a `DecodeError` for its own request and is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftq.common import codec
from raftq.common.commands import COMMAND_KINDS
from raftq.common.errors import DecodeError
from raftq.common.results import (
    BatchResult,
    CommandResult,
    DeadLettersAccepted,
    DeadLettersReleased,
    SendResult,
)


@dataclass(frozen=True, slots=True)
class EncodedCommand:
    raw: bytes
    kind: str
    queue: str | None  # None for the kinds that name no queue (list_queues, expire)
    # (entry id, from when its message is visible) of each entry that makes a message visible
    # if it succeeds: a send without a delay (0) or with deliver_at_ms, a visibility change to 0.
    releases: tuple[tuple[str, int], ...] = ()

    def visible_count(self, result: CommandResult, now_ms: int) -> int:
        """How many messages the committed command made visible at once: the count
        receives.visible_count gives for the typed command (an upper bound, as there)."""
        if self.kind == "send" and isinstance(result, SendResult):
            done = {sent.entry_id for sent in result.sent if not sent.duplicate}
        elif self.kind in ("change_visibility", "finish_tasks") and isinstance(result, BatchResult):
            done = set(result.succeeded)
        else:
            return dead_letters_made_visible(result)
        return sum(1 for entry_id, at_ms in self.releases if entry_id in done and at_ms <= now_ms)


def dead_letters_made_visible(result: CommandResult) -> int:
    """Messages a dead-letter command made visible: those a DLQ accepted, and those returned
    to their queue (its result says which it did)."""
    if isinstance(result, DeadLettersAccepted):
        return len(result.accepted)
    if isinstance(result, DeadLettersReleased) and result.returned_to_queue:
        return len(result.released)
    return 0


def peek(raw: bytes) -> EncodedCommand:
    """The routing fields of an encoded command; `DecodeError` (field `command…`) when the bytes
    are not one msgpack map of a known kind with a text queue. Nothing else is checked."""
    data = codec.unpack(raw)
    if not isinstance(data, dict):
        raise DecodeError("a command must be a msgpack map", raw=raw, field="command")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in COMMAND_KINDS:
        raise DecodeError("not a known command kind", raw=raw, field="command.kind")
    queue = data.get("queue")
    if queue is not None and not isinstance(queue, str):
        raise DecodeError("a queue id must be text", raw=raw, field="command.queue")
    return EncodedCommand(raw=raw, kind=kind, queue=queue, releases=_releases(kind, data))


def _releases(kind: str, data: dict[str, object]) -> tuple[tuple[str, int], ...]:
    # Unvalidated values: a shape that is not the valid one counts nothing here, because apply
    # refuses that command and its result then wakes no long poll anyway.
    entries = data.get("entries")
    if kind not in ("send", "change_visibility", "finish_tasks") or not isinstance(entries, tuple):
        return ()
    releases: list[tuple[str, int]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry_id := entry.get("entry_id"), str):
            continue
        if kind == "finish_tasks":
            # A retry wakes a poll even when delayed: the poll then sleeps until it is due
            # (the time it slept towards was computed before this retry existed).
            if entry.get("outcome") in ("retry", "released"):
                releases.append((entry_id, 0))
            continue
        if kind == "change_visibility":
            timeout_ms = entry.get("visibility_timeout_ms")
            if type(timeout_ms) is int and timeout_ms == 0:
                releases.append((entry_id, 0))
            continue
        deliver_at_ms = entry.get("deliver_at_ms")
        if deliver_at_ms is not None:
            if type(deliver_at_ms) is int:
                releases.append((entry_id, deliver_at_ms))
        elif not entry.get("delay_ms"):
            releases.append((entry_id, 0))
    return tuple(releases)

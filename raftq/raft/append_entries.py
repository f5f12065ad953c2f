"""Keep log entries a follower already holds when an AppendEntries repeats them.

pysyncobj 0.3.17's follower deletes every entry after `prevLogIdx` and appends what the message
carries, even when it already holds those entries with the same terms. Raft deletes only from
the first conflict. The difference matters because a leader often sends from behind what a
follower holds (a late "success" answer moves the leader's next index back), and a heartbeat or
a byte-limited batch then *shrinks* the follower's log, taking away entries it acknowledged and
that may be committed. Were the leader to die then, the two survivors could both lack a
committed entry (seen as pysyncobj's `CRITICAL truncating already-applied log entries`, several
times a second under load; docs/chaos.md).

`without_held_entries` rewrites such a message before pysyncobj sees it: `prevLogIdx` moves to
the follower's last entry and only the entries beyond it remain, when that is provably the same
log. Every entry the message carries at an index the follower holds must have the same term
there, and every held entry after the message's last one must be of the message's (the
leader's) term: the one leader of a term appends and never overwrites, so such an entry is in
its log at that index. In every other case the message is returned as it is, and pysyncobj
deletes as before (a real conflict, or entries of an older term that may be stale).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Entry = tuple[bytes, int, int]  # (payload, index, term), as pysyncobj's journal holds them
# What the functions below read of the log: index and term, never the payload (the journal's
# `headers` leave it out, so nothing is read from disk).
Header = tuple[object, int, int]


def without_held_entries(message: dict[str, Any], log: Sequence[Header]) -> dict[str, Any]:
    if message.get("type") != "append_entries" or "prevLogIdx" not in message:
        return message
    if "transmission" in message or not log:  # a large entry in pieces: left alone
        return message
    first_index, last_index = log[0][1], log[-1][1]
    prev_index, prev_term = message["prevLogIdx"], message["prevLogTerm"]
    if not first_index <= prev_index < last_index:
        return message  # nothing held after prevLogIdx (or compacted away): nothing to keep
    if log[prev_index - first_index][2] != prev_term:
        return message  # no match at prevLogIdx: pysyncobj asks the leader to go back
    entries: list[Entry] = list(message.get("entries", []))
    for offset, entry in enumerate(entries):
        index = entry[1]
        if index != prev_index + 1 + offset:
            return message  # not contiguous: not a message to reason about
        if index <= last_index and log[index - first_index][2] != entry[2]:
            return message  # a real conflict
    covered = entries[-1][1] if entries else prev_index
    for index in range(covered + 1, last_index + 1):
        if log[index - first_index][2] != message["term"]:
            return message  # held entries of an older term after the message: may be stale
    return message | {
        "prevLogIdx": last_index,
        "prevLogTerm": log[-1][2],
        "entries": [entry for entry in entries if entry[1] > last_index],
    }


class CatchUp:
    """The follower's side of a leader finding where their logs match.

    pysyncobj's leader sends, every append period, everything from its next index for the
    follower to the end of its log, in messages of up to `MAX_ENTRY_BYTES`. A follower that
    holds entries the leader does not (an uncommitted tail from an old term) answers the first
    message "mismatch: back up to prevLogIdx", and every later message of the same flood "I do
    not have prevLogIdx: start at my last index + 1". The leader takes the last answer, so it
    is back where it started: the follower never catches up while the leader is far ahead.
    Seen in the partition-zone chaos cell: a replica 9,000 entries behind for minutes while
    4 GB went by.

    `answer` makes the follower's answers monotone within a term: once it said "back up to i",
    no later answer of that term sends the leader beyond i, until an append succeeds. And a
    mismatch backs up to the first held entry of the conflicting term, not one entry: all of
    that term's entries from there on are suspect, and it is usually one stale tail.
    """

    def __init__(self) -> None:
        self._term: int | None = None
        self._next_index: int | None = None

    def answer(
        self,
        log: Sequence[Header],
        term: int,
        *,
        reset: bool,
        success: bool,
        next_index: int | None,
    ) -> int | None:
        """The next index to send with pysyncobj's answer (None: pysyncobj's own default)."""
        if success:
            self._term = self._next_index = None
            return next_index
        if not reset:
            return next_index
        if self._term != term:
            self._term, self._next_index = term, None
        if next_index is not None:  # a mismatch at prevLogIdx == next_index
            next_index = first_of_term(log, next_index)
        elif log:  # prevLogIdx is beyond the log: pysyncobj says "after my last entry"
            next_index = log[-1][1] + 1
        if next_index is None:
            return None
        if self._next_index is not None:
            next_index = min(next_index, self._next_index)
        self._next_index = next_index
        return next_index


def first_of_term(log: Sequence[Header], index: int) -> int:
    """The first held index of the term of the entry at `index` (`index` if it is not held)."""
    if not log or not log[0][1] <= index <= log[-1][1]:
        return index
    first_index = log[0][1]
    term = log[index - first_index][2]
    while index > first_index + 1 and log[index - 1 - first_index][2] == term:
        index -= 1
    return index

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


def without_held_entries(message: dict[str, Any], log: Sequence[Entry]) -> dict[str, Any]:
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

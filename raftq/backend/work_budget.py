"""How much due work one Raft entry may do: a budget of transitions its commands share.

A *due transition* is a change that time alone makes due, or that a command meets on its way
and must make before it can go on: a delay or a lease ending (the message becomes visible), a
message's retention passing (it is removed, `expired`), a dedup/attempt/status/accept record
expiring, and, in a receive, a visible message met that has expired or must move to its
dead-letter queue. Any number of them can be due at once (a deliver-at burst, a retention cut
over 10^6 messages), and an entry is applied on pysyncobj's thread, which also sends the
heartbeats: an entry that does them all stalls heartbeats for seconds and causes elections.

So every entry gets one `WorkBudget` (`limits.DUE_TRANSITIONS_PER_ENTRY`), spent by all its
commands in log order (a group-committed entry holds up to hundreds of commands on one queue).
Work left over is done by later entries: the next commands on the queue, and the leader's
`Expire` sweeps, which it proposes back to back while one says `more` (backend/node.py). What a
command does for itself (the messages it sends, receives, deletes) is bounded by its own size
and is not drawn from the budget.

The budget depends only on the code and the entry, never on a clock: every replica spends it
alike and reaches the same state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class WorkBudget:
    left: int

    def spend(self, transitions: int) -> None:
        if transitions > self.left:
            raise ValueError(f"spending {transitions} transitions with {self.left} left")
        self.left -= transitions

    def take_one(self) -> bool:
        """Spend one transition if any is left; False (nothing spent) if none is."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True

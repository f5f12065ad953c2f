"""What a command handler is given besides the command: where in the log it is, the time, and
what the entry may still do."""

from __future__ import annotations

from dataclasses import dataclass, field

from raftq.backend.identifiers import Position
from raftq.backend.queue_state import AdvancedAt
from raftq.backend.txn import Txn
from raftq.backend.work_budget import WorkBudget
from raftq.common import limits


@dataclass(frozen=True, slots=True)
class ApplyContext:
    txn: Txn
    index: int  # Raft log index of the entry
    command_position: int  # position of the command within the entry
    now_ms: int  # the command's time, already made monotonic
    # Queues advanced within this entry (QueueState.advance); the entry keeps this command's
    # copy only if the command succeeds, as it keeps its writes.
    advanced: AdvancedAt = field(default_factory=dict)
    # The due transitions the entry may still make, one object shared by all its commands: a
    # command that fails has spent what it spent (the time went), though its writes are dropped.
    budget: WorkBudget = field(default_factory=lambda: WorkBudget(limits.DUE_TRANSITIONS_PER_ENTRY))

    def at(self, entry_position: int) -> Position:
        return Position(self.index, self.command_position, entry_position)

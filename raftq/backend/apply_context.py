"""What a command handler is given besides the command: where in the log it is, and the time."""

from __future__ import annotations

from dataclasses import dataclass, field

from raftq.backend.identifiers import Position
from raftq.backend.queue_state import AdvancedAt
from raftq.backend.txn import Txn


@dataclass(frozen=True, slots=True)
class ApplyContext:
    txn: Txn
    index: int  # Raft log index of the entry
    command_position: int  # position of the command within the entry
    now_ms: int  # the command's time, already made monotonic
    # Queues advanced within this entry (QueueState.advance); the entry keeps this command's
    # copy only if the command succeeds, as it keeps its writes.
    advanced: AdvancedAt = field(default_factory=dict)

    def at(self, entry_position: int) -> Position:
        return Position(self.index, self.command_position, entry_position)

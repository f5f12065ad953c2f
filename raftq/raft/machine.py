"""What a Raft node replicates into: a deterministic machine fed `(index, payload)`."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ReplicatedMachine(Protocol):
    @property
    def applied_index(self) -> int:
        """Index of the last entry whose effects are in the machine's state."""
        ...

    @property
    def snapshots_installed(self) -> int:
        """How many snapshots replaced the state since the process started."""
        ...

    @property
    def digest(self) -> bytes:
        """Chained digest of every entry applied: equal on replicas with equal state."""
        ...

    def apply(self, index: int, payload: bytes) -> object:
        """Apply the entry at `index`; return its result, or None when it was applied before.
        Must not raise for any payload; raises `CorruptState` only if its own state is bad."""
        ...

    def write_snapshot(self, directory: Path) -> None:
        """Write the applied state, consistent at `applied_index`, into the empty `directory`."""
        ...

    def install_snapshot(self, directory: Path) -> None:
        """Replace the state with the snapshot in `directory` atomically, unless the state is
        already at or past the snapshot's applied index (then do nothing)."""
        ...

"""The metadata state machine as the machine of a Raft node.

The catalogue is small, so it lives in memory; a snapshot is its canonical bytes with the applied
index, state clock and digest, in one checksummed file (`durable_files`). After a restart the
node rebuilds the state from the latest snapshot plus the log after it. apply, snapshot write and
install run on pysyncobj's tick thread, each under `lock`; local reads take the same lock.
"""

from __future__ import annotations

import threading
from pathlib import Path

import msgpack

from raftq.common.errors import CorruptState
from raftq.metadata.state import MetadataState
from raftq.metadata.state_machine import MetadataStateMachine
from raftq.raft.durable_files import read_checked, write_checked

_SNAPSHOT_FILE = "metadata"
_MAGIC = b"RQMD"


class MetadataRaftMachine:
    def __init__(self) -> None:
        self.machine = MetadataStateMachine()
        self.lock = threading.Lock()
        self.snapshots_installed = 0

    @property
    def applied_index(self) -> int:
        return self.machine.applied_index

    @property
    def digest(self) -> bytes:
        return self.machine.digest

    def apply(self, index: int, payload: bytes) -> object:
        with self.lock:
            return self.machine.apply(index, payload)

    def write_snapshot(self, directory: Path) -> None:
        with self.lock:
            machine = self.machine
            body = msgpack.packb(
                (machine.applied_index, machine.clock_ms, machine.digest, machine.state.to_bytes())
            )
        directory.mkdir(parents=True)
        write_checked(directory / _SNAPSHOT_FILE, _MAGIC, body)

    def install_snapshot(self, directory: Path) -> None:
        body = read_checked(directory / _SNAPSHOT_FILE, _MAGIC)
        if body is None:
            raise CorruptState(f"{directory} holds no metadata snapshot")
        try:
            applied_index, clock_ms, digest, state_bytes = msgpack.unpackb(body)
        except (ValueError, TypeError) as error:
            raise CorruptState(f"metadata snapshot does not decode: {error}") from None
        with self.lock:
            if applied_index <= self.machine.applied_index:
                return  # already at or past it
            restored = MetadataStateMachine(MetadataState.from_bytes(state_bytes))
            restored.applied_index, restored.clock_ms, restored.digest = (
                applied_index,
                clock_ms,
                digest,
            )
            self.machine = restored
            self.snapshots_installed += 1

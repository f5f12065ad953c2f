"""Backups being read out of this node: one RocksDB checkpoint each (docs/backup.md).

Disk rules: a session's checkpoint lives in `<state>/backup-<session>` (state_directory.py),
hard links to the live database's files taken between two applies; it is never written, and
it is removed when the session closes, when it has been idle for `IDLE_S`, when the node stops,
and (if the process died) when the node next opens its state. A checkpoint pins the files it
links, so an abandoned one costs disk until then, never correctness.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from raftq.backend.backup_reader import applied_index, backed_up_queues, backup_chunk
from raftq.backend.raft_machine import QueueRaftMachine
from raftq.backend.rocks_store import RocksStore
from raftq.common.backup_api import (
    BackupChunk,
    BackupChunkRequest,
    BackupOpened,
    BackupOpenRequest,
)
from raftq.common.errors import ConflictingState

# A tool reads chunk after chunk; a session it has not read from for this long is gone.
IDLE_S: Final = 300.0


@dataclass
class _Session:
    store: RocksStore
    directory: Path
    used_at: float


class BackupSessions:
    """Sessions are opened, read and closed from worker threads (`asyncio.to_thread`)."""

    def __init__(self, machine: QueueRaftMachine) -> None:
        self._machine = machine
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, request: BackupOpenRequest) -> BackupOpened:
        self._close_idle()
        session = secrets.token_hex(12)
        store = self._machine.backup_checkpoint(session)
        directory = self._machine.backup_directory(session)
        try:
            queues = backed_up_queues(store, request.queues)
            index = applied_index(store)
        except BaseException:
            _discard(store, directory)
            raise
        with self._lock:
            self._sessions[session] = _Session(store, directory, time.monotonic())
        return BackupOpened(session=session, applied_index=index, queues=tuple(queues))

    def chunk(self, request: BackupChunkRequest) -> BackupChunk:
        with self._lock:
            found = self._sessions.get(request.session)
            if found is not None:
                found.used_at = time.monotonic()
        if found is None:
            raise ConflictingState(
                "this node holds no backup session "
                f"{request.session!r} (it expired, or the leader changed): start the backup again",
                field="session",
            )
        return backup_chunk(found.store, request.queue, request.after)

    def close(self, session: str) -> bool:
        with self._lock:
            found = self._sessions.pop(session, None)
        if found is not None:
            _discard(found.store, found.directory)
        return found is not None

    def close_all(self) -> None:
        for session in list(self._sessions):
            self.close(session)

    def _close_idle(self) -> None:
        now = time.monotonic()
        for session, found in list(self._sessions.items()):
            if now - found.used_at > IDLE_S:
                self.close(session)


def _discard(store: RocksStore, directory: Path) -> None:
    store.close()
    shutil.rmtree(directory, ignore_errors=True)

"""Where a replica's RocksDB lives, and how a snapshot replaces it atomically.

    <state>/CURRENT      names the live database directory (checksummed, written durably)
    <state>/db-000007/   the live RocksDB
    <state>/backup-<id>/ a checkpoint a backup reads out (backup_sessions.py); any left by a
                         stopped process is removed on open

Installing a snapshot: move its directory in as `db-<next>`, fsync `<state>`, then rewrite
`CURRENT` durably. A crash before `CURRENT` changes leaves the old database live, one after leaves
the new one; `open` removes whatever the other was. A half-installed snapshot is never opened.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from raftq.backend.rocks_store import RocksStore
from raftq.common.errors import CorruptState
from raftq.common.settings import StoreSettings
from raftq.raft.durable_files import fsync_directory, read_checked, write_checked

_CURRENT = "CURRENT"
_MAGIC = b"RQDB"


class StateDirectory:
    def __init__(self, root: Path, settings: StoreSettings) -> None:
        self._root = root
        self._settings = settings
        root.mkdir(parents=True, exist_ok=True)

    def open(self) -> RocksStore:
        live = self._live_name()
        if live is None:
            live = "db-000001"
            (self._root / live).mkdir(exist_ok=True)
            fsync_directory(self._root)
            write_checked(self._root / _CURRENT, _MAGIC, live.encode())
        for stale in self._root.glob("db-*"):
            if stale.name != live:
                shutil.rmtree(stale)
        for stale in self._root.glob("backup-*"):
            shutil.rmtree(stale, ignore_errors=True)
        return RocksStore(self._settings.model_copy(update={"path": self._root / live}))

    def install(self, snapshot: Path, store: RocksStore) -> RocksStore:
        """Make the database in `snapshot` live in place of `store` (which is closed)."""
        live = self._live_name()
        number = 1 if live is None else int(live.removeprefix("db-")) + 1
        name = f"db-{number:06d}"
        snapshot.rename(self._root / name)
        fsync_directory(self._root)
        store.close()
        write_checked(self._root / _CURRENT, _MAGIC, name.encode())
        if live is not None:
            shutil.rmtree(self._root / live, ignore_errors=True)
        return RocksStore(self._settings.model_copy(update={"path": self._root / name}))

    def backup_directory(self, session: str) -> Path:
        """Where a backup's checkpoint goes: beside the live database, so RocksDB hard-links
        its files instead of copying them."""
        return self._root / f"backup-{session}"

    def _live_name(self) -> str | None:
        body = read_checked(self._root / _CURRENT, _MAGIC)
        if body is None:
            return None
        name = body.decode()
        if not name.startswith("db-") or not (self._root / name).is_dir():
            raise CorruptState(f"{self._root / _CURRENT} names a missing database {name!r}")
        return name

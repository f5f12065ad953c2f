"""The Raft log and the term/vote of one node, on disk, fsynced in groups.

This replaces pysyncobj's own journal, which never fsyncs (../shared/notes/pysyncobj.md). It
implements pysyncobj's `Journal` interface and is handed to pysyncobj by `raft/node.py`.

Disk rules kept here:
- Entries are appended as records `[payload length, crc32, index, term, payload]` to `log`.
  `add` only buffers; `sync()` writes everything added since the last call and fdatasyncs it once
  (group commit; `os.fdatasync` releases the GIL). The transport calls `sync()` before it sends
  any message, so no append-entries reply, vote or append-entries request leaves the node before
  the entries it depends on are on disk, and a leader's entries are on disk before any follower
  can acknowledge them (which is what lets the leader count itself toward a commit).
- Term and vote are written durably (temporary file, fsync, rename, directory fsync) before
  `setCurrentTerm` returns, so a vote or a new term is never sent before it would survive.
- Truncating a conflicting suffix: `ftruncate` then fdatasync, at once. Dropping a compacted
  prefix: the rest is written to a temporary file, fsynced, renamed over `log`, directory fsynced.
- Opening: every record is verified. A torn last record (a write that was never synced, so never
  acknowledged) is cut off. A bad record with intact data after it is corruption: the journal
  raises `CorruptState` and the node refuses to start. What was found is then fdatasynced once:
  a crashed run may have written entries it never synced, still only in the page cache.
- A write or fdatasync of the log that fails (the disk is full, an I/O error) breaks the
  journal: every later `sync()` raises `DiskFailure` without touching the file. A retried
  append would follow the torn part of the failed one with a whole record (corruption, at the
  next open), and a retried fdatasync can succeed for pages the kernel already dropped. The
  node stops on it (raft/disk_failure.py) and the next open cuts the torn tail.
- Test mode (`witness_syncs`): after each fdatasync the synced length is written to
  `log.synced`, so a test can cut power by truncating the log to it
  (`tests/integration/cluster.py`, `cut_power`).
  `fsync=False` exists only to show that the power-loss test then fails.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from pysyncobj.journal import Journal

from raftq.common.errors import CorruptState, DiskFailure
from raftq.raft.durable_files import fsync_directory, read_checked, write_all, write_checked

_LOG_MAGIC = b"RAFTQLG1"
_RECORD = struct.Struct(">IIQQ")  # payload length, crc32(index, term, payload), index, term
_META_MAGIC = b"RQMT"
LOG_NAME = "log"
META_NAME = "meta"
SYNCED_NAME = "log.synced"


@dataclass(frozen=True, slots=True)
class JournalOptions:
    fsync: bool = True
    witness_syncs: bool = False


Entry = tuple[bytes, int, int]  # (command, index, term), as pysyncobj holds them


def _crc(command: bytes, index: int, term: int) -> int:
    return zlib.crc32(command, zlib.crc32(struct.pack(">QQ", index, term)))


def _record(command: bytes, index: int, term: int) -> bytes:
    return _RECORD.pack(len(command), _crc(command, index, term), index, term) + command


class DurableJournal(Journal):  # type: ignore[misc]
    def __init__(self, directory: Path, options: JournalOptions | None = None) -> None:
        self._directory = directory
        self._options = options or JournalOptions()
        directory.mkdir(parents=True, exist_ok=True)
        self._log_path = directory / LOG_NAME
        self._meta_path = directory / META_NAME
        self._entries: list[Entry] = []
        self._offsets: list[int] = []  # file offset of each entry's record
        self._pending: list[bytes] = []
        self._pending_size = 0
        # Entries cut by deleteEntriesFrom but still on disk (see there), with their offsets.
        self._detached: list[tuple[Entry, int]] = []
        self._written_size = 0  # bytes written to the file (synced or not)
        self._synced_size = 0
        self.fsync_count = 0
        self._fd = -1
        self._broken: str | None = None  # why the log may no longer be written (see sync)
        self._load_meta()
        self._open_log()

    # --- pysyncobj's Journal interface ----------------------------------------------------------

    def add(self, command: bytes, idx: int, term: int) -> None:
        if self._detached:
            entry, offset = self._detached[0]
            if entry == (command, idx, term):
                # The same entry again after a spurious truncation: it is still on disk.
                self._detached.pop(0)
                self._entries.append(entry)
                self._offsets.append(offset)
                return
            self._drop_detached()
        record = _record(command, idx, term)
        self._offsets.append(self._written_size + self._pending_size)
        self._entries.append((command, idx, term))
        self._pending.append(record)
        self._pending_size += len(record)

    def clear(self) -> None:
        self._rewrite([])

    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802, N803 (pysyncobj's names)
        """pysyncobj truncates a follower's log whenever an append-entries request starts before
        its end, even when the entries there match the leader's, and then appends the same entries
        again. Cutting them from disk would open a window in which acknowledged entries are gone,
        so the cut suffix is only detached: it stays on disk until an entry that differs arrives
        (a real conflict), and then is cut, before the new entry is written."""
        if entryFrom >= len(self._entries):
            return
        self._write_pending()
        detached = list(zip(self._entries[entryFrom:], self._offsets[entryFrom:], strict=True))
        self._detached = detached + self._detached
        del self._entries[entryFrom:]
        del self._offsets[entryFrom:]

    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802, N803
        self._rewrite(self._entries[entryTo:])

    def __getitem__(self, item: Any) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        if self._fd < 0:
            return  # already closed
        self.sync()
        self._store_meta()
        os.close(self._fd)
        self._fd = -1

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:  # noqa: N802, N803
        self._commit_index = raftCommitIndex

    def getRaftCommitIndex(self) -> int:  # noqa: N802
        return self._commit_index

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:  # noqa: N802, N803
        self._term, self._voted_for = term, votedForNodeId
        self._store_meta()

    def getCurrentTerm(self) -> int:  # noqa: N802
        return self._term

    def getVotedForNodeId(self) -> str | None:  # noqa: N802
        return self._voted_for

    def onOneSecondTimer(self) -> None:  # noqa: N802
        if self._commit_index != self._stored_commit_index:
            self._store_meta()

    # --- durability -------------------------------------------------------------------------

    def sync(self) -> None:
        """Make every entry added so far durable, with one fdatasync."""
        if self._broken is not None:
            raise DiskFailure(self._broken)
        try:
            if self._pending:
                self._write_pending()
            if self._synced_size != self._written_size:
                self._fdatasync()
        except OSError as error:
            self._broken = f"a write or sync of {self._log_path} failed: {error}"
            raise

    @property
    def last_synced_index(self) -> int:
        """Index of the last entry known to be on disk (0 when none)."""
        for (_, index, _), offset in zip(
            reversed(self._entries), reversed(self._offsets), strict=True
        ):
            if offset < self._synced_size:
                return index
        return 0

    def _drop_detached(self) -> None:
        offset = self._detached[0][1]
        self._detached.clear()
        os.ftruncate(self._fd, offset)
        self._written_size = offset
        self._fdatasync()

    def _write_pending(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        write_all(self._fd, data)
        self._written_size += len(data)

    def _fdatasync(self) -> None:
        if self._options.fsync:
            os.fdatasync(self._fd)
            self.fsync_count += 1
            self._synced_size = self._written_size
            self._witness()
        else:
            self._synced_size = self._written_size

    def _witness(self) -> None:
        if self._options.witness_syncs:
            (self._directory / SYNCED_NAME).write_text(str(self._synced_size))

    def _rewrite(self, entries: list[Entry]) -> None:
        temporary = self._directory / (LOG_NAME + ".tmp")
        records = [_record(*entry) for entry in entries]
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_all(fd, _LOG_MAGIC + b"".join(records))
            if self._options.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self._fd >= 0:
            os.close(self._fd)
        os.replace(temporary, self._log_path)
        if self._options.fsync:
            fsync_directory(self._directory)
        self._fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND)
        self._entries = list(entries)
        self._pending.clear()
        self._pending_size = 0
        self._detached.clear()
        self._offsets = []
        offset = len(_LOG_MAGIC)
        for record in records:
            self._offsets.append(offset)
            offset += len(record)
        self._written_size = self._synced_size = offset
        self._witness()

    # --- opening ------------------------------------------------------------------------------

    def _load_meta(self) -> None:
        body = read_checked(self._meta_path, _META_MAGIC)
        if body is None:
            self._term, self._voted_for, self._commit_index = 0, None, 1
        else:
            try:
                self._term, self._voted_for, self._commit_index = msgpack.unpackb(body)
            except (ValueError, TypeError) as error:
                raise CorruptState(f"{self._meta_path} does not decode: {error}") from None
        self._stored_commit_index = self._commit_index

    def _store_meta(self) -> None:
        body = msgpack.packb((self._term, self._voted_for, self._commit_index))
        write_checked(self._meta_path, _META_MAGIC, body, fsync=self._options.fsync)
        self._stored_commit_index = self._commit_index

    def _open_log(self) -> None:
        if not self._log_path.exists():
            self._rewrite([])
            return
        raw = self._log_path.read_bytes()
        if not raw.startswith(_LOG_MAGIC):
            raise CorruptState(f"{self._log_path} is not a raftq log")
        offset = len(_LOG_MAGIC)
        while offset < len(raw):
            end = _intact_record_end(raw, offset)
            if end is None:
                _refuse_unless_torn_tail(self._log_path, raw, offset)
                break
            _, _, index, term = _RECORD.unpack_from(raw, offset)
            if self._entries and index != self._entries[-1][1] + 1:
                raise CorruptState(f"{self._log_path}: index {index} breaks the sequence")
            self._entries.append((raw[offset + _RECORD.size : end], index, term))
            self._offsets.append(offset)
            offset = end
        self._fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND)
        if offset < len(raw):  # a torn tail: never synced, so never acknowledged
            os.ftruncate(self._fd, offset)
        # What a crashed run wrote may still be only in the page cache: sync it before the node
        # can report any of it as on disk (and witness it, so a power cut keeps it).
        self._written_size, self._synced_size = offset, -1
        self._fdatasync()


def _intact_record_end(raw: bytes, offset: int) -> int | None:
    if offset + _RECORD.size > len(raw):
        return None
    length, crc, index, term = _RECORD.unpack_from(raw, offset)
    end = offset + _RECORD.size + length
    if end > len(raw):
        return None
    return end if _crc(raw[offset + _RECORD.size : end], index, term) == crc else None


def _refuse_unless_torn_tail(path: Path, raw: bytes, offset: int) -> None:
    """A crash mid-write leaves a cut-short or garbled last record and nothing intact after it.
    An intact record anywhere after a bad one means the bad one was damaged at rest."""
    for start in range(offset + 1, len(raw) - _RECORD.size + 1):
        if _intact_record_end(raw, start) is not None:
            raise CorruptState(f"{path} is corrupt at offset {offset}")

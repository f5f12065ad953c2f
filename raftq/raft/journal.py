"""The Raft log and the term/vote of one node, on disk, fsynced in groups.

This replaces pysyncobj's own journal, which never fsyncs (../shared/notes/pysyncobj.md). It
implements pysyncobj's `Journal` interface and is handed to pysyncobj by `raft/node.py`.

Disk rules kept here:
- Entries are appended as records `[payload length, crc32, index, term, payload]` to `log`
  (raft/log_records.py). `add` only buffers; `sync()` writes everything added since the last
  call and fdatasyncs it once (group commit; `os.fdatasync` releases the GIL). The transport
  calls `sync()` before it sends any message, so no append-entries reply, vote or append-entries
  request leaves the node before the entries it depends on are on disk, and a leader's entries
  are on disk before any follower can acknowledge them (which is what lets the leader count
  itself toward a commit).
- Term and vote are written durably (temporary file, fsync, rename, directory fsync) before
  `setCurrentTerm` returns, so a vote or a new term is never sent before it would survive.
- Truncating a conflicting suffix: `ftruncate` then fdatasync, at once. Dropping a compacted
  prefix: the records kept are copied to a temporary file, fsynced, renamed over `log`,
  directory fsynced.
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
  (`tests/integration/cluster.py`, `cut_power`). One `pwrite` of 20 digits over the same
  bytes, never a truncation first: a kill -9 at any moment leaves the old length or the new
  one, never an empty file (which a rewrite of the file did, once in CI).
  `fsync=False` exists only to show that the power-loss test then fails.

Memory: per entry only its index, term, offset and length (raft/log_records.py `RecordTable`),
and the payloads of the newest entries up to `cache_bytes` (raft/log_views.py). Any other
payload is read back from the file when pysyncobj asks for it (a follower far behind, a replay
after a restart) and checked against its record's checksum: a record damaged at rest is
`CorruptState` when read, as when opened. An entry added but not yet written is written (not
synced) before it is read back.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from pysyncobj.journal import Journal

from raftq.common import limits
from raftq.common.errors import CorruptState, DiskFailure
from raftq.raft.durable_files import fsync_directory, read_checked, write_all, write_checked
from raftq.raft.log_records import LOG_MAGIC, RecordTable, read_payload, record, scan
from raftq.raft.log_views import EntryHeaders, EntrySlice, PayloadCache
from raftq.raft.timings import fsync_histogram

_META_MAGIC = b"RQMT"
_COPY_CHUNK_BYTES = 1 << 20
LOG_NAME = "log"
META_NAME = "meta"
SYNCED_NAME = "log.synced"


@dataclass(frozen=True, slots=True)
class JournalOptions:
    fsync: bool = True
    witness_syncs: bool = False
    cache_bytes: int = limits.RAFT_LOG_CACHE_BYTES


Entry = tuple[bytes, int, int]  # (command, index, term), as pysyncobj holds them


class DurableJournal(Journal):  # type: ignore[misc]
    def __init__(self, directory: Path, options: JournalOptions | None = None) -> None:
        self._directory = directory
        self._options = options or JournalOptions()
        directory.mkdir(parents=True, exist_ok=True)
        self._log_path = directory / LOG_NAME
        self._meta_path = directory / META_NAME
        self._table = RecordTable()
        self._cache = PayloadCache(self._options.cache_bytes)
        self._pending: list[bytes] = []
        self._pending_size = 0
        # Entries cut by deleteEntriesFrom but still on disk (see there).
        self._detached = RecordTable()
        self._written_size = 0  # bytes written to the file (synced or not)
        self._synced_size = 0
        # Changes whenever entries are cut or dropped: views of the old entries are stale.
        self.generation = 0
        self._last_entry: Entry | None = None  # the last entry, when it was just added
        self.fsync_count = 0
        self.fsync_seconds = fsync_histogram()  # for metrics (raft_metrics.py)
        self.headers = EntryHeaders(self)
        self._fd = -1
        self._broken: str | None = None  # why the log may no longer be written (see sync)
        self._witness_fd = -1  # log.synced, in test mode
        self._load_meta()
        self._open_log()

    # --- pysyncobj's Journal interface ----------------------------------------------------------

    def add(self, command: bytes, idx: int, term: int) -> None:
        if self._detached and self._is_detached_head(command, idx, term):
            # The same entry again after a spurious truncation: it is still on disk.
            self._table.append(*self._detached.pop_first())
            self._cache.put(idx, command)
            self._last_entry = (command, idx, term)
            return
        if self._detached:
            self._drop_detached()
        self._table.append(idx, term, self._written_size + self._pending_size, len(command))
        self._cache.put(idx, command)
        self._last_entry = (command, idx, term)
        data = record(command, idx, term)
        self._pending.append(data)
        self._pending_size += len(data)

    def clear(self) -> None:
        self._rewrite_from(len(self._table))

    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802, N803 (pysyncobj's names)
        """pysyncobj truncates a follower's log whenever an append-entries request starts before
        its end, even when the entries there match the leader's, and then appends the same entries
        again. Cutting them from disk would open a window in which acknowledged entries are gone,
        so the cut suffix is only detached: it stays on disk until an entry that differs arrives
        (a real conflict), and then is cut, before the new entry is written."""
        if entryFrom >= len(self._table):
            return
        self._write_pending()
        self.generation += 1
        self._last_entry = None
        self._cache.forget_from(self._table.indices[entryFrom])
        self._detached.prepend(self._table.split_off(entryFrom))

    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802, N803
        self._rewrite_from(min(max(entryTo, 0), len(self._table)))

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            return EntrySlice(self, range(len(self._table.indices))[item])
        return self.entry_at(item)

    def __len__(self) -> int:
        return len(self._table.indices)

    def _destroy(self) -> None:
        if self._fd < 0:
            return  # already closed
        self.sync()
        self._store_meta()
        os.close(self._fd)
        self._fd = -1
        if self._witness_fd >= 0:
            os.close(self._witness_fd)
            self._witness_fd = -1

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

    # --- reading entries ------------------------------------------------------------------------

    def entry_at(self, position: int) -> Entry:
        """The entry at `position` (negative counts from the end), its payload from the cache
        or read back from the file."""
        table = self._table
        count = len(table.indices)
        if position < 0:
            position += count
        if not 0 <= position < count:
            raise IndexError(f"no entry at position {position} of {count}")
        if position == count - 1 and self._last_entry is not None:
            return self._last_entry  # pysyncobj reads the last entry many times a tick
        index = table.indices[position]
        payload = self._cache.get(index)
        if payload is None:
            if table.offsets[position] >= self._written_size:
                self._write_pending()
            payload = read_payload(self._fd, self._log_path, table, position)
        return (payload, index, table.terms[position])

    def header_at(self, position: int) -> tuple[None, int, int]:
        position = range(len(self._table))[position]
        return (None, self._table.indices[position], self._table.terms[position])

    @property
    def size_bytes(self) -> int:
        """Bytes of the log file, with what was added and not yet written."""
        return self._written_size + self._pending_size

    @property
    def cached_payload_bytes(self) -> int:
        return self._cache.size_bytes

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
        for position in reversed(range(len(self._table))):
            if self._table.offsets[position] < self._synced_size:
                return int(self._table.indices[position])
        return 0

    def _is_detached_head(self, command: bytes, index: int, term: int) -> bool:
        if (self._detached.indices[0], self._detached.terms[0]) != (index, term):
            return False
        if self._detached.lengths[0] != len(command):
            return False
        return read_payload(self._fd, self._log_path, self._detached, 0) == command

    def _drop_detached(self) -> None:
        offset = self._detached.offsets[0]
        self._detached = RecordTable()
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
            started = time.monotonic()
            os.fdatasync(self._fd)
            self.fsync_seconds.observe(time.monotonic() - started)
            self.fsync_count += 1
            self._synced_size = self._written_size
            self._witness()
        else:
            self._synced_size = self._written_size

    def _witness(self) -> None:
        if not self._options.witness_syncs:
            return
        if self._witness_fd < 0:
            self._witness_fd = os.open(
                self._directory / SYNCED_NAME, os.O_WRONLY | os.O_CREAT, 0o600
            )
        os.pwrite(self._witness_fd, b"%020d" % self._synced_size, 0)

    def _rewrite_from(self, position: int) -> None:
        """Replace the log file by one holding the entries from `position` on (the detached
        ones, never acknowledged as part of this log, are left out)."""
        if self._fd >= 0:
            self._write_pending()
        start = self._table.offsets[position] if position < len(self._table) else 0
        end = self._table.end_offset() if position < len(self._table) else 0
        temporary = self._directory / (LOG_NAME + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_all(fd, LOG_MAGIC)
            for chunk_start in range(start, end, _COPY_CHUNK_BYTES):
                size = min(_COPY_CHUNK_BYTES, end - chunk_start)
                chunk = os.pread(self._fd, size, chunk_start)
                if len(chunk) != size:
                    raise CorruptState(f"{self._log_path} is shorter than its records")
                write_all(fd, chunk)
            if self._options.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self._fd >= 0:
            os.close(self._fd)
        os.replace(temporary, self._log_path)
        if self._options.fsync:
            fsync_directory(self._directory)
        self._fd = os.open(self._log_path, os.O_RDWR | os.O_APPEND)
        self.generation += 1
        self._last_entry = None
        first_kept = self._table.indices[position] if position < len(self._table) else None
        self._table.drop_before(position, start - len(LOG_MAGIC))
        if first_kept is None:
            self._cache.clear()
        else:
            self._cache.forget_before(first_kept)
        self._detached = RecordTable()
        self._written_size = self._synced_size = len(LOG_MAGIC) + end - start
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
            self._rewrite_from(0)
            return
        self._table, end = scan(self._log_path)
        self._fd = os.open(self._log_path, os.O_RDWR | os.O_APPEND)
        if end < os.fstat(self._fd).st_size:  # a torn tail: never synced, so never acknowledged
            os.ftruncate(self._fd, end)
        # What a crashed run wrote may still be only in the page cache: sync it before the node
        # can report any of it as on disk (and witness it, so a power cut keeps it).
        self._written_size, self._synced_size = end, -1
        self._fdatasync()
        for position in reversed(range(len(self._table))):
            payload = read_payload(self._fd, self._log_path, self._table, position)
            if not self._cache.put_oldest(int(self._table.indices[position]), payload):
                break

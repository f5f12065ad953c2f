"""`Store` on RocksDB (rocksdict, raw bytes).

Disk rules this module keeps:
- One `WriteSet` is one RocksDB WriteBatch: state machine data and the applied index it carries
  land together or not at all (RocksDB's WAL makes a batch atomic across crashes).
- With `sync_writes` the batch is fsynced (WAL sync) before `commit` returns. A backend replica
  runs without it: the Raft log is fsynced before an entry commits, and a lost suffix of applied
  state is replayed from the log because the applied index is part of the same batch.
- RocksDB verifies block checksums on read; a corrupt file raises instead of serving bad data.
- A scan seeks past key ranges it has learnt hold no live key (`_EmptyRanges`): the results are
  those of a plain scan, only the deleted keys RocksDB keeps until compaction are not walked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from pathlib import Path

from rocksdict import (
    BlockBasedOptions,
    Cache,
    Checkpoint,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
    WriteOptions,
)

from raftq.backend.store import WriteSet
from raftq.common.errors import CorruptState, DiskFailure
from raftq.common.settings import StoreSettings

# Past this many learnt ranges the store forgets them all: scans stay correct, the next ones
# walk their deleted keys once more. Each queue has a handful of scanned families.
_EMPTY_RANGES_MAX = 10_000


class _EmptyRanges:
    """Disjoint key ranges [start, stop) known to hold no live key in the committed store.

    Why: a queue consumes from the front of its index families (visible, in flight), so each
    family's front fills with deleted keys that RocksDB keeps until compaction, and a seek to the
    family's start steps over every one of them: the apply of a receive of 10 grew with the
    count of messages consumed, to 11 ms after 50,000 (0.34 ms with this; 2-core x86_64,
    bench/state_machine_bench.py section 3).
    A scan records the range it found empty; a scan from inside it seeks to its end.

    Kept true by `written`: a key put inside a range splits the range around it. Deleting keys
    only empties ranges further, so deletions (point or range) change nothing here.
    """

    def __init__(self) -> None:
        self._starts: list[bytes] = []
        self._stops: list[bytes] = []  # sorted as well: the ranges are disjoint

    def __bool__(self) -> bool:
        return bool(self._starts)

    def skip(self, key: bytes) -> bytes:
        """`key`, or the end of the known-empty range that holds it."""
        i = bisect_right(self._starts, key) - 1
        if i >= 0 and key < self._stops[i]:
            return self._stops[i]
        return key

    def add(self, start: bytes, stop: bytes) -> None:
        if start >= stop:
            return
        if len(self._starts) >= _EMPTY_RANGES_MAX:
            self._starts, self._stops = [], []
        # Merge with the ranges it overlaps or touches: those from the first that stops at or
        # after `start` to the last that starts at or before `stop`.
        first = bisect_left(self._stops, start)
        end = bisect_right(self._starts, stop)
        if first < end:
            start = min(start, self._starts[first])
            stop = max(stop, self._stops[end - 1])
        self._starts[first:end] = [start]
        self._stops[first:end] = [stop]

    def written(self, key: bytes) -> None:
        i = bisect_right(self._starts, key) - 1
        if i < 0 or key >= self._stops[i]:
            return
        pieces = [
            (start, stop)
            for start, stop in ((self._starts[i], key), (key + b"\x00", self._stops[i]))
            if start < stop
        ]
        self._starts[i : i + 1] = [start for start, _ in pieces]
        self._stops[i : i + 1] = [stop for _, stop in pieces]


class RocksStore:
    def __init__(self, settings: StoreSettings) -> None:
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_paranoid_checks(True)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(settings.block_cache_bytes))
        # Point reads (message records by sequence, dedup ids, receipt handles) dominate; a bloom
        # filter spares them a disk read in the levels that do not hold the key.
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        try:
            self._db = Rdict(str(settings.path), options=options)
        except Exception as error:
            raise CorruptState(f"cannot open the store at {settings.path}: {error}") from None
        self._write_options = WriteOptions()
        self._write_options.sync = settings.sync_writes
        self._closed = False
        self._empty = _EmptyRanges()
        self._commits = 0  # a scan learns only if no commit happened since it began

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        seek_to = self._empty.skip(start)
        if seek_to >= stop:
            return
        commits = self._commits
        read_options = ReadOptions()
        read_options.set_iterate_upper_bound(stop)
        read_options.set_verify_checksums(True)
        iterator = self._db.iter(read_options)
        iterator.seek(seek_to)
        learnt = False
        while iterator.valid():
            key = iterator.key()
            if not learnt:
                learnt = True
                self._learn_empty(commits, start, key)
            yield key, iterator.value()
            iterator.next()
        try:
            iterator.status()
        except Exception as error:
            raise CorruptState(f"cannot read the store: {error}") from None
        if not learnt:
            self._learn_empty(commits, start, stop)

    def commit(self, changes: WriteSet) -> None:
        batch = WriteBatch(raw_mode=True)
        for start, stop in changes.deleted_ranges:
            if start < stop:  # RocksDB refuses an inverted range; the contract makes it empty
                batch.delete_range(start, stop)
        empty = self._empty
        for key, value in changes.writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
                if empty:
                    empty.written(key)
        self._commits += 1
        try:
            self._db.write(batch, self._write_options)
        except Exception as error:
            # RocksDB's IOError (no space, a failed write or sync of the WAL or a flush): the
            # node must stop rather than apply on (raft/disk_failure.py).
            if str(error).startswith("IO error"):
                raise DiskFailure(f"cannot write the store: {error}") from error
            raise

    def _learn_empty(self, commits: int, start: bytes, stop: bytes) -> None:
        if commits == self._commits:
            self._empty.add(start, stop)

    def checkpoint(self, directory: Path) -> None:
        """A consistent copy of the store (hard links where possible) in the new `directory`.
        RocksDB flushes the memtable first, so the copy is complete and on disk."""
        Checkpoint(self._db).create_checkpoint(str(directory))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

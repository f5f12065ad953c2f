"""An uncommitted layer of changes over a `ReadView`: reads see the layer's own writes.

The state machine applies each Raft entry in one `Txn` over the store, and each command in a
child `Txn` over the entry's: a command that fails is dropped whole (its layer discarded), one
that succeeds is merged into the entry, and the entry becomes one `WriteSet` (one RocksDB
WriteBatch). Layers hold point writes (None = deleted) and deleted ranges; a point write made
after a range deletion wins over it, and that is the order `WriteSet` replays them in.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from operator import itemgetter

from sortedcontainers import SortedDict

from raftq.backend.store import ReadView, WriteSet
from raftq.backend.task_events import TaskEvent


class Txn:
    def __init__(self, parent: ReadView) -> None:
        self._parent = parent
        self._writes: SortedDict = SortedDict()
        self._deleted_ranges: list[tuple[bytes, bytes]] = []
        # Notes for metrics (task_events.py): kept and dropped with this layer's writes.
        self.events: list[TaskEvent] = []

    def get(self, key: bytes) -> bytes | None:
        if key in self._writes:
            value: bytes | None = self._writes[key]
            return value
        if self._in_deleted_range(key):
            return None
        return self._parent.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._writes[key] = value

    def delete(self, key: bytes) -> None:
        self._writes[key] = None

    def delete_range(self, start: bytes, stop: bytes) -> None:
        for key in list(self._writes.irange(start, stop, inclusive=(True, False))):
            del self._writes[key]
        self._deleted_ranges.append((start, stop))

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of [start, stop) in key order, read lazily: the caller must not change
        the layer while it iterates (read a chunk, then write)."""
        writes = self._writes
        own_keys = writes.irange(start, stop, inclusive=(True, False))
        if next(iter(own_keys), None) is None and not self._deleted_ranges:
            return self._parent.scan(start, stop)  # nothing of this layer's in the range
        # Lazily, so that `first` and short reads cost what they read, not every write of the
        # layer in the range (due work deletes thousands of keys in one family per entry).
        own_live = (
            (key, writes[key])
            for key in writes.irange(start, stop, inclusive=(True, False))
            if writes[key] is not None
        )
        inherited = (
            (key, value) for key, value in self._parent_scan(start, stop) if key not in writes
        )
        return heapq.merge(own_live, inherited, key=itemgetter(0))

    def _parent_scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The parent's keys of [start, stop) outside this layer's deleted ranges: the parent
        is not read over a deleted range at all (after a purge of 10^6 messages, a scan of the
        purged family in the same entry would otherwise step over every one of them)."""
        for low, high in _uncovered(start, stop, self._deleted_ranges):
            yield from self._parent.scan(low, high)

    def first(self, start: bytes, stop: bytes) -> tuple[bytes, bytes] | None:
        return next(iter(self.scan(start, stop)), None)

    def merge_into(self, parent: Txn) -> None:
        """Fold this layer into `parent`, as if its changes had been made there."""
        for start, stop in self._deleted_ranges:
            parent.delete_range(start, stop)
        parent._writes.update(self._writes)
        parent.events.extend(self.events)

    def write_set(self) -> WriteSet:
        return WriteSet(deleted_ranges=list(self._deleted_ranges), writes=dict(self._writes))

    def fingerprint(self) -> bytes:
        """SHA-256 of this layer's changes in a canonical form (ranges in the order deleted,
        then writes by key): equal layers, equal fingerprints, on every replica."""
        digest = hashlib.sha256()
        for start, stop in self._deleted_ranges:
            digest.update(b"r" + _framed(start) + _framed(stop))
        for key, value in self._writes.items():
            digest.update((b"d" + _framed(key)) if value is None else (b"p" + _framed(key)))
            if value is not None:
                digest.update(_framed(value))
        return digest.digest()

    @property
    def is_empty(self) -> bool:
        return not self._writes and not self._deleted_ranges

    def _in_deleted_range(self, key: bytes) -> bool:
        return any(start <= key < stop for start, stop in self._deleted_ranges)


def _uncovered(
    start: bytes, stop: bytes, deleted: list[tuple[bytes, bytes]]
) -> Iterator[tuple[bytes, bytes]]:
    """The parts of [start, stop) that no range of `deleted` covers, in order."""
    low = start
    for deleted_start, deleted_stop in sorted(deleted):
        if deleted_stop <= low or deleted_start >= deleted_stop:
            continue  # wholly before what is left, or empty
        if deleted_start >= stop:
            break
        if deleted_start > low:
            yield low, deleted_start
        low = max(low, deleted_stop)
        if low >= stop:
            return
    if low < stop:
        yield low, stop


def _framed(part: bytes) -> bytes:
    return len(part).to_bytes(4, "big") + part

"""The `Store` interface a replica's state machine writes through, and its in-memory twin.

Rules every implementation keeps (the contract suite in tests/contract checks them):
- `commit` is atomic: after a crash either every change of a `WriteSet` is visible or none is.
- Within one `WriteSet`, range deletions happen first, then point writes in any order (the
  writes are a map, so there is one final value per key). A range with `start >= stop` is empty.
- `scan(start, stop)` yields `(key, value)` in ascending byte order for `start <= key < stop`.
  Callers do not commit while a scan is open.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from sortedcontainers import SortedDict


class ReadView(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]: ...


@dataclass
class WriteSet:
    """Changes committed together: `deleted_ranges` first, then `writes` (None deletes)."""

    deleted_ranges: list[tuple[bytes, bytes]] = field(default_factory=list)
    writes: dict[bytes, bytes | None] = field(default_factory=dict)


class Store(ReadView, Protocol):
    def commit(self, changes: WriteSet) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """A `Store` kept in a sorted map: for tests and for the in-process scenarios."""

    def __init__(self) -> None:
        self._data: SortedDict = SortedDict()
        self.commits = 0

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._data.get(key)
        return value

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in self._data.irange(start, stop, inclusive=(True, False)):
            yield key, self._data[key]

    def commit(self, changes: WriteSet) -> None:
        for start, stop in changes.deleted_ranges:
            for key in list(self._data.irange(start, stop, inclusive=(True, False))):
                del self._data[key]
        for key, value in changes.writes.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value
        self.commits += 1

    def close(self) -> None:
        pass

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self._data.items())

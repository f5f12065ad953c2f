"""What the journal keeps of payloads in memory, and the views it hands to pysyncobj.

- `PayloadCache`: the payloads of the newest entries, up to a byte budget
  (`limits.RAFT_LOG_CACHE_BYTES`): what the leader sends to followers that keep up and what
  every member applies next. The newest entry is always kept, whatever its size, because
  pysyncobj reads the last entry's index and term many times a tick. Everything else is read
  back from the log file when asked for.
- `EntrySlice`: what `journal[a:b]` returns. pysyncobj slices the log from a follower's next
  index to its end (then keeps what fits a message), and from the applied index to the commit
  index (then applies the entries one by one). A list would read every payload of that range at
  once (gigabytes for a follower far behind); the view reads each entry when it is asked for,
  and holds none. Slicing a view gives a list, which is what goes into a message.
- `EntryHeaders`: `(None, index, term)` of each entry, for code that reasons about indexes and
  terms only (raft/append_entries.py), without reading a payload.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from raftq.raft.journal import DurableJournal, Entry


class PayloadCache:
    def __init__(self, budget_bytes: int) -> None:
        self._budget_bytes = budget_bytes
        self._payloads: OrderedDict[int, bytes] = OrderedDict()  # by index, oldest first
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._payloads)

    def get(self, index: int) -> bytes | None:
        return self._payloads.get(index)

    def put(self, index: int, payload: bytes) -> None:
        """Keep `payload` as the newest; forget the oldest ones beyond the budget."""
        self._forget(index)
        self._payloads[index] = payload
        self.size_bytes += len(payload)
        while self.size_bytes > self._budget_bytes and len(self._payloads) > 1:
            self.size_bytes -= len(self._payloads.popitem(last=False)[1])

    def put_oldest(self, index: int, payload: bytes) -> bool:
        """Keep `payload` as the oldest, if it fits the budget (filling the cache backwards
        after a reopen). False when it does not fit."""
        if self._payloads and self.size_bytes + len(payload) > self._budget_bytes:
            return False
        self._payloads[index] = payload
        self._payloads.move_to_end(index, last=False)
        self.size_bytes += len(payload)
        return True

    def forget_from(self, index: int) -> None:
        """Forget the payloads of `index` and after (their entries were cut from the log)."""
        for cached in [cached for cached in self._payloads if cached >= index]:
            self._forget(cached)

    def forget_before(self, index: int) -> None:
        for cached in [cached for cached in self._payloads if cached < index]:
            self._forget(cached)

    def clear(self) -> None:
        self._payloads.clear()
        self.size_bytes = 0

    def _forget(self, index: int) -> None:
        payload = self._payloads.pop(index, None)
        if payload is not None:
            self.size_bytes -= len(payload)


class EntrySlice(Sequence["Entry"]):
    """Entries at positions `positions` of `journal`, read when asked for. Valid only until the
    journal next cuts or drops entries (`generation` guards that: a stale view raises)."""

    def __init__(self, journal: DurableJournal, positions: range) -> None:
        self._journal = journal
        self._positions = positions
        self._generation = journal.generation

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, item: int) -> Entry: ...

    @overload
    def __getitem__(self, item: slice) -> list[Entry]: ...

    def __getitem__(self, item: int | slice) -> Entry | list[Entry]:
        if self._generation != self._journal.generation:
            raise RuntimeError("the log changed under a view of its entries")
        if isinstance(item, slice):
            return [self._journal.entry_at(position) for position in self._positions[item]]
        return self._journal.entry_at(self._positions[item])

    def __iter__(self) -> Iterator[Entry]:
        for position in self._positions:
            if self._generation != self._journal.generation:
                raise RuntimeError("the log changed under a view of its entries")
            yield self._journal.entry_at(position)


class EntryHeaders(Sequence[tuple[None, int, int]]):
    def __init__(self, journal: DurableJournal) -> None:
        self._journal = journal

    def __len__(self) -> int:
        return len(self._journal)

    @overload
    def __getitem__(self, item: int) -> tuple[None, int, int]: ...

    @overload
    def __getitem__(self, item: slice) -> list[tuple[None, int, int]]: ...

    def __getitem__(self, item: int | slice) -> tuple[None, int, int] | list[tuple[None, int, int]]:
        if isinstance(item, slice):
            return [self[position] for position in range(len(self))[item]]
        return self._journal.header_at(item)

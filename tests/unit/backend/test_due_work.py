"""Due work (delays and leases ending, retention, record expiry) inside one Raft entry: what it
costs, and that it is bounded (raftq/backend/work_budget.py, queue_state.py `advance`)."""

from __future__ import annotations

from collections.abc import Iterator

from raftq.backend.store import MemoryStore, WriteSet
from raftq.common import limits
from raftq.common.commands import Expire
from raftq.common.results import ExpireResult
from tests.replica import Replica
from tests.unit.backend.invariants import check_invariants


class CountingStore:
    """A `MemoryStore` that counts the keys its scans hand out."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.keys_read = 0

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for pair in self.inner.scan(start, stop):
            self.keys_read += 1
            yield pair

    def commit(self, changes: WriteSet) -> None:
        self.inner.commit(changes)

    def close(self) -> None:
        pass


def test_expiring_a_whole_fifo_group_in_one_entry_reads_each_key_a_few_times_at_most() -> None:
    # Given one FIFO group of 600 messages whose retention ends at the same moment
    store = CountingStore()
    replica = Replica(store)
    replica.create("f.fifo", fifo=True, retention_ms=limits.RETENTION_MIN_MS)
    for start in range(0, 600, 100):
        bodies = [b"m%d" % i for i in range(start, start + 100)]
        for body in bodies:
            replica.send("f.fifo", body, group_id="g", dedup_id=body.decode())
    replica.advance(limits.RETENTION_MIN_MS)
    store.keys_read = 0
    # When one sweep expires them all
    swept = replica.expect(Expire(now_ms=replica.now_ms, max_transitions=1_000), ExpireResult)
    # Then the entry read a few keys per message, not the group's deleted keys again for each
    # (which was 600 * 600 / 2 reads: the group's head was searched from its start each time)
    assert swept.transitions == 600 and not swept.more
    assert store.keys_read < 10 * 600
    check_invariants(store)

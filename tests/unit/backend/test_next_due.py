"""When the leader's expiry sweep has work: the earliest due time of every served queue."""

from __future__ import annotations

from raftq.backend.reads import next_due_ms
from raftq.common.commands import FenceQueue
from tests.replica import Replica

MINUTE_MS = 60_000


def test_an_idle_replica_has_nothing_due_and_each_timer_counts() -> None:
    replica = Replica()
    assert next_due_ms(replica.machine) is None
    replica.create("q", retention_ms=10 * MINUTE_MS, visibility_timeout_ms=MINUTE_MS)
    assert next_due_ms(replica.machine) is None  # an empty queue has no timer
    start = replica.now_ms
    replica.send("q", b"later", delay_ms=5 * MINUTE_MS)
    assert next_due_ms(replica.machine) == start + 5 * MINUTE_MS  # the delay ends
    replica.send("q", b"now")
    replica.receive("q")
    assert next_due_ms(replica.machine) == start + MINUTE_MS  # the lease runs out


def test_retention_and_record_expiry_are_due_too() -> None:
    replica = Replica()
    replica.create("q", retention_ms=2 * MINUTE_MS, dedup_window_ms=5 * MINUTE_MS)
    start = replica.now_ms
    replica.send("q", b"m", dedup_id="d")
    assert next_due_ms(replica.machine) == start + 2 * MINUTE_MS
    replica.advance(3 * MINUTE_MS)
    replica.receive("q")  # advances the queue: the message expired; the dedup record remains
    assert next_due_ms(replica.machine) == start + 5 * MINUTE_MS


def test_a_fenced_queue_is_never_due() -> None:
    replica = Replica()
    replica.create("q")
    replica.send("q", b"later", delay_ms=MINUTE_MS)
    replica.one(FenceQueue(now_ms=replica.now_ms, queue="q", epoch=2))
    assert next_due_ms(replica.machine) is None

"""Latencies a Raft node measures for its metrics: each fsync of its log (journal.py) and each
snapshot build, from the cut to the archive's verdict (snapshot_builder.py).

They are prometheus_client histograms registered nowhere: the node's metrics collector
(raftq/raft/raft_metrics.py) exports them with the node's labels. Observing one is a lock and a
few additions, cheap enough for the tick thread."""

from __future__ import annotations

from typing import Final

from prometheus_client import Histogram

# fdatasync takes ~0.1 ms on a RAM disk, ~1 ms on an NVMe SSD, 5-20 ms on a network disk, and
# seconds on a disk that is failing: buckets from 0.1 ms to 2.5 s.
FSYNC_BUCKETS_S: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
# A snapshot is a RocksDB checkpoint (hard links, fast) and a tar of it (size-bound): 10 ms to
# several minutes for a large state.
SNAPSHOT_BUCKETS_S: Final = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)


def fsync_histogram() -> Histogram:
    return Histogram(
        "raftq_raft_fsync_seconds",
        "Time of each fdatasync of the Raft log",
        buckets=FSYNC_BUCKETS_S,
        registry=None,
    )


def snapshot_histogram() -> Histogram:
    return Histogram(
        "raftq_raft_snapshot_seconds",
        "Time to build a snapshot (state cut and archive), builds that succeeded",
        buckets=SNAPSHOT_BUCKETS_S,
        registry=None,
    )

"""Where a new queue goes, and when a backend cluster counts as healthy (pure).

A cluster is healthy at a time when a majority of its members reported within
`HEALTH_WINDOW_MS` before it: a cluster whose majority stopped reporting cannot commit anyway.
The leader passes clusters whose report times are when it last heard each member
(liveness.py), not the replicated ones, which change only with the load.
A new queue goes to the least-loaded healthy, non-draining cluster whose replicas sit in distinct
zones; only when no cluster spans distinct zones may one that does not take it. Load is the
number of queues placed there, then the messages its members last reported; ties go to the
smallest cluster id, so every replica of the metadata log would choose alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from raftq.common.errors import NoHealthyCluster
from raftq.common.metadata_models import Cluster

# Backends report every 5 s (BackendNodeSettings.report_interval_s); three missed reports make a
# node count as silent.
HEALTH_WINDOW_MS: Final = 15_000


def is_healthy(cluster: Cluster, now_ms: int) -> bool:
    fresh = sum(
        1
        for member in cluster.members
        if (report := cluster.reports.get(member.node_id)) is not None
        and now_ms - report.reported_at_ms <= HEALTH_WINDOW_MS
    )
    return fresh * 2 > len(cluster.members)


def spans_distinct_zones(cluster: Cluster) -> bool:
    zones = [member.zone for member in cluster.members]
    return len(set(zones)) == len(zones)


def choose_cluster(
    clusters: Iterable[Cluster], queues_per_cluster: Mapping[str, int], now_ms: int
) -> str:
    candidates = [c for c in clusters if not c.draining and is_healthy(c, now_ms)]
    spread = [c for c in candidates if spans_distinct_zones(c)]
    pool = spread or candidates
    if not pool:
        raise NoHealthyCluster("no healthy backend cluster can take a new queue")

    def load(cluster: Cluster) -> tuple[int, int, str]:
        reported = max((r.messages for r in cluster.reports.values()), default=0)
        return queues_per_cluster.get(cluster.cluster_id, 0), reported, cluster.cluster_id

    return min(pool, key=load).cluster_id

"""Placement: least-loaded healthy cluster whose replicas span distinct zones."""

from __future__ import annotations

import pytest

from raftq.common.errors import NoHealthyCluster
from raftq.common.metadata_models import Cluster, ClusterMember, NodeReport
from raftq.metadata.placement import HEALTH_WINDOW_MS, choose_cluster, is_healthy

NOW = 1_700_000_000_000


def cluster(
    cluster_id: str,
    zones: str,
    reported: str,
    *,
    messages: int = 0,
    draining: bool = False,
    age_ms: int = 0,
) -> Cluster:
    members = tuple(
        ClusterMember(
            node_id=f"{cluster_id}-{i}", zone=z, raft_address=f"h{i}:1", api_address=f"h{i}:2"
        )
        for i, z in enumerate(zones)
    )
    reports = {
        f"{cluster_id}-{i}": NodeReport(reported_at_ms=NOW - age_ms, messages=messages, queues=0)
        for i in range(len(zones))
        if reported[i] == "y"
    }
    return Cluster(cluster_id=cluster_id, members=members, reports=reports, draining=draining)


def test_a_cluster_is_healthy_while_a_majority_reports() -> None:
    assert is_healthy(cluster("c", "abc", "yyn"), NOW)
    assert not is_healthy(cluster("c", "abc", "ynn"), NOW)
    assert is_healthy(cluster("c", "abc", "yyy", age_ms=HEALTH_WINDOW_MS), NOW)
    assert not is_healthy(cluster("c", "abc", "yyy", age_ms=HEALTH_WINDOW_MS + 1), NOW)


def test_the_least_loaded_healthy_cluster_across_distinct_zones_wins() -> None:
    clusters = [
        cluster("c1", "abc", "yyy"),
        cluster("c2", "abc", "yyy"),
        cluster("c3", "aab", "yyy"),  # two replicas in one zone
        cluster("c4", "abc", "ynn"),  # unhealthy
        cluster("c5", "abc", "yyy", draining=True),
    ]
    assert choose_cluster(clusters, {"c1": 3, "c2": 1, "c3": 0, "c4": 0, "c5": 0}, NOW) == "c2"
    # equal queue counts: fewer reported messages, then the smaller id
    loaded = [cluster("c1", "abc", "yyy", messages=90), cluster("c2", "abc", "yyy", messages=10)]
    assert choose_cluster(loaded, {}, NOW) == "c2"
    assert choose_cluster([cluster("b", "abc", "yyy"), cluster("a", "abc", "yyy")], {}, NOW) == "a"


def test_a_cluster_without_zone_spread_is_used_only_when_none_has_it() -> None:
    assert choose_cluster([cluster("dev", "aaa", "yyy")], {}, NOW) == "dev"


def test_no_healthy_cluster_is_an_error() -> None:
    with pytest.raises(NoHealthyCluster):
        choose_cluster(
            [cluster("c1", "abc", "nnn"), cluster("c2", "abc", "yyy", draining=True)], {}, NOW
        )

"""The clusters' view (clusters.py): health from the nodes' answers, lag, one shared snapshot."""

from __future__ import annotations

from typing import Any

from raftq.common.clock import FakeClock
from raftq.frontend.dashboard.clusters import MAX_AGE_MS, ClusterView, group_row

MEMBERS = [("10.0.0.1:1", "n1", "a"), ("10.0.0.2:1", "n2", "b"), ("10.0.0.3:1", "n3", "c")]


def status(*, leader: bool, commit: int, applied: int, term: int = 4) -> dict[str, Any]:
    return {"is_leader": leader, "term": term, "commit_index": commit, "last_applied": applied}


def test_a_group_whose_nodes_all_answer_with_a_leader_is_healthy_and_lag_is_behind_its_commit() -> (
    None
):
    row = group_row(
        "c1",
        MEMBERS,
        [
            status(leader=True, commit=100, applied=100),
            status(leader=False, commit=98, applied=97),
            status(leader=False, commit=100, applied=100),
        ],
    )
    assert (row.health, row.leader, row.term) == ("healthy", "n1", 4)
    assert [n.lag for n in row.nodes] == [0, 3, 0]
    assert [n.zone for n in row.nodes] == ["a", "b", "c"]


def test_a_silent_node_degrades_the_group_and_no_leader_makes_it_down() -> None:
    degraded = group_row(
        "c1",
        MEMBERS,
        [status(leader=True, commit=5, applied=5), None, status(leader=False, commit=5, applied=5)],
    )
    assert degraded.health == "degraded" and degraded.nodes[1].role == "unreachable"
    down = group_row("c1", MEMBERS, [None, status(leader=False, commit=5, applied=5), None])
    assert down.health == "down" and down.leader is None
    assert down.nodes[1].lag is None  # no leader's commit index to measure against


async def test_every_viewer_shares_one_snapshot_refreshed_at_most_every_two_seconds() -> None:
    # Given the view of one cluster of three nodes
    clock = FakeClock()
    asked: list[str] = []
    catalogue = {
        "clusters": [
            {
                "cluster_id": "c1",
                "members": [
                    {"api_address": address, "node_id": node, "zone": zone}
                    for address, node, zone in MEMBERS
                ],
                "draining": False,
                "reports": {"n1": {"reported_at_ms": clock.now_ms(), "messages": 7, "queues": 2}},
            }
        ]
    }

    async def read_catalogue() -> dict[str, Any]:
        return catalogue

    async def status_of(address: str) -> dict[str, Any] | None:
        asked.append(address)
        return status(leader=address == "10.0.0.1:1", commit=1, applied=1)

    view = ClusterView(read_catalogue, ["10.0.0.9:1"], status_of, clock)
    # When many dashboards ask within two seconds
    for _ in range(100):
        snapshot = await view.snapshot()
        clock.advance(MAX_AGE_MS // 100 - 1)
    # Then each node was asked once, and the snapshot holds the metadata group and the cluster
    assert len(asked) == 4
    assert [g.group for g in snapshot.groups] == ["metadata", "c1"]
    assert (snapshot.groups[1].queues, snapshot.groups[1].messages) == (2, 7)
    # And once two seconds passed, the next viewer gets a fresh one
    clock.advance(MAX_AGE_MS)
    await view.snapshot()
    assert len(asked) == 8

"""The metadata group's record of a backend cluster's members after a membership change of
its Raft group (`raftq admin members`), and registrations by members started before it."""

from __future__ import annotations

from raftq.common.metadata_commands import RegisterCluster, ReportLoad, SetClusterMembers
from raftq.common.metadata_models import ClusterMember
from raftq.common.metadata_results import ClusterResult
from raftq.common.results import Done, Failure
from tests.unit.metadata.test_metadata_state_machine import Metadata


def member(node_id: str, i: int) -> ClusterMember:
    return ClusterMember(
        node_id=node_id,
        zone="abcd"[i % 4],
        raft_address=f"10.0.0.{i}:7000",
        api_address=f"10.0.0.{i}:8000",
    )


ORIGINAL = (member("c1-a", 0), member("c1-b", 1), member("c1-c", 2))
REPLACED = (member("c1-a", 0), member("c1-c", 2), member("c1-d", 3))


def registered() -> Metadata:
    metadata = Metadata()
    result = metadata.run(
        RegisterCluster(now_ms=1, actor="c1-a", cluster_id="c1", members=ORIGINAL)
    )
    assert isinstance(result, ClusterResult)
    for node in ("c1-a", "c1-b"):
        report = ReportLoad(
            now_ms=2, actor=node, cluster_id="c1", node_id=node, messages=1, queues=1
        )
        assert isinstance(metadata.run(report), Done)
    return metadata


def set_members(metadata: Metadata, members: tuple[ClusterMember, ...]) -> object:
    return metadata.run(SetClusterMembers(now_ms=3, actor="ops", cluster_id="c1", members=members))


def test_a_replaced_member_is_recorded_and_its_reports_are_dropped() -> None:
    metadata = registered()
    result = set_members(metadata, REPLACED)
    assert isinstance(result, ClusterResult)
    assert result.cluster.members == REPLACED
    assert set(result.cluster.reports) == {"c1-a"}  # c1-b is gone
    # The new member now reports
    report = ReportLoad(
        now_ms=4, actor="c1-d", cluster_id="c1", node_id="c1-d", messages=0, queues=0
    )
    assert isinstance(metadata.run(report), Done)


def test_a_member_restarted_with_its_first_flags_keeps_the_record() -> None:
    metadata = registered()
    set_members(metadata, REPLACED)
    again = metadata.run(RegisterCluster(now_ms=5, actor="c1-a", cluster_id="c1", members=ORIGINAL))
    assert isinstance(again, ClusterResult) and again.cluster.members == REPLACED


def test_a_stranger_registering_other_members_is_refused() -> None:
    metadata = registered()
    stranger = metadata.run(
        RegisterCluster(now_ms=5, actor="x-1", cluster_id="c1", members=(member("x-1", 9),))
    )
    assert isinstance(stranger, Failure) and "other members" in stranger.message


def test_bad_member_records_are_refused_and_change_nothing() -> None:
    metadata = registered()
    twice = set_members(metadata, (member("c1-a", 0), member("c1-a", 1)))
    assert isinstance(twice, Failure) and twice.field == "members"
    unknown = metadata.run(
        SetClusterMembers(now_ms=3, actor="ops", cluster_id="c9", members=ORIGINAL)
    )
    assert isinstance(unknown, Failure) and "c9" in unknown.message
    kept = metadata.run(RegisterCluster(now_ms=6, actor="c1-a", cluster_id="c1", members=ORIGINAL))
    assert isinstance(kept, ClusterResult) and kept.cluster.members == ORIGINAL

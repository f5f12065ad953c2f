"""The metadata leader's gate for commands of this release (metadata/command_gate.py): a
restore's CreateQueue (with its source's data keys or sealing identity) is refused, retryably,
while the group agrees on a lower command level; every other command passes at any level."""

from __future__ import annotations

import pytest

from raftq.common.errors import PeerError, UpgradeInProgress
from raftq.common.metadata_commands import CreateQueue, SetClusterMembers
from raftq.common.metadata_models import ClusterMember, DataKey, Placement
from raftq.metadata.command_gate import check_level, level_required

PLACEMENT = Placement(cluster_id="c1", epoch=1)
NEW_QUEUE = CreateQueue(now_ms=1, actor="alice", queue_id="q1", name="orders", placement=PLACEMENT)
RESTORED = [
    NEW_QUEUE.model_copy(update={"sealing_id": "source-queue"}),
    NEW_QUEUE.model_copy(
        update={"data_keys": (DataKey(version=1, master_key_id="m1", wrapped=b"k"),)}
    ),
]


@pytest.mark.parametrize("agreed", [None, 2, 3])
def test_a_new_queue_is_created_at_any_level(agreed: int | None) -> None:
    assert level_required(NEW_QUEUE) == 2
    check_level(NEW_QUEUE, agreed)


@pytest.mark.parametrize("command", RESTORED, ids=["sealing id", "data keys"])
@pytest.mark.parametrize("agreed", [None, 2])
def test_a_restored_queue_is_refused_while_a_member_runs_the_release_before(
    command: CreateQueue, agreed: int | None
) -> None:
    # Given a group whose agreed level is below 3 (or not known yet)
    # When the leader is asked to create a restored queue, then it refuses, retryably
    with pytest.raises(UpgradeInProgress, match="needs command level 3") as refused:
        check_level(command, agreed)
    assert isinstance(refused.value, PeerError)


@pytest.mark.parametrize("command", RESTORED, ids=["sealing id", "data keys"])
def test_a_restored_queue_is_created_once_every_member_runs_this_release(
    command: CreateQueue,
) -> None:
    assert level_required(command) == 3
    check_level(command, 3)


def test_a_cluster_members_record_waits_for_every_member_to_run_this_release() -> None:
    record = SetClusterMembers(
        now_ms=0,
        actor="ops",
        cluster_id="c1",
        members=(ClusterMember(node_id="a", zone="a", raft_address="h:1", api_address="h:2"),),
    )
    with pytest.raises(UpgradeInProgress, match="set_cluster_members"):
        check_level(record, 2)
    check_level(record, 3)

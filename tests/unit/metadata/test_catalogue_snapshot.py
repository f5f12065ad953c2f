"""Tags, redrive allow policies, labelled grants and message move tasks survive a snapshot, and
appear in the catalogue JSON frontends read."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import cast

import msgpack
import pytest

from raftq.common.errors import CorruptState
from raftq.common.metadata_commands import (
    ActivateQueue,
    AddLabelledGrants,
    CreatePrincipal,
    SetRedriveAllowPolicy,
    StartMessageMoveTask,
    TagQueue,
)
from raftq.common.metadata_models import Grant, MessageMoveTask, Queue, RedriveAllowPolicy
from raftq.metadata.node import MetadataNode
from raftq.metadata.raft_machine import MetadataRaftMachine
from raftq.metadata.state import MetadataState
from tests.unit.metadata.test_metadata_state_machine import Metadata


@pytest.fixture
def metadata() -> Metadata:
    """`dlq` (byQueue orders) and `orders` (tagged), a labelled grant and a running move task."""
    m = Metadata()
    m.register()
    now = m.now_ms
    for i, name in enumerate(("dlq", "orders")):
        m.create(name, f"q-{i}")
        m.run(ActivateQueue(now_ms=now, actor="alice", name=name, queue_id=f"q-{i}"))
    m.run(TagQueue(now_ms=now, actor="alice", name="orders", tags={"team": "a", "env": ""}))
    policy = RedriveAllowPolicy(permission="byQueue", source_queues=("orders",))
    m.run(SetRedriveAllowPolicy(now_ms=now, actor="alice", name="dlq", policy=policy))
    m.run(CreatePrincipal(now_ms=now, actor="root", principal_id="app"))
    grant = Grant(principal_id="app", queues="orders", actions=("send",), label="p1")
    m.run(AddLabelledGrants(now_ms=now, actor="alice", queue="orders", label="p1", grants=(grant,)))
    m.run(
        StartMessageMoveTask(
            now_ms=now,
            actor="alice",
            task_handle="t1",
            source_queue="dlq",
            destination_queue="orders",
            to_move=7,
        )
    )
    return m


def test_a_snapshot_round_trips_the_new_records(metadata: Metadata) -> None:
    state = metadata.machine.state
    restored = MetadataState.from_bytes(state.to_bytes())
    assert restored.to_bytes() == state.to_bytes()
    assert restored.queues["orders"].tags == {"env": "", "team": "a"}
    assert restored.queues["dlq"].redrive_allow == state.queues["dlq"].redrive_allow
    assert [g.label for g in restored.grants] == ["p1"]
    assert restored.move_tasks == state.move_tasks and restored.move_tasks["t1"].to_move == 7


def test_a_version_1_snapshot_reads_as_one_without_move_tasks() -> None:
    m = Metadata()
    m.register()
    m.create("orders", "q-1")
    data = msgpack.unpackb(m.machine.state.to_bytes(), raw=False)
    del data["move_tasks"]
    data["v"] = 1
    restored = MetadataState.from_bytes(msgpack.packb(data, use_bin_type=True))
    assert restored.move_tasks == {} and restored.queues["orders"].tags == {}
    data["v"] = 2  # a version 2 snapshot must have them
    with pytest.raises(CorruptState):
        MetadataState.from_bytes(msgpack.packb(data, use_bin_type=True))


def test_the_catalogue_lists_move_tasks_and_the_new_fields_as_json(metadata: Metadata) -> None:
    raft_machine = MetadataRaftMachine()
    raft_machine.machine = metadata.machine
    node = cast(MetadataNode, SimpleNamespace(machine=raft_machine))
    catalogue = json.loads(json.dumps(MetadataNode.snapshot_of_state(node)))
    # Frontends read records back the way they read queues (model_validate_json).
    tasks = [MessageMoveTask.model_validate_json(json.dumps(t)) for t in catalogue["move_tasks"]]
    assert tasks == [metadata.machine.state.move_tasks["t1"]]
    queues = {q["name"]: Queue.model_validate_json(json.dumps(q)) for q in catalogue["queues"]}
    assert queues == metadata.machine.state.queues
    assert catalogue["grants"][0]["label"] == "p1"

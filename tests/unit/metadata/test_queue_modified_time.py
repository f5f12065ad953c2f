"""A queue keeps when its attributes last changed (SQS's LastModifiedTimestamp), and records
written before it kept it read as unchanged since their creation."""

from __future__ import annotations

import json

from raftq.common.metadata_commands import (
    ActivateQueue,
    SetQueueAttributes,
    SetRedriveAllowPolicy,
)
from raftq.common.metadata_models import Queue, RedriveAllowPolicy
from raftq.common.queue_attributes import QueueAttributes
from raftq.metadata.state import MetadataState
from tests.unit.metadata.test_metadata_state_machine import Metadata

LATER = 1_700_000_500_000


def _metadata() -> Metadata:
    m = Metadata()
    m.register()
    m.create("orders", "q-1")
    m.run(ActivateQueue(now_ms=m.now_ms, actor="alice", name="orders", queue_id="q-1"))
    return m


def test_a_new_queue_was_last_modified_when_created() -> None:
    queue = _metadata().machine.state.queues["orders"]
    assert queue.modified_at_ms is None
    assert queue.attributes_changed_at_ms == queue.created_at_ms


def test_setting_attributes_or_the_redrive_allow_policy_stamps_the_time() -> None:
    m = _metadata()
    attributes = QueueAttributes(visibility_timeout_ms=45_000)
    m.run(SetQueueAttributes(now_ms=LATER, actor="alice", name="orders", attributes=attributes))
    assert m.machine.state.queues["orders"].attributes_changed_at_ms == LATER
    policy = RedriveAllowPolicy(permission="denyAll")
    m.run(SetRedriveAllowPolicy(now_ms=LATER + 1, actor="alice", name="orders", policy=policy))
    assert m.machine.state.queues["orders"].attributes_changed_at_ms == LATER + 1


def test_records_and_snapshots_from_before_read_their_creation_time() -> None:
    m = _metadata()
    queue = m.machine.state.queues["orders"]
    old = json.loads(queue.model_dump_json())
    old.pop("modified_at_ms")  # as written before the field existed
    decoded = Queue.model_validate_json(json.dumps(old))
    assert decoded.attributes_changed_at_ms == queue.created_at_ms
    snapshot = m.machine.state.to_bytes()
    assert MetadataState.from_bytes(snapshot).queues["orders"] == queue

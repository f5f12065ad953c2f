"""A restored queue's catalogue record (metadata/queue_restore.py): its sealing identity and
data keys survive the metadata snapshot, and every other queue's record encodes as before."""

from __future__ import annotations

from raftq.common import codec
from raftq.common.metadata_commands import CreateQueue
from raftq.common.metadata_models import DataKey, Placement, Queue, RetiredQueue
from raftq.common.queue_attributes import QueueAttributes
from raftq.metadata.state import MetadataState

KEY = DataKey(version=1, master_key_id="k1", wrapped=b"\x01" + bytes(60))


def queue(**fields: object) -> Queue:
    return Queue.model_validate(
        {
            "queue_id": "q-new",
            "name": "orders-restored",
            "owner": "admin",
            "fifo": False,
            "attributes": QueueAttributes(),
            "placement": Placement(cluster_id="c1", epoch=1),
            "lifecycle": "active",
            "created_at_ms": 1,
            **fields,
        }
    )


def test_a_restored_queue_seals_under_its_source_id_across_a_snapshot() -> None:
    restored = queue(data_keys=(KEY,), sealing_id="q-source")
    state = MetadataState(queues={restored.name: restored})
    again = MetadataState.from_bytes(state.to_bytes()).queues[restored.name]
    assert again.sealing_identity == "q-source" and again.data_keys == (KEY,)
    assert codec.decode(codec.encode(restored), Queue).sealing_identity == "q-source"


def test_any_other_queue_seals_under_its_own_id_and_encodes_as_before() -> None:
    plain = queue()
    assert plain.sealing_identity == "q-new"
    assert "sealing_id" not in plain.model_dump(mode="json")
    retired = RetiredQueue(queue_id="q-new", name="x", data_keys=(KEY,), retired_at_ms=1)
    assert retired.sealing_identity == "q-new"
    create = CreateQueue(
        now_ms=0,
        actor="a",
        queue_id="q-new",
        name="x",
        placement=Placement(cluster_id="c1", epoch=1),
    )
    assert {"data_keys", "sealing_id"}.isdisjoint(create.model_dump())

"""Handlers of queues' data keys: adding one, rewrapping one under another master key, and
keeping a deleted queue's keys while its dead-lettered messages may still need them."""

from __future__ import annotations

from raftq.common import limits
from raftq.common.errors import InvalidParameter, QueueNotFound
from raftq.common.metadata_commands import AddDataKey, RewrapDataKey
from raftq.common.metadata_models import Queue, RetiredQueue
from raftq.common.metadata_results import QueueResult
from raftq.common.results import Done
from raftq.metadata.state import MetadataState


def existing_queue(state: MetadataState, name: str, queue_id: str) -> Queue:
    queue = state.queues.get(name)
    if queue is None or queue.queue_id != queue_id:
        raise QueueNotFound(f"queue {name!r} does not exist", field="name")
    return queue


def add_data_key(state: MetadataState, c: AddDataKey) -> QueueResult:
    queue = existing_queue(state, c.name, c.queue_id)
    if any(key.version == c.key.version for key in queue.data_keys):
        return QueueResult(queue=queue, changed=False)  # another frontend was first
    queue = queue.model_copy(update={"data_keys": (*queue.data_keys, c.key)})
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def retire(state: MetadataState, queue: Queue, now_ms: int) -> None:
    """Keep a deleted queue's data keys (its dead-lettered messages may live on in another
    queue), and forget those retired longer ago than any message can be kept."""
    if queue.data_keys:
        state.retired[queue.queue_id] = RetiredQueue(
            queue_id=queue.queue_id,
            name=queue.name,
            data_keys=queue.data_keys,
            retired_at_ms=now_ms,
            sealing_id=queue.sealing_id,
        )
    for queue_id, retired in list(state.retired.items()):
        if retired.retired_at_ms + limits.RETENTION_MAX_MS < now_ms:
            del state.retired[queue_id]


def rewrap_data_key(state: MetadataState, c: RewrapDataKey) -> QueueResult | Done:
    retired = state.retired.get(c.queue_id)
    live = state.queues.get(c.name)
    if (
        retired is not None
        and retired.name == c.name
        and (live is None or live.queue_id != c.queue_id)
    ):
        if not any(key.version == c.key.version for key in retired.data_keys):
            raise InvalidParameter(f"queue {c.name!r} had no data key {c.key.version}", field="key")
        keys = tuple(c.key if k.version == c.key.version else k for k in retired.data_keys)
        state.retired[c.queue_id] = retired.model_copy(update={"data_keys": keys})
        return Done()
    queue = existing_queue(state, c.name, c.queue_id)
    if not any(key.version == c.key.version for key in queue.data_keys):
        raise InvalidParameter(f"queue {c.name!r} has no data key {c.key.version}", field="key")
    keys = tuple(c.key if key.version == c.key.version else key for key in queue.data_keys)
    queue = queue.model_copy(update={"data_keys": keys})
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)

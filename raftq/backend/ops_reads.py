"""Reads through the log: linearizable counts and message status."""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.queue_state import QueueState
from raftq.backend.records import QueueRecord, ReplicaStatus
from raftq.backend.views import stats_of, status_of
from raftq.common.commands import GetMessageStatus, GetQueueStats, ListQueues
from raftq.common.results import MessageStatus, QueueList, QueueStats


def get_queue_stats(ctx: ApplyContext, command: GetQueueStats) -> QueueStats:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    return stats_of(queue)


def get_message_status(ctx: ApplyContext, command: GetMessageStatus) -> MessageStatus:
    queue = QueueState.load(ctx.txn, command.queue, ctx.now_ms, ctx.advanced)
    queue.advance(ctx.budget)
    return status_of(queue, command.message_id)


def list_queues(ctx: ApplyContext, command: ListQueues) -> QueueList:
    start = keys.QUEUE
    records = (QueueRecord.unpack(raw) for _, raw in ctx.txn.scan(start, keys.prefix_end(start)))
    served = (r.queue_id for r in records if r.status == ReplicaStatus.SERVING)
    return QueueList(queue_ids=tuple(served))

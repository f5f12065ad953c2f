"""Expire: the leader's periodic sweep over every queue, bounded per command.

Correctness never waits for it (each queue command advances its own queue first); it bounds how
long expired messages and records occupy disk on queues nobody touches.
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.queue_state import QueueState
from raftq.backend.records import QueueRecord, ReplicaStatus
from raftq.common.commands import Expire
from raftq.common.results import ExpireResult


def expire(ctx: ApplyContext, command: Expire) -> ExpireResult:
    start = keys.QUEUE
    scanned = (QueueRecord.unpack(raw) for _, raw in ctx.txn.scan(start, keys.prefix_end(start)))
    # A fenced replica stays frozen for the copy; an importing one is not whole yet.
    records = [record for record in scanned if record.status == ReplicaStatus.SERVING]
    transitions = 0
    for record in records:
        queue = QueueState(ctx.txn, record, ctx.now_ms, ctx.advanced)
        done, more = queue.advance(command.max_transitions - transitions)
        transitions += done
        if more:
            return ExpireResult(transitions=transitions, more=True)
    return ExpireResult(transitions=transitions, more=False)

"""Expire: the leader's periodic sweep over every queue, bounded per command.

Every queue command advances its own queue first, but only within the entry's budget of due
transitions (work_budget.py), and a queue nobody touches is advanced by nobody else: these
sweeps do the rest. One sweep makes at most `max_transitions`, and no more than its entry has
left; its result says `more` when it stopped for that, and the leader then proposes the next
one at once, each its own entry, until one finishes (backend/node.py `_expire_loop`), so a mass
transition is worked off at full speed with heartbeats going out between entries. No promise
waits for a sweep (queue_state.py): they bound how long counts lag after a mass transition and
how long expired messages and records occupy disk.
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.queue_state import QueueState
from raftq.backend.records import QueueRecord, ReplicaStatus
from raftq.backend.work_budget import WorkBudget
from raftq.common.commands import Expire
from raftq.common.results import ExpireResult


def expire(ctx: ApplyContext, command: Expire) -> ExpireResult:
    start = keys.QUEUE
    scanned = (QueueRecord.unpack(raw) for _, raw in ctx.txn.scan(start, keys.prefix_end(start)))
    # A fenced replica stays frozen for the copy; an importing one is not whole yet.
    records = [record for record in scanned if record.status == ReplicaStatus.SERVING]
    budget = WorkBudget(min(command.max_transitions, ctx.budget.left))
    transitions, more = 0, False
    for record in records:
        queue = QueueState(ctx.txn, record, ctx.now_ms, ctx.advanced)
        done, more = queue.advance(budget)
        transitions += done
        if more:
            break
    ctx.budget.spend(transitions)
    return ExpireResult(transitions=transitions, more=more)

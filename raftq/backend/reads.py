"""Local reads of applied state: counts, message status, the list of queues.

A read happens at a time (`now_ms`, at least the state clock). It performs the transitions due
at that time in a scratch layer that is thrown away, so counts are exact for that moment without
writing anything: a read never changes replicated state. It makes at most one entry's budget of
them (limits.DUE_TRANSITIONS_PER_ENTRY), as it runs under the machine's lock (metrics and load
reports read every queue's counts): beyond that, counts are those of the queue as advanced
(queue_state.py). A node serving clients reads through the log instead (GetQueueStats,
GetMessageStatus): these local reads are for tests, tools, metrics and load reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftq.backend import keys
from raftq.backend.queue_state import QueueState
from raftq.backend.records import QueueRecord, ReplicaStatus
from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.txn import Txn
from raftq.backend.views import stats_of, status_of
from raftq.backend.work_budget import WorkBudget
from raftq.common import limits
from raftq.common.results import MessageStatus, QueueStats


def _queue_at(machine: QueueStateMachine, queue_id: str, now_ms: int) -> QueueState:
    scratch = Txn(machine.store)
    queue = QueueState.load(scratch, queue_id, max(now_ms, machine.clock_ms))
    queue.advance(WorkBudget(limits.DUE_TRANSITIONS_PER_ENTRY))
    return queue


@dataclass(frozen=True, slots=True)
class QueueGauges:
    queue_id: str
    stats: QueueStats


def queue_gauges(machine: QueueStateMachine) -> list[QueueGauges]:
    """Counts of every served queue at the state clock, with its oldest message's send time."""
    gauges = []
    for record in list_queues(machine):
        if record.status != ReplicaStatus.SERVING:
            continue
        queue = _queue_at(machine, record.queue_id, machine.clock_ms)
        gauges.append(QueueGauges(record.queue_id, stats_of(queue)))
    return gauges


def queue_stats(machine: QueueStateMachine, queue_id: str, now_ms: int) -> QueueStats:
    return stats_of(_queue_at(machine, queue_id, now_ms))


def message_status(
    machine: QueueStateMachine, queue_id: str, message_id: str, now_ms: int
) -> MessageStatus:
    return status_of(_queue_at(machine, queue_id, now_ms), message_id)


def next_due_ms(machine: QueueStateMachine) -> int | None:
    """The earliest time anything of a served queue falls due (a delay ends, a lease runs
    out, a message's retention or a dedup/attempt/status record expires), or None. The leader
    proposes an expiry sweep only once this time has come, so an idle cluster writes nothing."""
    due: list[int] = []
    for record in list_queues(machine):
        if record.status != ReplicaStatus.SERVING:
            continue
        for prefix, shift in (
            (keys.DELAYED, 0),
            (keys.IN_FLIGHT, 0),
            (keys.EXPIRY, 0),
            (keys.RETENTION, record.attributes.retention_ms),
        ):
            first = next(iter(machine.store.scan(*keys.family_range(prefix, record.qnum))), None)
            if first is not None:
                due.append(keys.read_u64(first[0], len(prefix) + 4) + shift)
    return min(due, default=None)


def list_queues(machine: QueueStateMachine) -> list[QueueRecord]:
    start = keys.QUEUE
    return [QueueRecord.unpack(raw) for _, raw in machine.store.scan(start, keys.prefix_end(start))]

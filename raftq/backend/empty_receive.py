"""The receive that would find nothing: answered from applied state, without a log entry.

`empty_receive` says what a `ReceiveMessages` applied at `now_ms` would return when applying it
would hand out nothing and decide nothing; otherwise None, and the receive goes through the log.
It is pure (reads only the `Store` under the state machine) and is called by the leader, under
the machine's lock, after its leadership was confirmed (receives.py).

Only this case is answered here, because it writes nothing a replica must agree on:
- no message is visible to this receive (none at all, or, on a FIFO queue, only in groups that
  are locked): so no lease, no receipt handle and no dead-letter move would be made;
- no delay or visibility timeout has ended by `now_ms`: otherwise the receive must make those
  messages visible first;
- the attempt id, if any, names no stored attempt: a retried attempt replays its messages
  through the log, as it always did;
- the queue is below the in-flight limit (the log answers that case with its error);
- the queue exists and is served here (the log gives the error otherwise).
Retention and the expiry of dedup, attempt and status records may be due: they are performed in
a scratch layer that is thrown away (as reads.py does), so the answer is the one the log would
give, and the expiry sweep of the leader writes them.
"""

from __future__ import annotations

from raftq.backend import keys
from raftq.backend.queue_state import QueueState
from raftq.backend.records import ReplicaStatus
from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.txn import Txn
from raftq.backend.work_budget import WorkBudget
from raftq.common import limits
from raftq.common.commands import ReceiveMessages
from raftq.common.results import ReceiveResult

# Due transitions performed in the scratch layer before giving up and using the log: a queue
# with more due than one chunk of work (queue_state._CHUNK) is rare and worth a real entry.
ADVANCE_BUDGET = 256


def empty_receive(
    machine: QueueStateMachine, command: ReceiveMessages, now_ms: int
) -> ReceiveResult | None:
    scratch = Txn(machine.store)
    at_ms = max(now_ms, machine.clock_ms)  # as apply would: state time never goes back
    queue = QueueState.find(scratch, command.queue, at_ms)
    if queue is None or queue.record.status != ReplicaStatus.SERVING:
        return None
    if queue.visible_candidates(1):
        # The common case of a receive that finds messages, decided with one scan: any visible
        # message (whatever `advance` would do to it) sends the receive through the log.
        return None
    attempt_id = command.attempt_id
    if attempt_id is not None and scratch.get(keys.attempt_key(queue.qnum, attempt_id)) is not None:
        return None  # a known attempt: the log replays what it handed out
    next_visible_at_ms = queue.next_visible_at_ms()
    if next_visible_at_ms is not None and next_visible_at_ms <= at_ms:
        return None  # a delay or a lease has ended: the receive must make it visible
    _, more = queue.advance(WorkBudget(ADVANCE_BUDGET))
    if more or queue.counters.in_flight >= limits.INFLIGHT_MAX:
        return None
    if queue.visible_candidates(1):
        return None
    return ReceiveResult(messages=(), next_visible_at_ms=queue.next_visible_at_ms())

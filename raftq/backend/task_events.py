"""What happened to tasks in an applied entry, for the node's task metrics (task_metrics.py).

Command handlers note events in their `Txn` layer as they make the transitions (ops_tasks.py,
task_records.on_removed); a command that fails drops its layer and its events with it, one that
succeeds merges both into the entry's, so the events of an entry are exactly the transitions it
applied. The state machine hands them on after the entry's WriteBatch is committed. Pure values:
the notes change nothing replicated (no key, no digest)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TaskEventKind(enum.Enum):
    STARTED = "started"  # leased to a worker for an attempt
    RETRIED = "retried"  # an attempt reported a failure with attempts left
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # no attempts left and no dead-letter queue
    DEAD = "dead"  # moved to its dead-letter queue
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # its message outlived the queue's retention


@dataclass(frozen=True, slots=True)
class TaskEvent:
    queue_id: str
    task_type: str
    kind: TaskEventKind
    # From the start of the attempt that ended here to its end (the task record's times); None
    # when no attempt ended (a start, a cancel, an expiry, a task never started).
    duration_ms: int | None = None

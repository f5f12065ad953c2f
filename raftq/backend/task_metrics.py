"""Task counters and attempt durations of one backend replica, from the task events of the
entries it applies (task_events.py).

Every replica counts what it applies, and all apply the same entries, so the replicas of a
cluster count alike: aggregate them with `max` over the cluster's nodes, never `sum` (the
recording rules in deploy/prometheus/ do). Counting on every replica rather than only on the
leader keeps the count whole across leader changes: an entry is counted by each replica that
applies it, whoever led when it committed. A replica that installs a snapshot skips the
entries it covers, and a restarted one starts from zero as any Prometheus counter does; `max`
of `rate()` over the replicas stays exact while one replica applied every entry of the window.

Kept by queue id (the state machine knows no names); the collector (metrics.py) labels them
with queue names at scrape time."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from raftq.backend.task_events import TaskEvent, TaskEventKind

# Task attempts run from milliseconds to the longest time limit (hours): 5 ms to 1 h.
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
_OUTCOMES = frozenset(TaskEventKind) - {TaskEventKind.STARTED, TaskEventKind.RETRIED}


class TaskMetrics:
    def __init__(self) -> None:
        labels = ["queue", "task_type"]
        self.started = Counter(
            "raftq_tasks_started", "Task attempts started (leased)", labels, registry=None
        )
        self.retried = Counter(
            "raftq_tasks_retried",
            "Task attempts that reported a failure and will be retried",
            labels,
            registry=None,
        )
        self.finished = Counter(
            "raftq_tasks_finished",
            "Tasks that ended, by outcome: succeeded, failed, dead, cancelled, expired",
            [*labels, "outcome"],
            registry=None,
        )
        self.duration = Histogram(
            "raftq_task_duration_seconds",
            "From an attempt's start to its end, by how it ended: succeeded, failed, dead, retried",
            [*labels, "outcome"],
            buckets=DURATION_BUCKETS_S,
            registry=None,
        )
        self.queue_ids: set[str] = set()

    def observe(self, events: Sequence[TaskEvent]) -> None:
        """The task events of one applied entry (on the applying thread)."""
        for event in events:
            self.queue_ids.add(event.queue_id)
            labels = (event.queue_id, event.task_type)
            if event.kind is TaskEventKind.STARTED:
                self.started.labels(*labels).inc()
            elif event.kind is TaskEventKind.RETRIED:
                self.retried.labels(*labels).inc()
            if event.kind in _OUTCOMES:
                self.finished.labels(*labels, event.kind.value).inc()
            if event.duration_ms is not None:
                seconds = event.duration_ms / 1000
                self.duration.labels(*labels, event.kind.value).observe(seconds)

    def families(self) -> tuple[Counter | Histogram, ...]:
        return (self.started, self.retried, self.finished, self.duration)

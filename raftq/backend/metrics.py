"""Prometheus metrics of a backend node, read at scrape time (one registry per node).

Per-queue series are labelled with the queue's name (queue_names.py), the cluster and the node.
Each replica reports its own applied state: the leader's numbers are exact at its applied index,
a follower's trail by its commit lag, so rules take the `max` over a cluster's replicas."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from raftq.backend.node import BackendNode
from raftq.backend.queue_names import QueueNames
from raftq.raft.raft_metrics import RaftCollector, relabelled

# SQS's CloudWatch split of a queue's messages (ApproximateNumberOfMessagesVisible, …NotVisible,
# …Delayed), and raftq's dead letters waiting for a dead-letter queue on another cluster.
STATES = ("visible", "not_visible", "delayed", "dead_letter_pending")


def cluster_of(node: BackendNode) -> str:
    return node.settings.cluster_id or node.settings.node_id


class _NodeCollector(Collector):
    def __init__(self, node: BackendNode, names: QueueNames) -> None:
        self._node, self._names = node, names

    def collect(self) -> Iterator[Metric]:
        node = self._node
        labels = ["cluster", "node"]
        me = [cluster_of(node), node.settings.node_id]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=labels)
            family.add_metric(me, value)
            return family

        stats = node.committer.stats
        proposals = CounterMetricFamily(
            "raftq_group_commit_entries", "Entries proposed", labels=labels
        )
        proposals.add_metric(me, stats.proposals)
        yield proposals
        commands = CounterMetricFamily(
            "raftq_group_commit_commands", "Commands proposed", labels=labels
        )
        commands.add_metric(me, stats.commands)
        yield commands
        recent = stats.batch_sizes
        yield gauge(
            "raftq_group_commit_batch_size_recent",
            "Mean commands per entry over the last 1000 entries",
            sum(recent) / len(recent) if recent else 0,
        )
        yield gauge(
            "raftq_long_poll_waiting", "Receives waiting in a long poll", node.waiters.waiting
        )
        receives = CounterMetricFamily(
            "raftq_receives",
            "Receives by how they were answered: from_state (empty, no log entry), through_log,"
            " unconfirmed (empty, but leadership was not confirmed: through the log), rode_along"
            " (a long poll's receive proposed in the entry that woke it)",
            labels=[*labels, "answered"],
        )
        receive_stats = node.receiver.stats
        receives.add_metric([*me, "from_state"], receive_stats.answered_from_state)
        receives.add_metric([*me, "through_log"], receive_stats.through_log)
        receives.add_metric([*me, "unconfirmed"], receive_stats.unconfirmed)
        receives.add_metric([*me, "rode_along"], receive_stats.rode_along)
        yield receives
        yield from self._queues(labels, me)
        yield from self._tasks(dict(zip(labels, me, strict=True)))

    def _queues(self, labels: list[str], me: list[str]) -> Iterator[Metric]:
        node = self._node
        depth = GaugeMetricFamily(
            "raftq_queue_messages",
            "Messages per queue and state (visible, not_visible: in flight, delayed,"
            " dead_letter_pending), exact at this replica's applied index",
            labels=[*labels, "queue", "state"],
        )
        age = GaugeMetricFamily(
            "raftq_queue_oldest_message_age_seconds",
            "Age of the oldest message the queue holds, in any state (0 when empty)",
            labels=[*labels, "queue"],
        )
        now_ms = max(node.clock.now_ms(), node.machine.machine.clock_ms)
        for gauges in node.machine.queue_gauges():
            queue = [*me, self._names.name(gauges.queue_id)]
            counts = gauges.stats
            for state, value in zip(
                STATES,
                (counts.visible, counts.in_flight, counts.delayed, counts.dead_letter_pending),
                strict=True,
            ):
                depth.add_metric([*queue, state], value)
            sent_at_ms = gauges.stats.oldest_sent_at_ms
            age.add_metric(queue, 0 if sent_at_ms is None else max(0, now_ms - sent_at_ms) / 1000)
        yield depth
        yield age

    def _tasks(self, labels: dict[str, str]) -> Iterator[Metric]:
        """The task metrics, their queue ids replaced by names (samples of two ids of one name,
        a queue made again, are added up)."""
        for family in self._node.task_metrics.families():
            for metric in family.collect():
                named: dict[tuple[str, tuple[tuple[str, str], ...]], Sample] = {}
                sums: defaultdict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(
                    float
                )
                for sample in metric.samples:
                    sample_labels = {
                        **sample.labels,
                        "queue": self._names.name(sample.labels["queue"]),
                    }
                    key = (sample.name, tuple(sorted(sample_labels.items())))
                    sums[key] += sample.value
                    named[key] = sample._replace(labels=sample_labels)
                metric.samples = [named[key]._replace(value=sums[key]) for key in named]
                yield relabelled(metric, labels)


def node_registry(node: BackendNode, names: QueueNames) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_NodeCollector(node, names))
    registry.register(RaftCollector(node.raft, cluster_of(node), node.settings.node_id))
    return registry


def queue_ids(node: BackendNode) -> set[str]:
    """Every queue id the metrics name (for QueueNames.learn)."""
    return set(node.machine.served_queue_ids()) | set(node.task_metrics.queue_ids)


def render(registry: CollectorRegistry) -> bytes:
    rendered: bytes = generate_latest(registry)
    return rendered

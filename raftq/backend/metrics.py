"""Prometheus metrics of a backend node, read at scrape time (one registry per node)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from raftq.backend.node import BackendNode


class _NodeCollector(Collector):
    def __init__(self, node: BackendNode) -> None:
        self._node = node

    def collect(self) -> Iterator[Metric]:
        node = self._node
        status = node.raft.status()
        labels = ["node"]
        me = [node.settings.node_id]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=labels)
            family.add_metric(me, value)
            return family

        yield gauge("raftq_raft_term", "Current Raft term", status["term"] or 0)
        yield gauge("raftq_raft_is_leader", "1 on the leader", 1 if status["is_leader"] else 0)
        yield gauge("raftq_raft_commit_index", "Raft commit index", status["commit_index"] or 0)
        yield gauge("raftq_raft_last_applied", "Raft last applied", status["last_applied"] or 0)
        yield gauge(
            "raftq_state_applied_index",
            "Applied index stored with the state",
            status["machine_applied_index"],
        )
        yield gauge("raftq_raft_log_entries", "Entries in the Raft log", status["log_length"] or 0)
        fsyncs = CounterMetricFamily("raftq_journal_fsyncs", "Journal fsyncs", labels=labels)
        fsyncs.add_metric(me, node.raft.journal.fsync_count)
        yield fsyncs
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
            labels=["node", "answered"],
        )
        receive_stats = node.receiver.stats
        receives.add_metric([*me, "from_state"], receive_stats.answered_from_state)
        receives.add_metric([*me, "through_log"], receive_stats.through_log)
        receives.add_metric([*me, "unconfirmed"], receive_stats.unconfirmed)
        receives.add_metric([*me, "rode_along"], receive_stats.rode_along)
        yield receives
        depth = GaugeMetricFamily(
            "raftq_queue_messages", "Messages per queue and state", labels=["queue", "state"]
        )
        for queue, counts in node.machine.depths().items():
            depth.add_metric([queue, "visible"], counts.visible)
            depth.add_metric([queue, "in_flight"], counts.in_flight)
            depth.add_metric([queue, "delayed"], counts.delayed)
            depth.add_metric([queue, "dead_letter_pending"], counts.dead_letter_pending)
        yield depth


def node_registry(node: BackendNode) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_NodeCollector(node))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    rendered: bytes = generate_latest(registry)
    return rendered

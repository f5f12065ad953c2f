"""Prometheus metrics of one Raft member, the same for a metadata node and a backend replica,
read at scrape time from the node's status and its timings (raftq/raft/timings.py).

Every series is labelled `group` (the metadata group, or the backend cluster's id) and `node`,
so rules can compare the members of a group: "no leader" is a group whose members all report
`raftq_raft_is_leader` 0, "replica lagging" a member whose applied index trails the group's
highest commit index."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from raftq.raft.node import RaftNode

ROLES = ("leader", "candidate", "follower")


def relabelled(metric: Metric, labels: Mapping[str, str]) -> Metric:
    """`metric` with `labels` added to every sample (for metrics kept without them)."""
    copy = Metric(metric.name, metric.documentation, metric.type, metric.unit)
    copy.samples = [
        sample._replace(labels={**labels, **sample.labels}) for sample in metric.samples
    ]
    return copy


class RaftCollector(Collector):
    def __init__(self, raft: RaftNode, group: str, node_id: str) -> None:
        self._raft, self._labels = raft, {"group": group, "node": node_id}

    def collect(self) -> Iterator[Metric]:
        status = self._raft.status()
        names, values = list(self._labels), list(self._labels.values())

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=names)
            family.add_metric(values, value)
            return family

        commit_index = status["commit_index"] or 0
        applied_index = status["machine_applied_index"]
        leader_commit = status["leader_commit_index"] or commit_index
        yield gauge("raftq_raft_term", "Current Raft term", status["term"] or 0)
        yield gauge("raftq_raft_is_leader", "1 on the leader", 1 if status["is_leader"] else 0)
        role = GaugeMetricFamily(
            "raftq_raft_role", "1 for this member's Raft role", labels=[*names, "role"]
        )
        for name in ROLES:
            role.add_metric([*values, name], 1 if status["role"] == name else 0)
        yield role
        yield gauge("raftq_raft_commit_index", "Raft commit index known here", commit_index)
        yield gauge("raftq_raft_applied_index", "Index of the last entry applied", applied_index)
        yield gauge(
            "raftq_raft_commit_lag_entries",
            "Entries the leader committed (as far as this member heard) not applied here",
            max(0, leader_commit - applied_index),
        )
        yield gauge("raftq_raft_log_entries", "Entries in the Raft log", status["log_length"] or 0)
        yield gauge("raftq_raft_log_bytes", "Bytes of the Raft log file", status["log_bytes"])
        yield gauge(
            "raftq_raft_command_level",
            "On the leader, the command level its group agrees on (0 elsewhere)",
            status["command_level"] or 0,
        )
        yield gauge(
            "raftq_raft_max_command_level",
            "The command level this member applies and advertises",
            status["max_command_level"],
        )
        snapshots = CounterMetricFamily(
            "raftq_raft_snapshots_installed",
            "Snapshots received from the leader and installed",
            labels=names,
        )
        snapshots.add_metric(values, status["snapshots_installed"])
        yield snapshots
        fsyncs = CounterMetricFamily("raftq_journal_fsyncs", "Raft log fsyncs", labels=names)
        fsyncs.add_metric(values, status["fsyncs"])
        yield fsyncs
        for histogram in (self._raft.journal.fsync_seconds, self._raft.snapshot_seconds):
            for metric in histogram.collect():
                yield relabelled(metric, self._labels)

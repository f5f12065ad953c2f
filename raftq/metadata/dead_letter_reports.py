"""Which queues hold dead letters waiting for a dead-letter queue on another cluster, as the
backend clusters' leaders last said in their load reports (backend/reporter.py): the metadata
leader's memory, read by its forwarder (dead_letter_forwarder.py).

It is not replicated: the reports come every few seconds, so a new leader knows as much as the
old one within one report interval, and the forwarder only ever reads what a backend's log
says is waiting, so an out-of-date entry costs one read that finds nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from raftq.common.metadata_commands import ReportLoad


class DeadLetterReports:
    def __init__(self, monotonic_ms: Callable[[], int]) -> None:
        self._monotonic_ms = monotonic_ms
        # (cluster id, node id) -> (when heard, monotonic ms; the queue ids its report named)
        self._latest: dict[tuple[str, str], tuple[int, frozenset[str]]] = {}

    def heard(self, report: ReportLoad) -> None:
        """Remember `report`'s queues in place of that member's earlier ones."""
        self._latest[(report.cluster_id, report.node_id)] = (
            self._monotonic_ms(),
            frozenset(report.dead_letter_queues),
        )

    def waiting(self) -> dict[str, int]:
        """Queue id -> when (monotonic ms) the latest report that names it was heard, for every
        queue the latest report of some member names."""
        named: dict[str, int] = {}
        for heard_ms, queue_ids in self._latest.values():
            for queue_id in queue_ids:
                named[queue_id] = max(named.get(queue_id, heard_ms), heard_ms)
        return named

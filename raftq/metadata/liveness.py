"""Which backend members the metadata leader has heard from lately, kept in its memory.

Every backend member sends `ReportLoad` every few seconds (backend/reporter.py). Writing each
one into the metadata log made an idle deployment propose, replicate and fsync a log entry per
report forever. Instead the leader remembers when it last heard each member, in memory, and
proposes a report only when it changes the replicated record: a member's first report, or a
new load (messages, queues). An unchanged report writes nothing. The replicated
`NodeReport.reported_at_ms` is therefore when the member's load last changed, not when it last
reported; health comes from this module's `view`.

The rules kept here:
- Only a leader remembers. The memory belongs to one term: a node that (again) leads in a new
  term starts from nothing, so it never trusts what it heard in an earlier term.
- A new leader has not heard anyone yet. Each member with a replicated report counts as heard
  when this node took up its term, so placement keeps seeing a healthy cluster across a leader
  change; a member that stays silent then turns stale one health window after the change. That
  is the staleness the replicated timestamps had before: a member dead just before a leader
  change counted healthy until one window after its last report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from raftq.common.metadata_commands import ReportLoad
from raftq.common.metadata_models import Cluster, NodeReport


class Liveness:
    def __init__(self, now_ms: Callable[[], int], current_term: Callable[[], int | None]) -> None:
        """`current_term` is the term this node leads in, or None when it does not lead."""
        self._now_ms = now_ms
        self._current_term = current_term
        self._term: int | None = None
        self._since_ms = 0
        self._heard_ms: dict[tuple[str, str], int] = {}

    def _memory(self) -> dict[tuple[str, str], int] | None:
        """What this leader heard in its current term; None when it does not lead."""
        term = self._current_term()
        if term is None:
            self._term = None
            self._heard_ms.clear()
            return None
        if term != self._term:
            self._term, self._since_ms = term, self._now_ms()
            self._heard_ms.clear()
        return self._heard_ms

    def heard(self, report: ReportLoad, cluster: Cluster | None) -> bool:
        """Remember `report`; True when it must be proposed: the leader does not know the
        member (no cluster, not a member: the state machine gives the error), has no
        replicated report of it, or its load changed. False: nothing to write."""
        memory = self._memory()
        if memory is None or cluster is None:
            return True
        if report.node_id not in {member.node_id for member in cluster.members}:
            return True
        memory[(report.cluster_id, report.node_id)] = self._now_ms()
        replicated = cluster.reports.get(report.node_id)
        return replicated is None or (replicated.messages, replicated.queues) != (
            report.messages,
            report.queues,
        )

    def view(self, clusters: Iterable[Cluster]) -> list[Cluster]:
        """`clusters` with each report's `reported_at_ms` set to when this leader last heard the
        member (at the earliest, when it took up its term), for `placement.is_healthy`."""
        memory = self._memory()
        seen: list[Cluster] = []
        for cluster in clusters:
            reports: dict[str, NodeReport] = {}
            for member in cluster.members:
                replicated = cluster.reports.get(member.node_id)
                if memory is None:
                    continue
                heard_ms = memory.get((cluster.cluster_id, member.node_id))
                if heard_ms is None and replicated is not None:
                    heard_ms = self._since_ms
                if heard_ms is None:
                    continue
                base = replicated or NodeReport(reported_at_ms=0, messages=0, queues=0)
                reports[member.node_id] = base.model_copy(update={"reported_at_ms": heard_ms})
            seen.append(cluster.model_copy(update={"reports": reports}))
        return seen

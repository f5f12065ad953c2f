"""The clusters as the dashboard shows them to operators: the metadata group and each backend
cluster, node by node (zone, role, term, commit and applied index, lag), with a health word.

What `raftq admin raft` and `admin clusters list` read, read the same way: the catalogue for
members and zones, and each node's `GET /v1/status`, signed with this frontend's credential.
One snapshot is shared by every session and refreshed at most every `MAX_AGE_MS` (one refresh
at a time): however many dashboards are open, a frontend asks each node at most once in that
time, and it holds one snapshot, not one per viewer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from raftq.common.clock import Clock

MAX_AGE_MS: Final = 2_000
# A node's report older than this (reports come every few seconds) counts as silent.
REPORT_STALE_MS: Final = 30_000

StatusOf = Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class NodeRow:
    address: str
    node_id: str
    zone: str
    role: str  # leader, follower, or unreachable
    term: int | None = None
    commit_index: int | None = None
    applied_index: int | None = None
    # How far this node's applied state is behind its group leader's commit index (entries).
    lag: int | None = None


@dataclass(frozen=True, slots=True)
class GroupRow:
    group: str  # "metadata", or a backend cluster's id
    nodes: tuple[NodeRow, ...]
    health: str  # healthy, degraded (a leader, a node missing), down (no leader)
    leader: str | None
    term: int | None
    draining: bool = False
    queues: int | None = None  # as the cluster last reported (backend clusters)
    messages: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at_ms: int
    groups: tuple[GroupRow, ...]


def group_row(
    group: str,
    members: Sequence[tuple[str, str, str]],
    statuses: Sequence[dict[str, Any] | None],
    *,
    draining: bool = False,
    queues: int | None = None,
    messages: int | None = None,
) -> GroupRow:
    """`members` (address, node id, zone) with their statuses (None: did not answer)."""
    leader_commit = max(
        (s.get("commit_index") or 0 for s in statuses if s is not None and s.get("is_leader")),
        default=None,
    )
    nodes = []
    for (address, node_id, zone), status in zip(members, statuses, strict=True):
        if status is None:
            nodes.append(NodeRow(address, node_id, zone, "unreachable"))
            continue
        applied = status.get("last_applied")
        nodes.append(
            NodeRow(
                address,
                str(status.get("node_id") or node_id),
                str(status.get("zone") or zone),
                "leader" if status.get("is_leader") else "follower",
                term=status.get("term"),
                commit_index=status.get("commit_index"),
                applied_index=applied,
                lag=None if leader_commit is None or applied is None else leader_commit - applied,
            )
        )
    leaders = [n for n in nodes if n.role == "leader"]
    reachable = [n for n in nodes if n.role != "unreachable"]
    if not leaders:
        health = "down"
    elif len(reachable) < len(nodes):
        health = "degraded"
    else:
        health = "healthy"
    return GroupRow(
        group=group,
        nodes=tuple(nodes),
        health=health,
        leader=leaders[0].node_id if leaders else None,
        term=max((n.term for n in nodes if n.term is not None), default=None),
        draining=draining,
        queues=queues,
        messages=messages,
    )


class ClusterView:
    def __init__(
        self,
        catalogue: Callable[[], Awaitable[dict[str, Any] | None]],
        metadata_members: Sequence[str],
        status_of: StatusOf,
        clock: Clock,
    ) -> None:
        self._catalogue = catalogue
        self._metadata_members = list(metadata_members)
        self._status_of = status_of
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._refreshing = asyncio.Lock()

    async def snapshot(self) -> Snapshot:
        """The groups as of at most `MAX_AGE_MS` ago."""
        async with self._refreshing:
            now = self._clock.monotonic_ms()
            if self._snapshot is None or now - self._snapshot.taken_at_ms >= MAX_AGE_MS:
                self._snapshot = Snapshot(now, await self._read())
            return self._snapshot

    async def _read(self) -> tuple[GroupRow, ...]:
        catalogue = await self._catalogue() or {}
        metadata = [(address, address, "") for address in self._metadata_members]
        groups: list[tuple[str, list[tuple[str, str, str]], dict[str, Any]]] = [
            ("metadata", metadata, {})
        ]
        for cluster in catalogue.get("clusters", []):
            members = [(m["api_address"], m["node_id"], m["zone"]) for m in cluster["members"]]
            groups.append((cluster["cluster_id"], members, cluster))
        statuses = await asyncio.gather(
            *(self._status_of(address) for _, members, _ in groups for address, _, _ in members)
        )
        rows, at = [], 0
        wall_now = self._clock.now_ms()
        for group, members, cluster in groups:
            mine = statuses[at : at + len(members)]
            at += len(members)
            reports = [
                r
                for r in (cluster.get("reports") or {}).values()
                if wall_now - r["reported_at_ms"] < REPORT_STALE_MS
            ]
            rows.append(
                group_row(
                    group,
                    members,
                    mine,
                    draining=bool(cluster.get("draining", False)),
                    queues=max((r["queues"] for r in reports), default=None) if cluster else None,
                    messages=max((r["messages"] for r in reports), default=None)
                    if cluster
                    else None,
                )
            )
        return tuple(rows)

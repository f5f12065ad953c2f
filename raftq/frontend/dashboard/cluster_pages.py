"""The clusters section of the overview (operators only): one table per Raft group."""

from __future__ import annotations

from raftq.frontend.dashboard.clusters import GroupRow, Snapshot
from raftq.frontend.dashboard.markup import Markup, join, table, tag


def _dash(value: object) -> object:
    return "—" if value is None else value


def _group(group: GroupRow) -> Markup:
    title = "Metadata group" if group.group == "metadata" else f"Backend cluster {group.group}"
    facts = [
        f"health: {group.health}",
        f"leader: {_dash(group.leader)}",
        f"term: {_dash(group.term)}",
    ]
    if group.group != "metadata":
        facts += [f"queues: {_dash(group.queues)}", f"messages: {_dash(group.messages)}"]
        if group.draining:
            facts.append("draining")
    nodes = table(
        ["node", "zone", "address", "role", "term", "commit index", "applied index", "lag"],
        (
            [
                node.node_id,
                node.zone or "—",
                node.address,
                node.role,
                _dash(node.term),
                _dash(node.commit_index),
                _dash(node.applied_index),
                _dash(node.lag),
            ]
            for node in group.nodes
        ),
    )
    return tag(
        "div",
        join([tag("h3", title), tag("p", " · ".join(facts)), nodes]),
        class_=f"group health-{group.health}",
        data_group=group.group,
    )


def clusters_section(snapshot: Snapshot) -> Markup:
    return join([tag("h2", "Clusters"), join(_group(group) for group in snapshot.groups)])

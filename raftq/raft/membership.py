"""Who the members of a Raft group are, and which membership changes are safe to make now.

pysyncobj changes membership one server at a time (Raft thesis §4.1): a member is added or
removed by a log entry that takes effect on each member as soon as it is appended, and the
leader refuses a second change until the first is applied. That entry carries only the
member's Raft address; raftq adds the rest of the member's record (node id, zone, API
address) to it, so every member keeps the same `MemberDirectory`, a leader hint can name a new
member's API address, and the directory survives snapshots (raft/snapshot_archive.py).

`plan_change` is the leader's check before it proposes a change, pure so it is tested without
a cluster. A change is refused when it would leave the group unable to commit with the members
that answer now ("would lose quorum"): removing a member must leave a majority of the new
configuration answering; adding one must leave a majority of the larger configuration
answering without the newcomer, which has yet to catch up. The leader cannot remove itself
(pysyncobj refuses it): it hands leadership over first (`raftq admin raft step-down`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from raftq.common.errors import ConflictingState, InvalidParameter
from raftq.common.settings import Member

# The metadata group records at most this many members of a group (RegisterCluster).
MAX_MEMBERS = 7


class MemberDirectory:
    """Each member's record by Raft address. Written on the Raft tick thread, read from any
    thread: every change replaces the dict, whose reads are atomic."""

    def __init__(self, members: Iterable[Member]) -> None:
        self._members: dict[str, Member] = {m.raft_address: m for m in members}

    def member(self, raft_address: str | None) -> Member | None:
        return None if raft_address is None else self._members.get(raft_address)

    def api_address_of(self, raft_address: str | None) -> str | None:
        member = self.member(raft_address)
        return None if member is None else member.api_address

    def by_node_id(self, node_id: str) -> Member | None:
        return next((m for m in self._members.values() if m.node_id == node_id), None)

    def learn(self, member: Member) -> None:
        """Record a member (added, or known again); replaces one at the same Raft address."""
        self._members = {**self._members, member.raft_address: member}

    def records(self) -> tuple[Member, ...]:
        return tuple(sorted(self._members.values(), key=lambda m: m.node_id))

    def replace_all(self, members: Iterable[Member]) -> None:
        """The records a snapshot carried, over the ones known (a snapshot may be older than
        this member's own start-up list, never less true of the members it names)."""
        self._members = {**self._members, **{m.raft_address: m for m in members}}


@dataclass(frozen=True, slots=True)
class MemberChange:
    action: Literal["add", "remove"]
    member: Member


@dataclass(frozen=True, slots=True)
class GroupView:
    """What the leader knows when it plans a change (read on its tick thread)."""

    leader: str  # its own Raft address
    members: frozenset[str]  # the current configuration, the leader included
    answering: frozenset[str]  # followers that answered within an election timeout
    change_pending: bool  # a membership entry is not applied yet


def majority(size: int) -> int:
    return size // 2 + 1


def plan_change(view: GroupView, change: MemberChange, directory: MemberDirectory) -> None:
    """Raise `ConflictingState` (or `InvalidParameter`) naming why `change` is refused now;
    return when the leader may propose it."""
    if view.change_pending:
        raise ConflictingState(
            "another membership change of this group is in progress; one change at a time",
            field="members",
        )
    address = change.member.raft_address
    up = (view.answering & view.members) | {view.leader}
    if change.action == "add":
        _check_new_member(view, change.member, directory)
        grown = len(view.members) + 1
        if grown > MAX_MEMBERS:
            raise InvalidParameter(f"a group has at most {MAX_MEMBERS} members", field="members")
        if len(up) < majority(grown):
            raise ConflictingState(
                f"adding {change.member.node_id!r} would lose quorum: {grown} members need "
                f"{majority(grown)} answering, and {len(up)} answer now (remove a dead member "
                "first: `members replace` does both in that order)",
                field="members",
            )
        return
    if address not in view.members:
        raise InvalidParameter(
            f"{change.member.node_id!r} ({address}) is not a member of this group",
            field="node_id",
        )
    if address == view.leader:
        raise ConflictingState(
            f"{change.member.node_id!r} leads the group: hand leadership over first "
            "(raft step-down), then remove it",
            field="node_id",
        )
    remaining = view.members - {address}
    if len(up & remaining) < majority(len(remaining)):
        raise ConflictingState(
            f"removing {change.member.node_id!r} would lose quorum: the {len(remaining)} "
            f"members left need {majority(len(remaining))} answering, and "
            f"{len(up & remaining)} of them answer now",
            field="members",
        )


def _check_new_member(view: GroupView, member: Member, directory: MemberDirectory) -> None:
    if member.raft_address in view.members:
        raise ConflictingState(
            f"{member.raft_address} is already a member of this group", field="raft_address"
        )
    same_id = directory.by_node_id(member.node_id)
    if same_id is not None and same_id.raft_address in view.members:
        raise ConflictingState(
            f"node id {member.node_id!r} already names a member of this group", field="node_id"
        )
    for other in directory.records():
        if other.raft_address in view.members and other.api_address == member.api_address:
            raise ConflictingState(
                f"{member.api_address} is already the API address of {other.node_id!r}",
                field="api_address",
            )

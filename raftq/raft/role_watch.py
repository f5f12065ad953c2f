"""Elections and leader changes as a member sees them, each said once.

pysyncobj calls back on no role change that raftq can hook without patching it; the tick
thread instead hands `observe` the member's role, term and leader after every tick, and gets
back the events that changed since the last one. Pure: no clock, no I/O, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    """pysyncobj's `_RAFT_STATE` values."""

    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2


@dataclass(frozen=True, slots=True)
class RoleEvent:
    event: str  # election_started | leader_changed | stepped_down
    message: str


class RoleWatch:
    def __init__(self, self_address: str) -> None:
        self._self_address = self_address
        self._role = Role.FOLLOWER
        self._term = -1
        self._leader: str | None = None  # the last leader this member knew of

    def observe(self, role: Role, term: int, leader: str | None) -> list[RoleEvent]:
        events = []
        if role is Role.CANDIDATE and (self._role is not Role.CANDIDATE or term != self._term):
            events.append(RoleEvent("election_started", f"standing for election in term {term}"))
        if self._role is Role.LEADER and role is not Role.LEADER:
            events.append(RoleEvent("stepped_down", f"no longer leads (term {term})"))
        if leader is not None and leader != self._leader:
            who = "this member" if leader == self._self_address else leader
            events.append(RoleEvent("leader_changed", f"the leader of term {term} is {who}"))
            self._leader = leader
        self._role, self._term = role, term
        return events

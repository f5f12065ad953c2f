"""The command level a Raft group agrees on: the newest entry format every member applies.

Rules this module keeps (it is pure: the node feeds it what it hears and asks it at decisions):
- Every member advertises its own level (common/command_levels.py) under `LEVEL` on each answer
  to an AppendEntries (`advertise`): the leader hears it from every member that answers, at
  every heartbeat. pysyncobj ignores keys it does not know, so a release before levels reads
  these answers as before, and sends none of its own.
- The leader records the level each member last advertised, with the term it heard it in
  (`heard`). Only levels heard in the current term count: a member not heard from since this
  node became leader (a release before levels, or one that has not answered yet) counts as
  `UNADVERTISED_LEVEL`. A new leader therefore starts at that level and moves up as answers come.
- The agreed level (`agreed`) is the lowest of this node's own level and that of every member
  of the group as the caller reads it at the decision (pysyncobj's member set, so a member
  added counts from its first decision, and one removed stops counting). Members it holds
  levels of but that are not in that set are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from raftq.common.command_levels import UNADVERTISED_LEVEL

# The key of the level in a member's answers to AppendEntries (a pysyncobj message dict).
LEVEL: Final = "raftq_command_level"


class MemberLevels:
    """What the levels of a group's members are, as this node last heard them."""

    def __init__(self, own_level: int) -> None:
        self.own_level = own_level
        self._heard: dict[str, tuple[int, int]] = {}  # member -> (term heard in, level)

    def advertise(self, message: dict[str, Any]) -> dict[str, Any]:
        """`message` (an answer to the leader) with this node's level in it."""
        return message | {LEVEL: self.own_level}

    def heard(self, member: str, message: dict[str, Any], term: int) -> None:
        """Record the level `member` advertised in `message` (received in `term`), if any: a
        message without one, or with something other than a positive int, changes nothing."""
        level = message.get(LEVEL)
        if type(level) is int and level >= 1:
            self._heard[member] = (term, level)

    def level_of(self, member: str, term: int) -> int:
        """`member`'s level as heard in `term`, else `UNADVERTISED_LEVEL`."""
        heard_term, level = self._heard.get(member, (-1, UNADVERTISED_LEVEL))
        return level if heard_term == term else UNADVERTISED_LEVEL

    def agreed(self, members: Iterable[str], term: int) -> int:
        """The level a leader of `term` may write at: the lowest of its own and every member's
        (`members`: the others in the group now)."""
        return min([self.own_level, *(self.level_of(member, term) for member in members)])

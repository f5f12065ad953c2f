"""The level a group agrees on (raft/member_levels.py), with fake members and terms: the lowest
level heard from every current member in this term, an unheard member counting as a release
before levels, and the leader's own level as a ceiling."""

from __future__ import annotations

from typing import Any

import pytest

from raftq.common.command_levels import CODE_LEVEL, UNADVERTISED_LEVEL
from raftq.raft.member_levels import LEVEL, MemberLevels

TERM = 7
A, B, C = "10.0.0.2:4321", "10.0.0.3:4321", "10.0.0.4:4321"


def answer(level: object) -> dict[str, Any]:
    """A member's answer to an AppendEntries, as pysyncobj delivers it."""
    return {"type": "next_node_idx", "next_node_idx": 10, "success": True, LEVEL: level}


def levels_with(heard: dict[str, int], term: int = TERM) -> MemberLevels:
    levels = MemberLevels(CODE_LEVEL)
    for member, level in heard.items():
        levels.heard(member, answer(level), term)
    return levels


def test_a_group_agrees_on_the_new_level_once_every_member_advertised_it() -> None:
    # Given a leader of the new release whose two members both advertised level 3
    levels = levels_with({A: 3, B: 3})
    # Then the group is at level 3
    assert levels.agreed([A, B], TERM) == 3


def test_one_old_member_keeps_the_group_at_its_level() -> None:
    levels = levels_with({A: 3, B: 2})
    assert levels.agreed([A, B], TERM) == 2


def test_a_member_not_heard_from_counts_as_a_release_before_levels() -> None:
    # Given a member that never advertised (a release before levels sends no level)
    levels = levels_with({A: 3})
    levels.heard(B, {"type": "next_node_idx", "next_node_idx": 3, "success": True}, TERM)
    # Then it counts as the unadvertised level
    assert levels.level_of(B, TERM) == UNADVERTISED_LEVEL
    assert levels.agreed([A, B], TERM) == UNADVERTISED_LEVEL


def test_levels_heard_in_an_earlier_term_do_not_count_for_a_new_leader() -> None:
    # Given levels heard while this node led term 7
    levels = levels_with({A: 3, B: 3}, term=TERM)
    # When it leads term 9 and has heard from A only
    levels.heard(A, answer(3), TERM + 2)
    # Then B counts as unheard until it answers in term 9
    assert levels.agreed([A, B], TERM + 2) == UNADVERTISED_LEVEL
    levels.heard(B, answer(3), TERM + 2)
    assert levels.agreed([A, B], TERM + 2) == 3


def test_a_member_that_joins_counts_from_the_first_decision_after() -> None:
    # Given a group agreed on level 3
    levels = levels_with({A: 3, B: 3})
    # When a member C joins and has not answered yet, then the group drops to the unheard level
    assert levels.agreed([A, B, C], TERM) == UNADVERTISED_LEVEL
    # And once C advertises level 3, the group is back at 3
    levels.heard(C, answer(3), TERM)
    assert levels.agreed([A, B, C], TERM) == 3


def test_a_member_that_leaves_stops_counting() -> None:
    # Given an old member B in the group
    levels = levels_with({A: 3, B: 2})
    # When B is removed from the member set, then only A counts
    assert levels.agreed([A], TERM) == 3


def test_a_leader_capped_at_an_older_level_agrees_on_no_more_than_its_own() -> None:
    levels = MemberLevels(2)
    levels.heard(A, answer(3), TERM)
    levels.heard(B, answer(3), TERM)
    assert levels.agreed([A, B], TERM) == 2


def test_a_leader_alone_agrees_on_its_own_level() -> None:
    assert MemberLevels(CODE_LEVEL).agreed([], TERM) == CODE_LEVEL


def test_a_member_that_advertises_a_lower_level_later_lowers_the_group() -> None:
    # (a downgrade, which docs/upgrades.md forbids once v3 is written; the gate still follows it)
    levels = levels_with({A: 3, B: 3})
    levels.heard(B, answer(2), TERM)
    assert levels.agreed([A, B], TERM) == 2


@pytest.mark.parametrize("level", [None, "3", 3.0, True, 0, -1, [3]])
def test_a_malformed_level_is_ignored(level: object) -> None:
    levels = levels_with({A: 3})
    levels.heard(A, answer(level), TERM)
    assert levels.level_of(A, TERM) == 3


def test_an_answer_carries_this_nodes_level_and_keeps_its_other_keys() -> None:
    message = {"type": "next_node_idx", "next_node_idx": 4, "success": False}
    advertised = MemberLevels(2).advertise(message)
    assert advertised == message | {LEVEL: 2}
    assert LEVEL not in message  # the caller's message is not changed

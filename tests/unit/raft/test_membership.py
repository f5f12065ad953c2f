"""Which membership changes a leader may propose now, and the directory of members' records.
Pure: a group is a set of addresses, who answers is given."""

from __future__ import annotations

import pytest

from raftq.common.errors import ConflictingState, InvalidParameter
from raftq.common.settings import Member
from raftq.raft.membership import GroupView, MemberChange, MemberDirectory, plan_change


def member(i: int) -> Member:
    return Member(
        node_id=f"n{i}",
        zone="abcdefgh"[i % 8],
        raft_address=f"10.0.0.{i}:7000",
        api_address=f"10.0.0.{i}:8000",
    )


def view(members: range, answering: set[int], *, pending: bool = False) -> GroupView:
    """Member 1 leads; `answering` are the followers that answered lately."""
    return GroupView(
        leader=member(1).raft_address,
        members=frozenset(member(i).raft_address for i in members),
        answering=frozenset(member(i).raft_address for i in answering),
        change_pending=pending,
    )


DIRECTORY = MemberDirectory(member(i) for i in range(1, 6))


def test_the_directory_names_a_members_api_address() -> None:
    assert DIRECTORY.api_address_of("10.0.0.3:7000") == "10.0.0.3:8000"
    assert DIRECTORY.api_address_of("10.9.9.9:7000") is None
    assert DIRECTORY.api_address_of(None) is None
    assert DIRECTORY.by_node_id("n2") == member(2)


def test_the_directory_learns_added_members_and_keeps_snapshot_records() -> None:
    directory = MemberDirectory([member(1)])
    directory.learn(member(4))
    assert directory.api_address_of(member(4).raft_address) == member(4).api_address
    directory.replace_all([member(2)])
    assert [m.node_id for m in directory.records()] == ["n1", "n2", "n4"]


def test_adding_to_a_healthy_group_is_planned() -> None:
    plan_change(view(range(1, 4), {2, 3}), MemberChange("add", member(4)), DIRECTORY)


def test_adding_while_a_member_is_dead_would_lose_quorum() -> None:
    # Three members with one dead grow to four: a majority of four is three, two answer
    with pytest.raises(ConflictingState, match="would lose quorum"):
        plan_change(view(range(1, 4), {2}), MemberChange("add", member(4)), DIRECTORY)


def test_removing_a_dead_member_leaves_the_live_majority() -> None:
    plan_change(view(range(1, 4), {2}), MemberChange("remove", member(3)), DIRECTORY)


def test_removing_a_live_member_while_another_is_dead_would_lose_quorum() -> None:
    # {1, 2, 3} with 3 dead: removing 2 leaves {1, 3}, which needs both
    with pytest.raises(ConflictingState, match="would lose quorum"):
        plan_change(view(range(1, 4), {3} - {3}), MemberChange("remove", member(2)), DIRECTORY)


def test_removing_a_majority_one_by_one_stops_at_quorum() -> None:
    # Five members of which 4 and 5 are dead: removing 4 leaves {1,2,3,5} (3 of 4 answer)
    five = view(range(1, 6), {2, 3})
    plan_change(five, MemberChange("remove", member(4)), DIRECTORY)
    # but from {1, 2, 3, 5} with 3 also dead, removing 2 leaves {1, 3, 5}: one answers
    with pytest.raises(ConflictingState, match="would lose quorum"):
        plan_change(
            GroupView(
                leader=member(1).raft_address,
                members=frozenset(member(i).raft_address for i in (1, 2, 3, 5)),
                answering=frozenset({member(2).raft_address}),
                change_pending=False,
            ),
            MemberChange("remove", member(2)),
            DIRECTORY,
        )


def test_one_change_at_a_time() -> None:
    with pytest.raises(ConflictingState, match="one change at a time"):
        plan_change(
            view(range(1, 4), {2, 3}, pending=True), MemberChange("add", member(4)), DIRECTORY
        )


def test_the_leader_cannot_remove_itself() -> None:
    with pytest.raises(ConflictingState, match="step-down"):
        plan_change(view(range(1, 4), {2, 3}), MemberChange("remove", member(1)), DIRECTORY)


def test_removing_a_stranger_is_refused_naming_it() -> None:
    with pytest.raises(InvalidParameter, match=r"'n5'.*not a member"):
        plan_change(view(range(1, 4), {2, 3}), MemberChange("remove", member(5)), DIRECTORY)


@pytest.mark.parametrize(
    ("newcomer", "field"),
    [
        (member(2), "raft_address"),
        (member(2).model_copy(update={"raft_address": "10.0.0.9:7000"}), "node_id"),
        (
            Member(
                node_id="n9", zone="z", raft_address="10.0.0.9:7000", api_address="10.0.0.2:8000"
            ),
            "api_address",
        ),
    ],
)
def test_adding_a_member_that_clashes_with_one_is_refused(newcomer: Member, field: str) -> None:
    with pytest.raises(ConflictingState) as refused:
        plan_change(view(range(1, 4), {2, 3}), MemberChange("add", newcomer), DIRECTORY)
    assert refused.value.field == field


def test_a_group_has_at_most_seven_members() -> None:
    seven = MemberDirectory(member(i) for i in range(1, 9))
    with pytest.raises(InvalidParameter, match="at most 7"):
        plan_change(view(range(1, 8), set(range(2, 8))), MemberChange("add", member(8)), seven)

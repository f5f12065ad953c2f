"""Elections and leader changes as one member sees them (raft/role_watch.py): each said once,
however many ticks it lasts."""

from __future__ import annotations

from raftq.raft.role_watch import Role, RoleWatch

ME, OTHER = "127.0.0.1:7001", "127.0.0.1:7002"


def _events(watch: RoleWatch, role: Role, term: int, leader: str | None) -> list[str]:
    return [change.event for change in watch.observe(role, term, leader)]


def test_a_follower_says_its_first_leader_once_however_many_ticks_pass() -> None:
    watch = RoleWatch(ME)
    assert _events(watch, Role.FOLLOWER, 0, None) == []
    assert _events(watch, Role.FOLLOWER, 1, OTHER) == ["leader_changed"]
    for _ in range(100):
        assert _events(watch, Role.FOLLOWER, 1, OTHER) == []


def test_a_member_that_wins_an_election_says_it_stood_then_that_it_leads() -> None:
    # Given a follower of OTHER (Raft §5.2: a follower that hears nothing stands for election)
    watch = RoleWatch(ME)
    _events(watch, Role.FOLLOWER, 1, OTHER)
    # When it stands in term 2, for many ticks, then wins
    assert _events(watch, Role.CANDIDATE, 2, None) == ["election_started"]
    assert _events(watch, Role.CANDIDATE, 2, None) == []
    changes = watch.observe(Role.LEADER, 2, ME)
    # Then it said each once, naming itself the leader
    assert [(c.event, c.message) for c in changes] == [
        ("leader_changed", "the leader of term 2 is this member")
    ]
    assert _events(watch, Role.LEADER, 2, ME) == []


def test_each_new_term_a_candidate_stands_in_is_a_new_election() -> None:
    watch = RoleWatch(ME)
    assert _events(watch, Role.CANDIDATE, 3, None) == ["election_started"]
    assert _events(watch, Role.CANDIDATE, 4, None) == ["election_started"]


def test_a_leader_that_steps_down_says_so_and_then_names_the_new_leader() -> None:
    watch = RoleWatch(ME)
    _events(watch, Role.LEADER, 2, ME)
    assert _events(watch, Role.FOLLOWER, 2, None) == ["stepped_down"]
    assert _events(watch, Role.FOLLOWER, 3, OTHER) == ["leader_changed"]


def test_the_same_leader_again_after_an_election_is_no_change() -> None:
    watch = RoleWatch(ME)
    _events(watch, Role.FOLLOWER, 2, OTHER)
    _events(watch, Role.FOLLOWER, 2, None)  # it lost contact for a while
    assert _events(watch, Role.FOLLOWER, 3, OTHER) == []

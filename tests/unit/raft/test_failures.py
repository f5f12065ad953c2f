"""Every pysyncobj failure code maps to the raftq error the caller must act on."""

from __future__ import annotations

import pytest
from pysyncobj import FAIL_REASON

from raftq.common.errors import NotLeader, OutcomeUnknown, Overloaded, PeerError, RaftqError
from raftq.raft.failures import error_for

# The full table. A code added by a pysyncobj upgrade fails the completeness test below, so the
# mapping is looked at again instead of silently defaulting.
EXPECTED: dict[str, type[RaftqError]] = {
    "QUEUE_FULL": Overloaded,
    "MISSING_LEADER": NotLeader,
    "REQUEST_DENIED": PeerError,
    # The entry may be in the log already and commit later: never a definite failure.
    "DISCARDED": OutcomeUnknown,
    "NOT_LEADER": OutcomeUnknown,
    "LEADER_CHANGED": OutcomeUnknown,
    "UNKNOWN_OUTCOME": OutcomeUnknown,
}


def failure_codes() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(FAIL_REASON).items()
        if not name.startswith("_") and name != "SUCCESS"
    }


def test_the_table_covers_every_failure_code_pysyncobj_has() -> None:
    assert set(failure_codes()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_failure_code_maps_to_its_error(name: str) -> None:
    # Given a pysyncobj failure code
    reason = failure_codes()[name]
    # When it is mapped
    error = error_for(reason, "10.0.0.2:4321")
    # Then the error is exactly the expected leaf
    assert type(error) is EXPECTED[name]


def test_missing_leader_carries_the_leader_hint() -> None:
    error = error_for(FAIL_REASON.MISSING_LEADER, "10.0.0.3:4321")
    assert isinstance(error, NotLeader)
    assert error.leader_hint == "10.0.0.3:4321"


def test_missing_leader_without_a_known_leader_has_no_hint() -> None:
    error = error_for(FAIL_REASON.MISSING_LEADER, None)
    assert isinstance(error, NotLeader)
    assert error.leader_hint is None


def test_a_code_pysyncobj_may_add_later_is_an_unknown_outcome() -> None:
    # Given a code this version does not know
    # When it is mapped, then the caller is told the write may still commit
    assert type(error_for(99, None)) is OutcomeUnknown


def test_leader_change_errors_say_which_pysyncobj_reason_it_was() -> None:
    error = error_for(FAIL_REASON.LEADER_CHANGED, None)
    assert str(FAIL_REASON.LEADER_CHANGED) in error.message

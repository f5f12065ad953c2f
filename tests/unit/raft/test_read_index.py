"""The read index confirms leadership only with a majority's answers to heartbeats sent after the
read arrived, in the same term, once the leader applied through its commit index of that moment
(Raft thesis §6.4). Pure: the tick thread's calls are made in order, time is a number."""

from __future__ import annotations

from dataclasses import replace

from raftq.raft.read_index import LeaderView, ReadIndex, Settle

LEADING = LeaderView(
    leads=True,
    term=3,
    commit_index=10,
    applied_index=10,
    now_s=100.0,
    followers=frozenset({"b", "c"}),
)
FIVE = replace(LEADING, followers=frozenset({"b", "c", "d", "e"}))
ALONE = replace(LEADING, followers=frozenset())


class Reads:
    """Outcomes of reads, in the order they were settled."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, bool]] = []

    def settle(self, name: str) -> Settle:
        return lambda confirmed: self.outcomes.append((name, confirmed))


def _send_round(index: ReadIndex) -> list[int]:
    """Stamps of one heartbeat round to two followers."""
    return [index.next_stamp(), index.next_stamp()]


def test_read_is_confirmed_by_a_majority_answering_heartbeats_sent_after_it_arrived() -> None:
    # Given a three-member group's leader that sent a round before the read arrived
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    before = _send_round(index)
    index.request(reads.settle("r"))
    assert index.on_tick(LEADING) is True  # asks for a heartbeat round now
    assert index.on_tick(LEADING) is False  # nothing new registered

    # When a follower answers a heartbeat sent before the read
    index.echoed("b", 3, before[0], LEADING)
    # Then the read is not confirmed
    assert reads.outcomes == []

    # When a follower answers one sent after it
    after = _send_round(index)
    index.echoed("b", 3, after[0], LEADING)
    # Then it is: the leader and one follower are a majority of three
    assert reads.outcomes == [("r", True)]
    assert index.pending == 0


def test_answers_of_another_term_do_not_confirm() -> None:
    # Given a registered read at term 3
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    index.request(reads.settle("r"))
    index.on_tick(LEADING)
    stamps = _send_round(index)

    # When the follower's answer carries term 2 (an AppendEntries of an earlier leadership)
    index.echoed("b", 2, stamps[0], LEADING)

    # Then nothing is confirmed
    assert reads.outcomes == []


def test_five_members_need_two_followers() -> None:
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    index.request(reads.settle("r"))
    index.on_tick(FIVE)
    stamps = [index.next_stamp() for _ in range(4)]

    index.echoed("b", 3, stamps[0], FIVE)
    index.echoed("b", 3, stamps[0], FIVE)  # the same follower twice counts once
    assert reads.outcomes == []

    index.echoed("c", 3, stamps[1], FIVE)
    assert reads.outcomes == [("r", True)]


def test_a_single_member_confirms_at_once() -> None:
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    index.request(reads.settle("r"))
    assert index.on_tick(ALONE) is False  # no follower to ask
    assert reads.outcomes == [("r", True)]


def test_confirmation_waits_until_the_commit_index_of_registration_is_applied() -> None:
    # Given a read registered while entries up to 12 are committed but only 10 applied
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    index.request(reads.settle("r"))
    index.on_tick(replace(LEADING, commit_index=12, applied_index=10))

    # When a majority answered a later heartbeat
    index.echoed("b", 3, index.next_stamp(), replace(LEADING, commit_index=12, applied_index=11))
    # Then the read waits for the apply
    assert reads.outcomes == []

    # And is confirmed on the tick that sees index 12 applied
    index.on_tick(replace(LEADING, commit_index=13, applied_index=12))
    assert reads.outcomes == [("r", True)]


def test_reads_fail_when_leadership_is_lost_or_the_term_changes() -> None:
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    index.request(reads.settle("lost"))
    index.on_tick(LEADING)
    index.on_tick(replace(LEADING, leads=False))
    assert reads.outcomes == [("lost", False)]

    index.request(reads.settle("new term"))
    index.on_tick(LEADING)
    index.on_tick(replace(LEADING, term=4))
    assert reads.outcomes[-1] == ("new term", False)


def test_a_read_asked_of_a_member_that_does_not_lead_its_state_fails_at_once() -> None:
    # A new leader that has not applied its own term's no-op does not lead its state yet
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    index.request(reads.settle("r"))
    index.on_tick(replace(LEADING, leads=False))
    assert reads.outcomes == [("r", False)]


def test_a_read_no_majority_answers_fails_after_its_timeout() -> None:
    # Given a read registered at t=100 s with a 1 s timeout, and followers that never answer
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    index.request(reads.settle("r"))
    index.on_tick(LEADING)
    _send_round(index)

    # When ticks pass up to just before the timeout, it waits; at the timeout it fails
    index.on_tick(replace(LEADING, now_s=100.999))
    assert reads.outcomes == []
    index.on_tick(replace(LEADING, now_s=101.0))
    assert reads.outcomes == [("r", False)]
    assert index.pending == 0


def test_one_round_confirms_every_read_registered_before_it() -> None:
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    for name in ("a", "b", "c"):
        index.request(reads.settle(name))
    index.on_tick(LEADING)
    index.request(reads.settle("late"))
    stamps = _send_round(index)
    index.on_tick(LEADING)  # "late" registers after the round was sent

    index.echoed("b", 3, stamps[1], LEADING)

    assert reads.outcomes == [("a", True), ("b", True), ("c", True)]
    assert index.pending == 1


def test_only_members_of_the_current_configuration_confirm() -> None:
    # Given a leader whose configuration changed from {a, b, c} to {a, c, d}
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    changed = replace(LEADING, followers=frozenset({"c", "d"}))
    index.request(reads.settle("r"))
    index.on_tick(changed)
    stamps = _send_round(index)

    # When the removed member b answers, nothing is confirmed
    index.echoed("b", 3, stamps[0], changed)
    assert reads.outcomes == []

    # When the added member d answers, the read is confirmed
    index.echoed("d", 3, stamps[1], changed)
    assert reads.outcomes == [("r", True)]


def test_a_larger_configuration_needs_more_answers() -> None:
    # Given three members grown to four (leader a, followers b, c, d): a majority is three
    index, reads = ReadIndex(timeout_s=1.0), Reads()
    four = replace(LEADING, followers=frozenset({"b", "c", "d"}))
    index.request(reads.settle("r"))
    index.on_tick(four)
    stamps = _send_round(index)

    index.echoed("b", 3, stamps[0], four)
    assert reads.outcomes == []
    index.echoed("c", 3, stamps[1], four)
    assert reads.outcomes == [("r", True)]

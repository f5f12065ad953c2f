"""AppendEntries that repeat entries a follower holds keep them instead of cutting the log."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from raftq.raft.append_entries import CatchUp, Entry, first_of_term, without_held_entries

LOG: list[Entry] = [(b"base", 10, 1), (b"a", 11, 1), (b"b", 12, 2), (b"c", 13, 2), (b"d", 14, 2)]


def append(prev: int, prev_term: int, entries: list[Entry], term: int = 2) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "append_entries",
        "term": term,
        "commit_index": 12,
        "prevLogIdx": prev,
        "prevLogTerm": prev_term,
    }
    if entries:
        message["entries"] = entries
    return message


def test_a_heartbeat_from_behind_keeps_the_entries_of_the_leaders_term() -> None:
    # pysyncobj would cut 13 and 14 (acknowledged, maybe committed) and append nothing
    kept = without_held_entries(append(12, 2, []), LOG)
    assert (kept["prevLogIdx"], kept["prevLogTerm"], kept["entries"]) == (14, 2, [])
    assert kept["commit_index"] == 12 and kept["term"] == 2


def test_a_batch_that_ends_before_the_log_does_is_kept_whole() -> None:
    kept = without_held_entries(append(11, 1, [(b"b", 12, 2), (b"c", 13, 2)]), LOG)
    assert (kept["prevLogIdx"], kept["entries"]) == (14, [])


def test_a_batch_reaching_past_the_log_appends_only_the_new_entries() -> None:
    batch = [(b"c", 13, 2), (b"d", 14, 2), (b"e", 15, 2), (b"f", 16, 2)]
    kept = without_held_entries(append(12, 2, batch), LOG)
    assert (kept["prevLogIdx"], kept["entries"]) == (14, [(b"e", 15, 2), (b"f", 16, 2)])


def test_a_conflicting_entry_leaves_the_message_to_cut_the_log() -> None:
    message = append(12, 2, [(b"c", 13, 2), (b"x", 14, 3)], term=3)
    assert without_held_entries(message, LOG) is message


def test_held_entries_of_an_older_term_after_the_message_may_be_stale_and_are_cut() -> None:
    message = append(12, 2, [], term=3)  # 13 and 14 are of term 2; the leader is of term 3
    assert without_held_entries(message, LOG) is message


def test_a_mismatch_at_prev_or_a_prev_outside_the_log_is_left_to_pysyncobj() -> None:
    for message in (
        append(12, 1, []),  # wrong term at prevLogIdx: pysyncobj asks the leader to back up
        append(9, 1, []),  # before the first held entry (compacted)
        append(14, 2, []),  # at the end: nothing after it to keep
        append(20, 2, []),  # beyond the end
    ):
        assert without_held_entries(message, LOG) is message


def test_other_messages_and_large_entries_in_pieces_pass_untouched() -> None:
    vote = {"type": "request_vote", "term": 3}
    piece = append(12, 2, []) | {"transmission": "start", "data": b"..."}
    assert without_held_entries(vote, LOG) is vote
    assert without_held_entries(piece, LOG) is piece
    assert without_held_entries(append(12, 2, []), []) is not None


@given(
    st.lists(st.integers(1, 3), min_size=1, max_size=8).map(sorted),
    st.integers(0, 7),
    st.one_of(st.just(0), st.integers(0, 6)),  # heartbeats (no entries) often
    st.sampled_from([0, 0, 0, 1]),
)
def test_the_rewritten_message_gives_the_log_raft_would(
    terms: list[int], prev_offset: int, sent: int, term_bump: int
) -> None:
    """Applying the message as pysyncobj does (cut after prevLogIdx, append) to the rewritten
    message gives the log Raft's rule gives for the original: held entries are cut only from the
    first conflict, and the leader's entries after the message stay."""
    leader_term = max(terms) + term_bump  # a leader's term is at least any term it sent
    log: list[Entry] = [(b"%d" % t, 100 + k, t) for k, t in enumerate(terms)]
    prev_offset %= len(log)
    prev = log[prev_offset]
    # The leader's log: the follower's up to its last entry of the leader's term (the one
    # leader of a term never overwrites, and by Log Matching what precedes it is the leader's
    # too), then entries the follower does not have.
    ours = max((k for k, e in enumerate(log) if e[2] == leader_term), default=prev_offset)
    shared = max(ours, prev_offset) + 1
    leader_log = log[:shared] + [
        (b"L", log[0][1] + k, leader_term) for k in range(shared, len(log) + sent + 1)
    ]
    entries = leader_log[prev_offset + 1 : prev_offset + 1 + sent]
    message = append(prev[1], prev[2], entries, term=leader_term)

    def pysyncobj(message: dict[str, Any], log: list[Entry]) -> list[Entry]:
        at = message["prevLogIdx"] - log[0][1]
        return log[: at + 1] + list(message.get("entries", []))

    def raft(message: dict[str, Any], log: list[Entry]) -> list[Entry]:
        result = list(log)
        for entry in message.get("entries", []):
            at = entry[1] - log[0][1]
            if at < len(result) and result[at][2] == entry[2]:
                continue
            result = [*result[:at], entry]
        return result

    rewritten = without_held_entries(message, log)
    event("rewritten" if rewritten is not message else "left to pysyncobj")
    if rewritten is not message:
        applied = pysyncobj(rewritten, log)
        assert applied == raft(message, log)
        assert len(applied) >= len(log)  # the log never shrinks
        # pysyncobj's follower answers with the last index it holds, and the leader counts
        # everything up to it as replicated: all of it must be the leader's.
        assert applied == leader_log[: len(applied)]


def test_a_mismatch_backs_up_to_the_first_entry_of_the_conflicting_term() -> None:
    assert first_of_term(LOG, 14) == 12  # 12..14 are of term 2
    assert first_of_term(LOG, 11) == 11  # never to the base entry (10): entries start after it
    assert first_of_term(LOG, 20) == 20  # not held: as asked


def test_answers_never_move_the_leader_forward_again_until_an_append_succeeds() -> None:
    catch_up = CatchUp()
    assert catch_up.answer(LOG, 3, reset=True, success=False, next_index=14) == 12
    # a later message of the same flood: prevLogIdx beyond the log would say 15
    assert catch_up.answer(LOG, 3, reset=True, success=False, next_index=None) == 12
    assert catch_up.answer(LOG, 3, reset=True, success=False, next_index=11) == 11
    assert catch_up.answer(LOG, 3, reset=False, success=False, next_index=None) is None
    assert catch_up.answer(LOG, 3, reset=False, success=True, next_index=13) == 13
    assert catch_up.answer(LOG, 3, reset=True, success=False, next_index=None) == 15  # afresh
    # a new term (a new leader) starts afresh too
    assert catch_up.answer(LOG, 3, reset=True, success=False, next_index=12) == 12
    assert catch_up.answer(LOG, 4, reset=True, success=False, next_index=None) == 15


def catch_up_rounds(catch_up: CatchUp | None, max_rounds: int = 50) -> int | None:
    """pysyncobj's leader and follower, message by message, with the follower holding a stale
    tail (entries 51..54 of term 1) and the leader 400 entries of term 2 past the match at 50.
    Each append period the leader sends everything from its next index in batches of 20; the
    answers come back in order and the leader takes each one. Rounds until the follower holds
    the leader's log (None: not within `max_rounds`)."""
    leader: list[Entry] = [(b"x", i, 1) for i in range(0, 51)]
    leader += [(b"y", i, 2) for i in range(51, 451)]
    follower: list[Entry] = leader[:51] + [(b"z", i, 1) for i in range(51, 55)]
    next_index, term, batch = 451, 2, 20
    for rounds in range(1, max_rounds + 1):
        answers = []
        start = next_index
        while True:
            prev = start - 1
            entries = leader[start : start + batch]
            held = follower[prev] if prev < len(follower) else None
            answer: tuple[bool, bool, int | None]
            if held is None:
                answer = (True, False, None)
            elif held[2] != leader[prev][2]:
                answer = (True, False, prev)
            else:
                follower[:] = follower[: prev + 1] + entries
                answer = (False, True, prev + 1 + len(entries))
            reset, success, given = answer
            if catch_up is not None:
                given = catch_up.answer(
                    follower, term, reset=reset, success=success, next_index=given
                )
            answers.append((reset, success, len(follower) if given is None else given))
            start += batch
            if start > 450:
                break
        match = 0
        for reset, success, given in answers:
            if reset:
                next_index = given
            if success and given - 1 > match:
                match, next_index = given - 1, given
        if follower == leader:
            return rounds
    return None


def test_a_follower_with_a_stale_tail_catches_up_only_with_monotone_answers() -> None:
    assert catch_up_rounds(None) is None  # pysyncobj alone: the flood undoes every back-up
    rounds = catch_up_rounds(CatchUp())
    assert rounds is not None and rounds <= 3

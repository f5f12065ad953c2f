"""A receive that would find nothing is answered from applied state; every other receive is left
to the log. Whenever the state answers, the answer is the one the log would have given.
Pure: one replica, a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from raftq.backend.empty_receive import empty_receive
from raftq.backend.reads import queue_stats
from raftq.common.commands import GetQueueStats, ReceiveMessages
from raftq.common.results import ReceiveResult
from tests.replica import Replica
from tests.unit.backend.test_queue_properties import QUEUES, QueueModel


def _receive(replica: Replica, queue: str = "q", **fields: object) -> ReceiveMessages:
    return ReceiveMessages.model_validate(
        {"now_ms": replica.now_ms, "queue": queue, "max_messages": 10, **fields}
    )


def _answer(replica: Replica, queue: str = "q", **fields: object) -> ReceiveResult | None:
    return empty_receive(replica.machine, _receive(replica, queue, **fields), replica.now_ms)


@pytest.fixture
def replica() -> Replica:
    r = Replica()
    r.create("q", visibility_timeout_ms=30_000)
    return r


def test_an_empty_queue_is_answered_from_state_with_nothing_to_wait_for(replica: Replica) -> None:
    assert _answer(replica) == ReceiveResult(messages=(), next_visible_at_ms=None)


def test_a_queue_with_a_visible_message_goes_through_the_log(replica: Replica) -> None:
    replica.send("q", b"job")
    assert _answer(replica) is None


def test_a_delayed_message_is_waited_for_until_its_delay_ends_then_left_to_the_log(
    replica: Replica,
) -> None:
    # Given a message delayed by 5 s
    replica.send("q", b"later", delay_ms=5_000)
    visible_at = replica.now_ms + 5_000
    # Then until then the answer is "nothing, next at the delay's end"
    replica.advance(4_999)
    assert _answer(replica) == ReceiveResult(messages=(), next_visible_at_ms=visible_at)
    # And at its end the receive must go through the log, which delivers it
    replica.advance(1)
    assert _answer(replica) is None
    assert replica.bodies(replica.receive("q")) == [b"later"]


def test_a_message_whose_lease_ran_out_is_left_to_the_log(replica: Replica) -> None:
    replica.send("q", b"job")
    replica.receive("q")
    replica.advance(29_999)
    assert _answer(replica) == ReceiveResult(messages=(), next_visible_at_ms=replica.now_ms + 1)
    replica.advance(1)
    assert _answer(replica) is None


def test_a_fifo_queue_whose_only_group_is_locked_is_answered_from_state() -> None:
    # Given a FIFO group with one message in flight and one behind it
    replica = Replica()
    replica.create("f", fifo=True, visibility_timeout_ms=30_000)
    replica.send("f", b"first", group_id="g", dedup_id="d1")
    replica.send("f", b"second", group_id="g", dedup_id="d2")
    assert replica.bodies(replica.receive("f", 1)) == [b"first"]
    # Then a receive can get nothing until the lease ends: no entry is needed to say so
    answer = _answer(replica, "f")
    assert answer == ReceiveResult(messages=(), next_visible_at_ms=replica.now_ms + 30_000)
    assert replica.receive("f") == answer


def test_a_retried_attempt_is_replayed_by_the_log_not_answered_empty(replica: Replica) -> None:
    # Given a receive attempt that took the only message (its answer was lost)
    replica.send("q", b"job")
    taken = replica.receive("q", attempt_id="a1")
    assert replica.bodies(taken) == [b"job"]
    # Then its retry is left to the log, which returns the same message again
    assert _answer(replica, attempt_id="a1") is None
    assert replica.receive("q", attempt_id="a1").messages == taken.messages
    # And another attempt, unknown, is answered from state: nothing is visible
    assert _answer(replica, attempt_id="a2") is not None


def test_a_message_due_for_the_dead_letter_queue_goes_through_the_log() -> None:
    # Given a message received once on a queue that dead-letters after one receive
    replica = Replica()
    replica.create("dlq")
    policy = {"dead_letter_queue": "dlq", "max_receive_count": 1}
    replica.create("q", visibility_timeout_ms=1_000, redrive=policy)
    replica.send("q", b"poison")
    replica.receive("q")
    replica.advance(1_000)
    # Then the receive that would move it is not answered from state
    assert _answer(replica) is None
    assert replica.receive("q").messages == ()
    assert replica.stats("q").dead_letter_pending + replica.stats("dlq").visible == 1


def test_an_unknown_queue_is_left_to_the_log_which_names_it(replica: Replica) -> None:
    assert _answer(replica, "nope") is None


def test_state_time_is_used_when_the_leaders_clock_lags(replica: Replica) -> None:
    # Given a message delayed 1 s, and state time past its delay
    replica.send("q", b"job", delay_ms=1_000)
    replica.advance(2_000)
    replica.one(GetQueueStats(now_ms=replica.now_ms, queue="q"))  # moves state time
    # When the leader's clock is behind state time, the state's time decides
    command = _receive(replica)
    assert empty_receive(replica.machine, command, replica.now_ms - 60_000) is None


class EmptyReceiveModel(QueueModel):
    """The queue property model, with one more rule: before a receive goes through the log,
    ask the state. When it answers, the log must give the same answer and leave the counts
    as they were."""

    @rule(
        queue=st.sampled_from(sorted(QUEUES)),
        max_messages=st.integers(1, 4),
        attempt=st.one_of(st.none(), st.sampled_from(["a1", "a2"])),
    )
    def receive_answered_from_state_when_empty(
        self, queue: str, max_messages: int, attempt: str | None
    ) -> None:
        machine, now = self.replica.machine, self.replica.now_ms
        command = ReceiveMessages(
            now_ms=now, queue=queue, max_messages=max_messages, attempt_id=attempt
        )
        answer = empty_receive(machine, command, now)
        counts_before = queue_stats(machine, queue, now)
        result = self.replica.receive(queue, max_messages, attempt_id=attempt)
        if answer is not None:
            assert result == answer
            assert queue_stats(machine, queue, now) == counts_before
        self._record_receive(queue, result, None)


EmptyReceiveModel.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_state_answers_only_what_the_log_would_answer = EmptyReceiveModel.TestCase

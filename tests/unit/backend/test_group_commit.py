"""Group commit on the leader, against a fake Raft node whose proposals the test settles by hand.

The fake stands in for `RaftNode.propose` only: the real Raft path (pysyncobj, threads, the
journal) is covered by tests/integration. Time is a `FakeClock`; the event loop is only yielded
to (`asyncio.sleep(0)`), never slept on, except for the one test of the real proposal timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from raftq.backend.group_commit import GroupCommitter, Orphaned, estimated_bytes
from raftq.common import codec
from raftq.common.clock import FakeClock, OffsetClock
from raftq.common.commands import AnyCommand, GetQueueStats, SendEntry, SendMessages
from raftq.common.errors import (
    DecodeError,
    InternalError,
    NotLeader,
    OutcomeUnknown,
    Overloaded,
    RaftqError,
)
from raftq.common.leader_clock import ALLOWANCE_MS, CATCH_UP_DIVISOR, LeaderClock
from raftq.common.limits import HOUR_MS
from raftq.common.results import CommandResult, QueueStats
from raftq.common.settings import GroupCommitSettings
from raftq.raft.node import AppliedEntry, RaftNode

START_MS = 1_700_000_000_000


def stats_command(number: int) -> GetQueueStats:
    return GetQueueStats(now_ms=0, queue=f"q{number}")


def result_for(command: AnyCommand) -> QueueStats:
    """A result that names its command: `visible` is the number in the queue name."""
    assert isinstance(command, GetQueueStats)
    return QueueStats(
        visible=int(command.queue.removeprefix("q")), in_flight=0, delayed=0, dead_letter_pending=0
    )


@dataclass
class Proposal:
    payload: bytes
    future: asyncio.Future[object]
    on_applied: Callable[[AppliedEntry], None] | None = None

    @property
    def commands(self) -> list[AnyCommand]:
        """As apply decodes them, each stamped with the entry's time."""
        commands = codec.decode_entry(self.payload)
        assert all(not isinstance(command, DecodeError) for command in commands), commands
        return cast(list[AnyCommand], commands)

    @property
    def queues(self) -> list[str]:
        return [command.queue for command in self.commands if hasattr(command, "queue")]

    def commit(self, applied: AppliedEntry | None = None) -> None:
        if self.on_applied is not None:
            self.on_applied(applied or AppliedEntry(1, 0, 0))
        self.future.set_result([result_for(command) for command in self.commands])


@dataclass
class FakeRaft:
    """What GroupCommitter needs of `RaftNode`: `propose(payload) -> Future` and `is_leader`."""

    is_leader: bool = True
    proposals: list[Proposal] = field(default_factory=list)
    most_outstanding: int = 0

    def propose(
        self, payload: bytes, on_applied: Callable[[AppliedEntry], None] | None = None
    ) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if not self.is_leader:  # as RaftNode: refused before anything is proposed
            future.set_exception(NotLeader("not the leader", leader_hint="10.0.0.9:8080"))
            return future
        self.proposals.append(Proposal(payload, future, on_applied))
        self.most_outstanding = max(self.most_outstanding, len(self.outstanding))
        return future

    @property
    def outstanding(self) -> list[Proposal]:
        return [proposal for proposal in self.proposals if not proposal.future.done()]


@dataclass
class Harness:
    raft: FakeRaft
    clock: FakeClock
    committer: GroupCommitter

    def submit(self, command: AnyCommand) -> asyncio.Task[CommandResult]:
        return asyncio.create_task(self.committer.submit(command))

    def submit_stats(self, *numbers: int) -> list[asyncio.Task[CommandResult]]:
        return [self.submit(stats_command(number)) for number in numbers]


async def settle() -> None:
    """Let every ready task run until the loop is idle (yields only; no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def running(
    orphaned: Orphaned | None = None, offset_file: Path | None = None, **settings: Any
) -> AsyncIterator[Harness]:
    """A committer on a fake clock; with `offset_file`, seen through the chaos suite's fault
    clock (`OffsetClock`, re-read every 100 ms), as `clock_from_environment` sets it up."""
    raft = FakeRaft()
    clock = FakeClock(START_MS)
    seen = clock if offset_file is None else OffsetClock(offset_file, clock, reread_ms=100)
    # The fake has the one method GroupCommitter calls; the cast says so to the type checker.
    committer = GroupCommitter(
        cast(RaftNode, raft), LeaderClock(seen), GroupCommitSettings(**settings), orphaned=orphaned
    )
    runner = asyncio.create_task(committer.run())
    try:
        yield Harness(raft, clock, committer)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await committer.close()


# --- batching ------------------------------------------------------------------------------------


async def test_requests_submitted_together_become_one_proposal() -> None:
    async with running() as harness:
        # Given five requests submitted in the same turn of the loop
        tasks = harness.submit_stats(0, 1, 2, 3, 4)
        # When the committer runs
        await settle()
        # Then they went out as one entry, in order
        assert [p.queues for p in harness.raft.proposals] == [["q0", "q1", "q2", "q3", "q4"]]
        harness.raft.proposals[0].commit()
        assert [(await task) for task in tasks] == [result_for(stats_command(i)) for i in range(5)]


async def test_requests_arriving_while_the_only_slot_is_busy_go_out_together_next() -> None:
    async with running(max_in_flight=1) as harness:
        # Given one proposal in flight, holding the only slot
        first = harness.submit_stats(0)
        await settle()
        # When four more requests arrive, one by one, while it is in flight
        later = []
        for number in (1, 2, 3, 4):
            later += harness.submit_stats(number)
            await settle()
        assert len(harness.raft.proposals) == 1
        # Then, once the first commits, the four go out together
        harness.raft.proposals[0].commit()
        await settle()
        assert [p.queues for p in harness.raft.proposals] == [["q0"], ["q1", "q2", "q3", "q4"]]
        harness.raft.proposals[1].commit()
        assert (await first[0]) == result_for(stats_command(0))
        assert [(await task) for task in later] == [
            result_for(stats_command(i)) for i in (1, 2, 3, 4)
        ]
        assert (harness.committer.stats.proposals, harness.committer.stats.commands) == (2, 5)
        assert harness.committer.stats.batch_sizes == [1, 4]


async def test_each_caller_gets_the_result_of_its_own_command() -> None:
    async with running() as harness:
        # Given three requests in one proposal
        tasks = harness.submit_stats(7, 3, 5)
        await settle()
        # When the entry commits with one result per command
        harness.raft.proposals[0].commit()
        # Then each caller gets the result at its own position
        results = [await task for task in tasks]
        assert [r.visible for r in results if isinstance(r, QueueStats)] == [7, 3, 5]


async def test_max_commands_splits_a_backlog_into_several_proposals() -> None:
    async with running(max_commands=2) as harness:
        # Given five requests submitted together and at most two commands per entry
        tasks = harness.submit_stats(0, 1, 2, 3, 4)
        # When the committer runs
        await settle()
        # Then they go out as 2 + 2 + 1, in order
        assert [p.queues for p in harness.raft.proposals] == [["q0", "q1"], ["q2", "q3"], ["q4"]]
        for proposal in harness.raft.proposals:
            proposal.commit()
        assert [(await task) for task in tasks] == [result_for(stats_command(i)) for i in range(5)]


def send_command(number: int, body_bytes: int) -> SendMessages:
    entry = SendEntry(entry_id=f"e{number}", body=b"x" * body_bytes)
    return SendMessages(now_ms=0, queue=f"q{number}", entries=(entry,))


async def test_max_bytes_splits_a_backlog_by_encoded_size() -> None:
    # The estimate is the encoded command's real length (it was a guess from the bodies' sizes
    # before entries carried encoded commands), so the sizes here changed with it.
    async with running(max_bytes=2_000) as harness:
        # Given sends of which two fit in 2000 bytes and three do not
        commands = [send_command(number, 800) for number in range(5)]
        cost = estimated_bytes(codec.encode(commands[0]))
        assert cost - len(codec.encode(commands[0])) <= 5  # the bin header, nothing more
        assert 2 * cost <= 2_000 < 3 * cost
        # When five are submitted together
        for command in commands:
            harness.submit(command)
        await settle()
        # Then each entry carries two of them at most, and its bytes are within max_bytes
        assert [p.queues for p in harness.raft.proposals] == [["q0", "q1"], ["q2", "q3"], ["q4"]]
        assert all(len(p.payload) <= 2_000 for p in harness.raft.proposals)


async def test_a_command_larger_than_max_bytes_goes_out_alone() -> None:
    async with running(max_bytes=2_000) as harness:
        # Given a send larger than max_bytes on its own, between two small ones
        for command in (send_command(0, 10), send_command(1, 5_000), send_command(2, 10)):
            harness.submit(command)
        # When the committer runs
        await settle()
        # Then the large one is proposed by itself rather than never
        assert [p.queues for p in harness.raft.proposals] == [["q0"], ["q1"], ["q2"]]


async def test_a_caller_that_gave_up_before_its_batch_left_is_not_proposed() -> None:
    async with running(max_in_flight=1) as harness:
        # Given a busy slot and two waiting requests, the first of which is cancelled
        harness.submit_stats(0)
        await settle()
        gave_up, waiting = harness.submit_stats(1, 2)
        await settle()
        gave_up.cancel()
        await settle()
        # When the slot frees
        harness.raft.proposals[0].commit()
        await settle()
        # Then only the request still waiting is proposed
        assert harness.raft.proposals[1].queues == ["q2"]
        harness.raft.proposals[1].commit()
        assert (await waiting) == result_for(stats_command(2))


async def test_a_caller_gone_after_its_command_was_proposed_has_its_result_handed_over() -> None:
    # Given a request proposed, whose caller then gives up (its connection went away)
    handed: list[tuple[bytes, CommandResult]] = []
    async with running(orphaned=lambda command, result: handed.append((command, result))) as h:
        [gone] = h.submit_stats(7)
        await settle()
        gone.cancel()
        await settle()
        # When the entry commits anyway
        h.raft.proposals[0].commit()
        await settle()
        # Then its result goes to `orphaned`, with the command it answers
        [(command, result)] = handed
        assert codec.decode_command(command) == stats_command(7)
        assert result == result_for(stats_command(7))


async def test_beyond_max_waiting_a_command_is_refused_at_once_as_overloaded() -> None:
    async with running(max_in_flight=1, max_waiting=3) as harness:
        # Given a busy slot and three commands waiting: the most allowed
        harness.submit_stats(0)
        await settle()
        waiting = harness.submit_stats(1, 2, 3)
        await settle()
        # When one more arrives, it is refused without being proposed
        [refused] = harness.submit_stats(4)
        await settle()
        assert isinstance(refused.exception(), Overloaded)
        # And the waiting ones still go out once the slot frees
        harness.raft.proposals[0].commit()
        await settle()
        assert harness.raft.proposals[1].queues == ["q1", "q2", "q3"]
        harness.raft.proposals[1].commit()
        assert [await task for task in waiting] == [result_for(stats_command(i)) for i in (1, 2, 3)]


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        NotLeader("lost leadership", leader_hint="10.0.0.2:8080"),
        OutcomeUnknown("leader changed"),
        Overloaded("queue full"),
    ],
    ids=["not-leader", "outcome-unknown", "overloaded"],
)
async def test_a_failed_proposal_fails_every_caller_in_it(error: RaftqError) -> None:
    async with running() as harness:
        # Given three requests in one proposal
        tasks = harness.submit_stats(0, 1, 2)
        await settle()
        # When the proposal fails
        harness.raft.proposals[0].future.set_exception(error)
        # Then every caller gets that error
        for task in tasks:
            with pytest.raises(type(error)) as caught:
                await task
            assert caught.value is error
        # And the committer goes on: the next request is proposed and answered
        (next_task,) = harness.submit_stats(3)
        await settle()
        harness.raft.proposals[1].commit()
        assert (await next_task) == result_for(stats_command(3))


async def test_a_request_on_a_node_that_is_not_the_leader_fails_with_the_hint() -> None:
    async with running() as harness:
        # Given a node that lost leadership
        harness.raft.is_leader = False
        # When a request is submitted, then it fails with NotLeader naming the leader
        (task,) = harness.submit_stats(0)
        with pytest.raises(NotLeader) as caught:
            await task
        assert caught.value.leader_hint == "10.0.0.9:8080"


async def test_a_proposal_that_does_not_commit_in_time_is_an_unknown_outcome() -> None:
    # The one test that lets real time pass: the timeout is asyncio's (10 ms here).
    async with running(propose_timeout_s=0.01) as harness:
        # Given two requests whose entry never commits
        tasks = harness.submit_stats(0, 1)
        # When the proposal timeout passes
        # Then both callers learn the outcome is unknown (the entry may still commit)
        for task in tasks:
            with pytest.raises(OutcomeUnknown):
                await task
        # And the slot is free again for the next request
        (next_task,) = harness.submit_stats(2)
        await settle()
        harness.raft.proposals[-1].commit()
        assert (await next_task) == result_for(stats_command(2))


@pytest.mark.parametrize(
    "outcome", [None, "oops", []], ids=["nothing", "not-a-list", "wrong-length"]
)
async def test_an_apply_outcome_of_the_wrong_shape_fails_every_caller(outcome: object) -> None:
    async with running() as harness:
        tasks = harness.submit_stats(0, 1)
        await settle()
        harness.raft.proposals[0].future.set_result(outcome)
        for task in tasks:
            with pytest.raises(InternalError):
                await task


async def test_close_fails_waiting_and_in_flight_callers_as_unknown_outcomes() -> None:
    # Regression: close() cancelled the in-flight proposals but never settled their callers,
    # who then waited forever.
    async with running(max_in_flight=1) as harness:
        # Given one request in flight and one waiting for the slot
        in_flight = harness.submit_stats(0)
        await settle()
        waiting = harness.submit_stats(1)
        await settle()
        assert [p.queues for p in harness.raft.proposals] == [["q0"]]
        # When the committer is closed
        await harness.committer.close()
        await settle()
        # Then both callers are told the outcome is unknown
        for task in (in_flight[0], waiting[0]):
            assert task.done()
            with pytest.raises(OutcomeUnknown):
                await task


# --- flow control and time -----------------------------------------------------------------------


async def test_at_most_max_in_flight_proposals_are_outstanding() -> None:
    async with running(max_in_flight=2, max_commands=1) as harness:
        # Given six requests submitted together, one command per entry, two entries in flight
        tasks = harness.submit_stats(0, 1, 2, 3, 4, 5)
        await settle()
        # When proposals commit one at a time
        assert len(harness.raft.outstanding) == 2
        while harness.raft.outstanding:
            harness.raft.outstanding[0].commit()
            await settle()
            assert len(harness.raft.outstanding) <= 2
        # Then all six were proposed, never more than two at once, and all answered
        assert [p.queues for p in harness.raft.proposals] == [[f"q{i}"] for i in range(6)]
        assert harness.raft.most_outstanding == 2
        assert [(await task) for task in tasks] == [result_for(stats_command(i)) for i in range(6)]


async def test_commands_are_stamped_with_the_clock_and_time_never_goes_back() -> None:
    async with running(max_in_flight=1) as harness:

        async def proposed_now_ms() -> list[int]:
            harness.submit_stats(0, 1)
            await settle()
            proposal = harness.raft.proposals[-1]
            proposal.commit()
            await settle()
            return [command.now_ms for command in proposal.commands]

        # Given a leader clock at START_MS, then later, then stepped back by a second
        assert await proposed_now_ms() == [START_MS, START_MS]
        harness.clock.advance(250)
        assert await proposed_now_ms() == [START_MS + 250, START_MS + 250]
        # When the wall clock steps back
        harness.clock.set_wall_ms(START_MS - 1_000)
        # Then commands keep the latest time stamped so far
        assert await proposed_now_ms() == [START_MS + 250, START_MS + 250]
        # And move on once the clock, running on, passes it again
        harness.clock.advance(1_300)
        assert await proposed_now_ms() == [START_MS + 300, START_MS + 300]


async def test_the_fault_clock_s_step_of_an_hour_moves_stamps_by_monotonic_time_only(
    tmp_path: Path,
) -> None:
    offset_file = tmp_path / "offset"
    async with running(offset_file=offset_file) as harness:

        async def stamped_ms() -> int:
            harness.submit_stats(0)
            await settle()
            proposal = harness.raft.proposals[-1]
            proposal.commit()
            await settle()
            return proposal.commands[0].now_ms

        # Given a leader stamping its wall time
        assert await stamped_ms() == START_MS
        # When the chaos suite's clock-skew fault puts its wall clock an hour ahead
        offset_file.write_text(str(HOUR_MS))
        harness.clock.advance(100)
        # Then its entries' time moves by the allowance, then as its monotonic clock does
        first_ms = await stamped_ms()
        assert first_ms == START_MS + 100 + ALLOWANCE_MS
        harness.clock.advance(2_000)
        assert await stamped_ms() == first_ms + 2_000 + 2_000 // CATCH_UP_DIVISOR
        highest_ms = first_ms + 2_000 + 2_000 // CATCH_UP_DIVISOR
        # And when the fault is healed, time holds (never back), then is wall time again
        offset_file.unlink()
        harness.clock.advance(100)
        assert await stamped_ms() == highest_ms
        harness.clock.advance(1_000)
        assert await stamped_ms() == harness.clock.now_ms()


# --- receives riding along (riders.py) -------------------------------------------------------


def _encoded(number: int) -> bytes:
    return codec.encode(stats_command(number))


async def test_a_parked_receive_rides_in_the_entry_that_wakes_its_queue_after_the_waker() -> None:
    async with running() as harness:
        # Given receives parked on q1 and q2
        rider = harness.committer.riders.park("q1", _encoded(1))
        other = harness.committer.riders.park("q2", _encoded(2))
        # When a command that makes one message of q1 visible is committed, and one of q3
        waker = asyncio.create_task(harness.committer.submit_encoded(_encoded(7), ("q1", 1)))
        plain = asyncio.create_task(harness.committer.submit_encoded(_encoded(3)))
        await settle()
        # Then the q1 receive went out in the same entry, after the waker; q2's stays parked
        assert [p.queues for p in harness.raft.proposals] == [["q7", "q3", "q1"]]
        harness.raft.proposals[0].commit()
        assert await rider == result_for(stats_command(1))
        assert await waker == result_for(stats_command(7)) and await plain
        assert not other.done() and harness.committer.riders.unpark("q2", other)


async def test_no_more_receives_ride_than_the_entry_makes_messages_visible() -> None:
    async with running() as harness:
        riders = [harness.committer.riders.park("q1", _encoded(1)) for _ in range(3)]
        harness.committer.riders.park("q1", _encoded(1)).cancel()  # its caller gave up
        waker = asyncio.create_task(harness.committer.submit_encoded(_encoded(7), ("q1", 2)))
        await settle()
        assert [p.queues for p in harness.raft.proposals] == [["q7", "q1", "q1"]]
        harness.raft.proposals[0].commit()
        await waker
        assert [r.done() for r in riders] == [True, True, False]  # oldest first
        # A receive taken by an entry can no longer be taken back; a parked one can
        assert not harness.committer.riders.unpark("q1", riders[0])
        assert harness.committer.riders.unpark("q1", riders[2])


async def test_parked_receives_fail_as_unknown_when_the_committer_closes() -> None:
    async with running() as harness:
        rider = harness.committer.riders.park("q1", _encoded(1))
    with pytest.raises(OutcomeUnknown):
        await rider

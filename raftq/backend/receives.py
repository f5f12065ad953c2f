"""Receives on the leader: a receive that finds nothing writes no log entry; long polls.

A receive goes through the log (group commit), as every queue operation does, whenever it may
hand out a message or change replicated state: leases, receipt handles, dead-letter moves,
FIFO group locks, attempt records and due transitions are all decided by a committed entry.
Only the receive that would find nothing and do nothing (empty_receive.py) is answered from the
leader's applied state, in three steps:
1. look at the applied state: anything to hand out or to do sends the receive to the log at
   once (no wait for a confirmation it would not use);
2. confirm leadership with a read index (raft/read_index.py: one heartbeat round, no entry);
3. look again, now that the state is known to hold every write acknowledged before the
   receive arrived, and answer from it (or use the log if something arrived meanwhile).
A leader that cannot confirm (it lost its majority, or was deposed while paused) sends the
receive to the log, which answers as it always did (`NotLeader`, `OutcomeUnknown`, or a
result). The answer carries `next_visible_at_ms`, so a long poll sleeps until then.

State is read under the machine's lock, between two applied entries: on the event loop when
the lock is free (a few RocksDB reads), in a worker thread when an entry or a snapshot holds it.

Long polls wait on `LongPollWaiters`: a commit that made n messages visible wakes at most n of
them (`notify_commit`); a woken poller that finds nothing answers itself from the state again
and goes back to waiting. Polls end at their deadline, or when this member stops leading
(`watch_leadership` wakes them all; each answers what it has and the client asks the leader).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from raftq.backend.empty_receive import empty_receive
from raftq.backend.group_commit import GroupCommitter
from raftq.backend.long_poll import LongPollWaiters
from raftq.backend.raft_machine import QueueRaftMachine
from raftq.backend.state_machine import QueueStateMachine
from raftq.common import codec
from raftq.common.clock import Clock
from raftq.common.commands import (
    AcceptDeadLetters,
    AnyCommand,
    ChangeVisibility,
    FinishTasks,
    ReceiveMessages,
    ReleaseDeadLetters,
    SendMessages,
)
from raftq.common.encoded_command import EncodedCommand, dead_letters_made_visible
from raftq.common.results import (
    BatchResult,
    CommandResult,
    ReceiveResult,
    SendResult,
)
from raftq.common.tasks_wire import TaskOutcome
from raftq.raft.node import RaftNode

# How often a leader checks that it still leads, to end its long polls when it does not.
LEADERSHIP_CHECK_S = 0.1


# Commands that can make messages visible at once, and so wake long polls of their queue.
_WAKING = SendMessages | ChangeVisibility | FinishTasks | AcceptDeadLetters | ReleaseDeadLetters


@dataclass
class ReceiveStats:
    answered_from_state: int = 0  # empty receives that wrote no entry
    through_log: int = 0  # receives proposed as commands
    unconfirmed: int = 0  # empty receives sent to the log because leadership was not confirmed
    rode_along: int = 0  # long polls answered by a receive in the entry that woke them


def visible_count(command: AnyCommand, result: CommandResult, now_ms: int) -> int:
    """How many messages a committed command made visible at once (an upper bound: a send
    without its own delay counts even if the queue's delay holds it back)."""
    if isinstance(command, SendMessages) and isinstance(result, SendResult):
        stored = {sent.entry_id for sent in result.sent if not sent.duplicate}
        return sum(
            1
            for entry in command.entries
            if entry.entry_id in stored
            and (
                entry.deliver_at_ms <= now_ms
                if entry.deliver_at_ms is not None
                else not entry.delay_ms
            )
        )
    if isinstance(command, ChangeVisibility) and isinstance(result, BatchResult):
        succeeded = set(result.succeeded)
        return sum(
            1
            for entry in command.entries
            if entry.entry_id in succeeded and entry.visibility_timeout_ms == 0
        )
    if isinstance(command, FinishTasks) and isinstance(result, BatchResult):
        succeeded = set(result.succeeded)  # a retry wakes a poll even when delayed (see peek)
        return sum(
            1
            for entry in command.entries
            if entry.entry_id in succeeded
            and entry.outcome in (TaskOutcome.RETRY, TaskOutcome.RELEASED)
        )
    return dead_letters_made_visible(result)


class Receiver:
    def __init__(
        self,
        raft: RaftNode,
        machine: QueueRaftMachine,
        committer: GroupCommitter,
        clock: Clock,
        confirm_timeout_s: float,
    ) -> None:
        self._raft = raft
        self._machine = machine
        self._committer = committer
        self._clock = clock
        self._confirm_timeout_s = confirm_timeout_s
        self.waiters = LongPollWaiters()
        self.stats = ReceiveStats()

    async def receive(self, command: ReceiveMessages, wait_ms: int) -> CommandResult:
        generation = self.waiters.generation(command.queue)
        result = await self._receive_once(command)
        deadline_ms = self._clock.monotonic_ms() + wait_ms
        encoded = codec.encode(command) if wait_ms > 0 else b""
        while isinstance(result, ReceiveResult) and not result.messages:
            remaining_ms = deadline_ms - self._clock.monotonic_ms()
            if remaining_ms <= 0:
                break
            if result.next_visible_at_ms is not None:
                due_in_ms = max(result.next_visible_at_ms - self._clock.now_ms(), 1)
                remaining_ms = min(remaining_ms, due_in_ms)
            rode = await self._wait_or_ride(command.queue, encoded, remaining_ms, generation)
            if rode is not None:
                self.stats.rode_along += 1
                result = rode
                continue
            if not self._raft.is_leader:
                break  # answer what we have; the client polls the new leader next
            generation = self.waiters.generation(command.queue)
            result = await self._receive_once(command)
        return result

    async def _wait_or_ride(
        self, queue: str, encoded: bytes, remaining_ms: int, generation: int
    ) -> CommandResult | None:
        """Wait for a wake-up with the receive parked (riders.py): its result if an entry took
        it along, else None (woken, or the time is up). The poll joins the waiters and parks in
        one step, so both keep the same order, oldest first: the polls an entry takes along are
        the ones its commit wakes, and no other poll is woken for messages they took."""
        woken = self.waiters.register(queue, generation)
        if woken is None:
            return None  # notified since it looked: look again
        riders = self._committer.riders
        rider = riders.park(queue, encoded)
        try:
            await asyncio.wait(
                (woken, rider), timeout=remaining_ms / 1000, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            if not riders.unpark(queue, rider):
                rider.cancel()  # taken: its result goes to the orphan handler, not to nobody
            self.waiters.forget(queue, woken, pass_on=True)
            raise
        taken = rider.done() or not riders.unpark(queue, rider)
        # A wake-up it got is its own: the poll looks again (not taken), or it was sent by the
        # messages of the entry that took it along. (One sent by another command's messages in
        # the moment before that entry committed is used up by it: those messages then wait
        # for the next poll, at most its wait time.)
        self.waiters.forget(queue, woken)
        return await rider if taken else None

    def notify_commit(self, command: AnyCommand | EncodedCommand, result: CommandResult) -> None:
        """Wake as many long polls of the command's queue as it made messages visible."""
        now_ms = self._clock.now_ms()
        if isinstance(command, EncodedCommand):
            count, queue = command.visible_count(result, now_ms), command.queue
        else:
            count = visible_count(command, result, now_ms)
            waking = (
                SendMessages
                | ChangeVisibility
                | FinishTasks
                | AcceptDeadLetters
                | ReleaseDeadLetters
            )
            queue = command.queue if isinstance(command, waking) else None
        if count and queue is not None:
            self.waiters.notify(queue, count)

    async def watch_leadership(self) -> None:
        """While receives wait here, check every `LEADERSHIP_CHECK_S` that this node still
        leads, and end them when it does not (an idle node does not wake for this)."""
        while True:
            await self.waiters.someone_waits()
            await asyncio.sleep(LEADERSHIP_CHECK_S)
            if not self._raft.is_leader:
                self.waiters.wake_all()

    async def _receive_once(self, command: ReceiveMessages) -> CommandResult:
        answer = await self._empty_answer(command)
        if answer is not None:
            self.stats.answered_from_state += 1
            return answer
        self.stats.through_log += 1
        return await self._committer.submit(command)

    async def _empty_answer(self, command: ReceiveMessages) -> ReceiveResult | None:
        if await self._read(command) is None:
            return None
        if not await self._confirmed():
            self.stats.unconfirmed += 1
            return None
        return await self._read(command)  # a read index reads after the confirmation

    async def _read(self, command: ReceiveMessages) -> ReceiveResult | None:
        now_ms = self._clock.now_ms()

        def reader(machine: QueueStateMachine) -> ReceiveResult | None:
            return empty_receive(machine, command, now_ms)

        idle, answer = self._machine.read_if_idle(reader)
        if idle:
            return answer
        return await asyncio.to_thread(self._machine.read, reader)

    async def _confirmed(self) -> bool:
        try:
            return await asyncio.wait_for(self._raft.confirm_leadership(), self._confirm_timeout_s)
        except TimeoutError:
            return False

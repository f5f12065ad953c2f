"""One backend replica: Raft member, queue state machine, group commit, long polls, expiry.

Only the leader executes commands; a follower answers `NotLeader` with the leader's API address.
Receives, and the long polls they may start, are receives.py's: an empty one writes no entry.
Commands from the channel arrive encoded (`execute_encoded`) and go into the log as they are:
only receives are decoded here, because deciding an empty receive needs the typed command.
Messages a receive leased after its caller was gone are released at once (orphans.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from raftq.backend.group_commit import GroupCommitter, Wakes
from raftq.backend.long_poll import LongPollWaiters
from raftq.backend.orphans import release_of
from raftq.backend.raft_machine import QueueRaftMachine
from raftq.backend.receives import Receiver
from raftq.backend.state_directory import StateDirectory
from raftq.backend.task_metrics import TaskMetrics
from raftq.common import codec
from raftq.common.clock import Clock
from raftq.common.commands import AnyCommand, ChangeVisibility, Expire, ReceiveMessages
from raftq.common.encoded_command import EncodedCommand, peek
from raftq.common.errors import DecodeError, NotLeader, RaftqError
from raftq.common.leader_clock import AppliedTime, LeaderClock
from raftq.common.results import CommandResult, ExpireResult
from raftq.common.settings import BackendNodeSettings
from raftq.raft.node import RaftNode

log = logging.getLogger(__name__)


class BackendNode:
    def __init__(self, settings: BackendNodeSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        store = settings.store
        self.task_metrics = TaskMetrics()
        self.machine = QueueRaftMachine(
            StateDirectory(store.path, store),
            store,
            settings.due_transitions_per_entry,
            on_task_events=self.task_metrics.observe,
            command_level=settings.max_command_level,
        )
        applied = AppliedTime(clock)
        # Clients read only from the leader: followers learn commits with the next message.
        self.raft = RaftNode(
            settings.raft,
            self.machine,
            settings.members,
            join=settings.join,
            announce_commits=False,
            on_applied=lambda: applied.observe(self.machine.machine.clock_ms),
        )
        self.committer = GroupCommitter(
            self.raft,
            LeaderClock(clock, applied, term=lambda: int(self.raft.raftCurrentTerm)),
            settings.group_commit,
            orphaned=self._release_orphaned,
            entry_level=lambda: self.raft.command_level,
        )
        # What the leader does by time (empty receives, long polls, the expiry sweep) goes by
        # the time it stamps, so a step of its wall clock moves none of them ahead.
        self.leader_clock = self.committer.leader_clock
        # A confirmation that takes longer than this means no majority answers: use the log.
        confirm_timeout_s = 2 * settings.timings.election_timeout_min_s
        self.receiver = Receiver(
            self.raft, self.machine, self.committer, self.leader_clock, confirm_timeout_s
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._releases: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.committer.run(), name="group-commit"),
            asyncio.create_task(self._expire_loop(), name="expire"),
            asyncio.create_task(self.receiver.watch_leadership(), name="long-poll-leadership"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.committer.close()
        self.raft.destroy()
        with self.machine.lock:
            self.machine.close()

    @property
    def leader_api_address(self) -> str | None:
        return self.raft.api_address_of(self.raft.leader)

    @property
    def waiters(self) -> LongPollWaiters:
        return self.receiver.waiters

    async def execute(self, command: AnyCommand, wait_ms: int = 0) -> CommandResult:
        if not self.raft.is_leader:
            raise NotLeader("this node is not the leader", leader_hint=self.leader_api_address)
        if isinstance(command, ReceiveMessages):
            return await self.receiver.receive(command, wait_ms)
        encoded = peek(codec.encode(command))
        result = await self.committer.submit_encoded(
            encoded.raw, self._wakes(encoded), kind=command.kind
        )
        self.receiver.notify_commit(command, result)
        return result

    async def execute_encoded(self, command: EncodedCommand, wait_ms: int = 0) -> CommandResult:
        """`execute` for a command as its sender encoded it: logged without being validated here
        (apply validates it), except a receive, which is decoded to be decided (receives.py)."""
        if not self.raft.is_leader:
            raise NotLeader("this node is not the leader", leader_hint=self.leader_api_address)
        if command.kind == "receive":
            # Stamped now, as the channel's commands need carry no time of their own.
            receive = codec.decode_command(command.raw, now_ms=self.leader_clock.now_ms())
            if not isinstance(receive, ReceiveMessages):  # peek read the same kind
                raise DecodeError("not a receive command", raw=command.raw, field="command.kind")
            return await self.receiver.receive(receive, wait_ms)
        result = await self.committer.submit_encoded(
            command.raw, self._wakes(command), kind=command.kind
        )
        self.receiver.notify_commit(command, result)
        return result

    def _wakes(self, command: EncodedCommand) -> Wakes | None:
        """The queue whose parked receives may ride with `command`, and how many (riders.py)."""
        if command.queue is None or not command.releases:
            return None
        now_ms = self.leader_clock.now_ms()
        count = sum(1 for _, at_ms in command.releases if at_ms <= now_ms)
        return (command.queue, count) if count else None

    def _release_orphaned(self, command: bytes, result: CommandResult) -> None:
        """A command committed after its caller gave up: give back what a receive leased."""
        release = release_of(command, result)
        if release is None:
            return
        task = asyncio.create_task(self._release(release))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, release: ChangeVisibility) -> None:
        try:
            result = await self.committer.submit(release)
        except RaftqError as error:  # the lease then ends at its visibility timeout
            log.info(
                "could not release messages leased to a caller that was gone: %s",
                error,
                extra={"event": "release_failed", "error": error},
            )
            return
        self.receiver.notify_commit(release, result)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.expire_interval_s)
            if not self.raft.is_leader:
                continue
            due_ms = await asyncio.to_thread(self.machine.next_due_ms)
            if due_ms is None or due_ms > self.leader_clock.now_ms():
                continue  # nothing is due: an idle cluster writes nothing
            command = Expire(now_ms=0, max_transitions=self.settings.expire_sweep_transitions)
            try:
                result = await self.committer.submit(command)
                while isinstance(result, ExpireResult) and result.more and self.raft.is_leader:
                    result = await self.committer.submit(command)
            except RaftqError as error:
                log.info(
                    "expire sweep did not complete: %s",
                    error,
                    extra={"event": "expire_sweep_failed", "error": error},
                )

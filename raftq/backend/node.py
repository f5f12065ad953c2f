"""One backend replica: Raft member, queue state machine, group commit, long polls, expiry.

Only the leader executes commands; a follower answers `NotLeader` with the leader's API address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from raftq.backend.group_commit import GroupCommitter
from raftq.backend.long_poll import LongPollWaiters
from raftq.backend.raft_machine import QueueRaftMachine
from raftq.backend.state_directory import StateDirectory
from raftq.common.clock import Clock
from raftq.common.commands import (
    AnyCommand,
    ChangeVisibility,
    Expire,
    ReceiveMessages,
    SendMessages,
)
from raftq.common.errors import NotLeader, RaftqError
from raftq.common.results import BatchResult, CommandResult, ExpireResult, ReceiveResult, SendResult
from raftq.common.settings import BackendNodeSettings
from raftq.raft.node import RaftNode

log = logging.getLogger(__name__)


class BackendNode:
    def __init__(self, settings: BackendNodeSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        store = settings.store
        self.machine = QueueRaftMachine(StateDirectory(store.path, store), store)
        self.raft = RaftNode(settings.raft, self.machine, settings.api_address_of)
        self.committer = GroupCommitter(self.raft, clock, settings.group_commit)
        self.waiters = LongPollWaiters()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.committer.run(), name="group-commit"),
            asyncio.create_task(self._expire_loop(), name="expire"),
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
        return self.settings.api_address_of(self.raft.leader)

    async def execute(self, command: AnyCommand, wait_ms: int = 0) -> CommandResult:
        if not self.raft.is_leader:
            raise NotLeader("this node is not the leader", leader_hint=self.leader_api_address)
        result = await self.committer.submit(command)
        self._wake_waiters(command, result)
        if isinstance(command, ReceiveMessages) and wait_ms > 0:
            return await self._long_poll(command, result, wait_ms)
        return result

    async def _long_poll(
        self, command: ReceiveMessages, result: CommandResult, wait_ms: int
    ) -> CommandResult:
        deadline_ms = self.clock.monotonic_ms() + wait_ms
        while isinstance(result, ReceiveResult) and not result.messages:
            remaining_ms = deadline_ms - self.clock.monotonic_ms()
            if remaining_ms <= 0:
                break
            if result.next_visible_at_ms is not None:
                due_in_ms = max(result.next_visible_at_ms - self.clock.now_ms(), 1)
                remaining_ms = min(remaining_ms, due_in_ms)
            await self.waiters.wait(command.queue, remaining_ms / 1000)
            if not self.raft.is_leader:
                break  # answer what we have; the client polls the new leader next
            result = await self.committer.submit(command)
        return result

    def _wake_waiters(self, command: AnyCommand, result: CommandResult) -> None:
        made_visible = (
            isinstance(command, SendMessages)
            and isinstance(result, SendResult)
            and any(not sent.duplicate for sent in result.sent)
        ) or (
            isinstance(command, ChangeVisibility)
            and isinstance(result, BatchResult)
            and bool(result.succeeded)
        )
        if made_visible and isinstance(command, SendMessages | ChangeVisibility):
            self.waiters.notify(command.queue)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.expire_interval_s)
            if not self.raft.is_leader:
                continue
            due_ms = await asyncio.to_thread(self.machine.next_due_ms)
            if due_ms is None or due_ms > self.clock.now_ms():
                continue  # nothing is due: an idle cluster writes nothing
            command = Expire(now_ms=0, max_transitions=self.settings.expire_max_transitions)
            try:
                result = await self.committer.submit(command)
                while isinstance(result, ExpireResult) and result.more and self.raft.is_leader:
                    result = await self.committer.submit(command)
            except RaftqError as error:
                log.info("expire sweep did not complete: %s", error)

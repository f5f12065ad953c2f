"""Group commit: concurrent requests on the leader become one Raft entry.

Requests wait in a list as encoded commands: the channel's bytes as the frontend encoded them
(`submit_encoded`), or a typed command encoded once here (`submit`: expiry, receives, HTTP).
Whenever a proposal slot is free, the committer takes as many as fit (`max_commands`, and
`max_bytes` of encoded size so entries stay small), proposes them as
one v2 entry stamped once with the leader's time (`codec.encode_entry`: the commands' bytes are
copied in, never decoded or validated here), and hands each request its own result. The leader's
time is a `LeaderClock` (common/leader_clock.py): wall time that a step of the wall clock does
not move ahead of the monotonic clock; the node reads the same one (`leader_clock`). Up to
`max_in_flight` entries are in the log at once; while they are, new requests gather for the
next one, so batches grow exactly when the leader is busy.

A proposal that times out or loses leadership fails every request in it with `OutcomeUnknown`
(the entry may still commit); a request refused before proposing fails with `NotLeader`.

Backpressure: at most `max_waiting` commands wait for a slot; one more is refused at once with
`Overloaded` (nothing proposed: retry later). A caller that gave up (its task cancelled: the
client's connection went away) before its command was taken is dropped unproposed; one whose
command committed after it gave up has its result handed to `orphaned`, so that, for example,
messages a receive leased to nobody are released at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from raftq.backend import leader_spans
from raftq.backend.leader_spans import Arrival
from raftq.backend.riders import Riders
from raftq.common import codec
from raftq.common.command_levels import UNADVERTISED_LEVEL
from raftq.common.commands import AnyCommand
from raftq.common.errors import InternalError, OutcomeUnknown, Overloaded, RaftqError
from raftq.common.leader_clock import LeaderClock
from raftq.common.results import CommandResult
from raftq.common.settings import GroupCommitSettings
from raftq.raft.node import AppliedEntry, RaftNode

# An entry's own bytes around its commands: a map of `v`, `now_ms` and the array header.
_ENTRY_OVERHEAD_BYTES = 32
# The msgpack bin header in front of each command: 5 bytes at most (bin 32).
_COMMAND_HEADER_BYTES = 5


def estimated_bytes(command: bytes) -> int:
    """What an encoded command adds to a v2 entry (exact, or up to 3 bytes over)."""
    return len(command) + _COMMAND_HEADER_BYTES


_Waiting = tuple[bytes, asyncio.Future[CommandResult]]
# A command that makes messages visible at once: (its queue, how many at most).
Wakes = tuple[str, int]


@dataclass
class CommitStats:
    proposals: int = 0
    commands: int = 0
    batch_sizes: list[int] = field(default_factory=list)  # the last 1000, for metrics
    proposals_by_format: dict[int, int] = field(default_factory=dict)  # entry version: count

    def record(self, size: int, entry_format: int | None = None) -> None:
        if entry_format is not None:
            count = self.proposals_by_format.get(entry_format, 0)
            self.proposals_by_format[entry_format] = count + 1
        self.proposals += 1
        self.commands += size
        self.batch_sizes.append(size)
        del self.batch_sizes[:-1000]


Orphaned = Callable[[bytes, CommandResult], None]


class GroupCommitter:
    def __init__(
        self,
        raft: RaftNode,
        leader_clock: LeaderClock,
        settings: GroupCommitSettings,
        orphaned: Orphaned | None = None,
        entry_level: Callable[[], int | None] = lambda: None,
    ) -> None:
        """`entry_level`: the level the group agrees on now (None: not known, as off the
        leader), read at each proposal; entries are written in its newest format."""
        self._raft = raft
        self._entry_level = entry_level
        self._orphaned = orphaned
        self.leader_clock = leader_clock
        self._settings = settings
        self._waiting: deque[
            tuple[bytes, asyncio.Future[CommandResult], Wakes | None, Arrival | None]
        ] = deque()
        self.riders = Riders()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = CommitStats()

    async def submit(self, command: AnyCommand) -> CommandResult:
        """Commit a typed command (its `now_ms` is replaced by the leader's)."""
        return await self.submit_encoded(codec.encode(command), kind=command.kind)

    async def submit_encoded(
        self, command: bytes, wakes: Wakes | None = None, kind: str = "command"
    ) -> CommandResult:
        """Commit a command encoded by `codec.encode`, as it is: apply validates it, and answers
        with a `Failure` for this command alone if it does not decode. `wakes`: the queue whose
        messages it makes visible at once, and how many at most (riders.py). With tracing on,
        the command's spans go under the call context bound now (leader_spans.py)."""
        if len(self._waiting) >= self._settings.max_waiting:
            raise Overloaded("the leader has too many commands waiting; retry in a second")
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((command, future, wakes, leader_spans.arrival(kind)))
        self._wake.set()
        return await future

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._slots.acquire()
                batch, arrivals = self._take_batch()
                if not batch:
                    self._slots.release()
                    break
                task = asyncio.create_task(self._propose(batch, arrivals))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _take_batch(self) -> tuple[list[_Waiting], list[Arrival | None]]:
        """The next entry's commands, and each one's arrival if it is traced."""
        batch: list[_Waiting] = []
        arrivals: list[Arrival | None] = []
        woken: dict[str, int] = {}
        size = _ENTRY_OVERHEAD_BYTES
        while self._waiting and len(batch) < self._settings.max_commands:
            command, future, wakes, arrived = self._waiting[0]
            cost = estimated_bytes(command)
            if batch and size + cost > self._settings.max_bytes:
                break
            self._waiting.popleft()
            if not future.done():  # the caller may have given up
                batch.append((command, future))
                arrivals.append(arrived)
                size += cost
                if wakes is not None:
                    woken[wakes[0]] = woken.get(wakes[0], 0) + wakes[1]
        for queue, count in woken.items():  # after the commands that wake them (riders.py)
            riders = self.riders.take(queue, count)
            batch += riders
            arrivals += [None] * len(riders)
        return batch, arrivals

    async def _propose(self, batch: list[_Waiting], arrivals: list[Arrival | None]) -> None:
        traced = any(arrivals)
        applied: list[AppliedEntry] = []
        try:
            payload = codec.encode_entry(
                self.leader_clock.now_ms(),
                [command for command, _ in batch],
                self._entry_level() or UNADVERTISED_LEVEL,
            )
            self.stats.record(len(batch), codec.entry_version(payload))
            proposed_ns = time.time_ns()
            # Only a traced entry asks for its apply times (a test's stand-in Raft need not).
            proposing = (
                self._raft.propose(payload, on_applied=applied.append)
                if traced
                else self._raft.propose(payload)
            )
            try:
                outcome = await asyncio.wait_for(proposing, self._settings.propose_timeout_s)
            except TimeoutError:
                raise OutcomeUnknown("the entry did not commit in time; it may still") from None
            if traced:
                leader_spans.record(arrivals, proposed_ns, applied[0] if applied else None)
                traced = False  # recorded: a failure found below is not the entry's
            if not isinstance(outcome, list) or len(outcome) != len(batch):
                raise InternalError(f"unexpected apply outcome {outcome!r}")
            for (command, future), result in zip(batch, outcome, strict=True):
                if not future.done():
                    future.set_result(result)
                elif self._orphaned is not None:  # its caller gave up after it was taken
                    self._orphaned(command, result)
        except RaftqError as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if traced:
                leader_spans.record(arrivals, time.time_ns(), None, error)
        except asyncio.CancelledError:  # close(): the entry may still commit
            for _, future in batch:
                if not future.done():
                    future.set_exception(OutcomeUnknown("the node is shutting down"))
            raise
        finally:
            self._slots.release()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for _, future, _, _ in self._waiting:
            if not future.done():
                future.set_exception(OutcomeUnknown("the node is shutting down"))
        self._waiting.clear()
        self.riders.fail_all(OutcomeUnknown("the node is shutting down"))

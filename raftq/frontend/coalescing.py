"""Concurrent batch commands for one queue, from different client requests, become one command.

Sends, deletes and visibility changes are batches of entries; the backend applies a batch's
entries in order, each with its own outcome. Requests for the same queue and of the same kind
that arrive while `max_in_flight` such commands are already on their way wait in a lane; when
one returns, the lane's waiting requests leave as one command (up to `max_entries` entries and
about `max_bytes` of bodies). Under load, commands grow exactly when the backend is busy; alone,
a request goes at once.

Each request keeps its own outcome: entries are renumbered in the joined command ("0", "1", …)
and the results are split back by those numbers. A failure of the whole command (queue moved,
not found, unknown outcome, unavailable) is every joined request's failure, and each handles it
as it would its own (a reroute, a retry with the same dedup ids). Entries keep their order, so
one request's entries are applied in its order; requests of one lane are applied in arrival
order. Receives are not joined: a long poll waits on its own.

The call context (common/call_context.py: request id, trace context) that a command carries to
the leader is its caller's, captured when it joins the lane (the task that sends the command is
not the caller's). A joined command carries the first caller's; with tracing on, it goes under
a `coalesce` span, child of the first caller's span and linked to every other caller's, so each
trace shows the command its request rode in.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.trace import SpanKind

from raftq.common import call_context, tracing
from raftq.common.call_context import CallContext
from raftq.common.commands import (
    AnyCommand,
    ChangeVisibility,
    DeleteEntry,
    DeleteMessages,
    SendEntry,
    SendMessages,
    VisibilityEntry,
)
from raftq.common.errors import InternalError, RaftqError
from raftq.common.limits import BATCH_ENTRIES_MAX
from raftq.common.results import BatchResult, CommandResult, EntryFailure, SendResult, SentMessage

Joinable = SendMessages | DeleteMessages | ChangeVisibility
Entry = SendEntry | DeleteEntry | VisibilityEntry
Execute = Callable[[AnyCommand], Awaitable[CommandResult]]

_ENTRY_OVERHEAD_BYTES = 128


_Waiting = tuple[Joinable, asyncio.Future[CommandResult], CallContext]


@dataclass
class _Lane:
    waiting: deque[_Waiting] = field(default_factory=deque)
    in_flight: int = 0


class Coalescer:
    def __init__(
        self,
        execute: Execute,
        *,
        max_in_flight: int = 2,
        max_entries: int = BATCH_ENTRIES_MAX,
        max_bytes: int = 32 * 1024,
        on_join: Callable[[int], None] = lambda requests: None,
    ) -> None:
        self._execute = execute
        self._on_join = on_join
        self._max_in_flight = max_in_flight
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lanes: dict[tuple[str, str], _Lane] = {}

    async def execute(self, command: AnyCommand) -> CommandResult:
        if not isinstance(command, SendMessages | DeleteMessages | ChangeVisibility):
            return await self._execute(command)
        key = (command.kind, command.queue)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        lane.waiting.append((command, future, call_context.current()))
        self._dispatch(key, lane)
        return await future

    def _dispatch(self, key: tuple[str, str], lane: _Lane) -> None:
        while lane.waiting and lane.in_flight < self._max_in_flight:
            joined = self._take(lane)
            if not joined:
                break
            lane.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(key, lane, joined))
            task.add_done_callback(_retrieve)
        if not lane.waiting and lane.in_flight == 0:
            self._lanes.pop(key, None)

    def _take(self, lane: _Lane) -> list[_Waiting]:
        taken: list[_Waiting] = []
        entries = size = 0
        while lane.waiting:
            command, future, context = lane.waiting[0]
            cost = _bytes(command)
            if taken and (
                entries + len(command.entries) > self._max_entries or size + cost > self._max_bytes
            ):
                break
            lane.waiting.popleft()
            if not future.done():  # the client may have gone
                taken.append((command, future, context))
                entries += len(command.entries)
                size += cost
        return taken

    async def _run(
        self,
        key: tuple[str, str],
        lane: _Lane,
        joined: list[_Waiting],
    ) -> None:
        try:
            if len(joined) == 1:
                command, future, context = joined[0]
                with call_context.bound(context):
                    outcome = await self._execute(command)
                _settle(future, outcome)
                return
            merged, origins = _join([command for command, _, _ in joined])
            self._on_join(len(joined))
            with call_context.bound(joined[0][2]), _coalesce_span(merged, joined):
                outcome = await self._execute(merged)
            for (_, future, _), part in zip(
                joined, _split(outcome, origins, len(joined)), strict=True
            ):
                _settle(future, part)
        except RaftqError as error:
            for _, future, _ in joined:
                if not future.done():
                    future.set_exception(error)
        except BaseException as error:  # cancelled (shutdown) or a bug: nobody may hang
            for _, future, _ in joined:
                if not future.done():
                    future.set_exception(InternalError(f"joined command failed: {error!r}"))
            raise
        finally:
            lane.in_flight -= 1
            self._dispatch(key, lane)


@contextmanager
def _coalesce_span(merged: Joinable, joined: list[_Waiting]) -> Iterator[None]:
    """With tracing on, a span for the joined command under the first caller's span."""
    callers = [tracing.span_context_of(c.traceparent, c.tracestate) for _, _, c in joined]
    if not tracing.active() or callers[0] is None:
        yield
        return
    with (
        tracing.tracer().start_as_current_span(
            f"coalesce {merged.kind}",
            context=tracing.context_of(callers[0]),
            kind=SpanKind.INTERNAL,
            links=tracing.links_to(callers[1:]),
            attributes={
                "raftq.coalesced.requests": len(joined),
                tracing.BATCH_COUNT: len(merged.entries),
            },
        ) as span,
        tracing.bound_to(span),
    ):
        yield


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # already handed to the requests; retrieved so asyncio does not log it


def _settle(future: asyncio.Future[CommandResult], outcome: CommandResult) -> None:
    if not future.done():
        future.set_result(outcome)


def _bytes(command: Joinable) -> int:
    if isinstance(command, SendMessages):
        return sum(len(e.body) + len(e.attributes) + _ENTRY_OVERHEAD_BYTES for e in command.entries)
    return len(command.entries) * _ENTRY_OVERHEAD_BYTES


def _join(commands: list[Joinable]) -> tuple[Joinable, list[tuple[int, str]]]:
    """One command with every entry, renumbered; origins[n] = (request, its entry id)."""
    origins: list[tuple[int, str]] = []
    entries: list[Entry] = []
    for request, command in enumerate(commands):
        for entry in command.entries:
            entries.append(entry.model_copy(update={"entry_id": str(len(origins))}))
            origins.append((request, entry.entry_id))
    return commands[0].model_copy(update={"entries": tuple(entries)}), origins


def _split(
    outcome: CommandResult, origins: list[tuple[int, str]], requests: int
) -> list[CommandResult]:
    """Each request's share of the joined command's outcome, under its own entry ids."""
    if isinstance(outcome, SendResult):
        sent: list[list[SentMessage]] = [[] for _ in range(requests)]
        failed: list[list[EntryFailure]] = [[] for _ in range(requests)]
        for message in outcome.sent:
            request, entry_id = origins[int(message.entry_id)]
            sent[request].append(message.model_copy(update={"entry_id": entry_id}))
        for failure in outcome.failed:
            request, entry_id = origins[int(failure.entry_id)]
            failed[request].append(failure.model_copy(update={"entry_id": entry_id}))
        return [
            SendResult(sent=tuple(s), failed=tuple(f)) for s, f in zip(sent, failed, strict=True)
        ]
    if isinstance(outcome, BatchResult):
        succeeded: list[list[str]] = [[] for _ in range(requests)]
        batch_failed: list[list[EntryFailure]] = [[] for _ in range(requests)]
        for number in outcome.succeeded:
            request, entry_id = origins[int(number)]
            succeeded[request].append(entry_id)
        for failure in outcome.failed:
            request, entry_id = origins[int(failure.entry_id)]
            batch_failed[request].append(failure.model_copy(update={"entry_id": entry_id}))
        return [
            BatchResult(succeeded=tuple(s), failed=tuple(f))
            for s, f in zip(succeeded, batch_failed, strict=True)
        ]
    return [outcome] * requests  # a failure of the whole command

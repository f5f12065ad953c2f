"""The call context a coalesced command carries to the leader (raftq/frontend/coalescing.py):
alone, a request's own; joined, the first caller's, under a `coalesce` span that links the
other callers' spans when tracing is on. The task that sends a command is not its caller's, so
without this the context would be whichever request last ran the lane."""

from __future__ import annotations

import asyncio

from raftq.common import call_context, tracing
from raftq.common.call_context import CallContext
from raftq.common.commands import AnyCommand
from raftq.common.results import CommandResult
from raftq.frontend.coalescing import Coalescer
from tests.span_recorder import recording
from tests.unit.frontend.test_coalescing import Backend, send, settle


def caller(number: int) -> CallContext:
    return CallContext(request_id=f"r{number}").with_trace(
        f"00-{number:032x}-{number:016x}-01", None
    )


class SeeingBackend(Backend):
    """Remembers the call context each command was executed under."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[CallContext] = []

    async def execute(self, command: AnyCommand) -> CommandResult:
        self.contexts.append(call_context.current())
        return await super().execute(command)


def sent_by(coalescer: Coalescer, number: int) -> asyncio.Task[CommandResult]:
    with call_context.bound(caller(number)):
        return asyncio.create_task(coalescer.execute(send("q", f"b{number}")))


async def test_each_command_alone_carries_its_own_callers_context() -> None:
    backend = SeeingBackend()
    coalescer = Coalescer(backend.execute, max_in_flight=2)
    tasks = [sent_by(coalescer, 1), sent_by(coalescer, 2)]
    await settle()
    backend.release.set()
    await asyncio.gather(*tasks)
    assert backend.contexts == [caller(1), caller(2)]


async def test_a_joined_command_carries_the_first_callers_context() -> None:
    backend = SeeingBackend()
    coalescer = Coalescer(backend.execute, max_in_flight=1)
    first = sent_by(coalescer, 1)
    await settle()  # in flight: the next ones wait in the lane
    later = [sent_by(coalescer, 2), sent_by(coalescer, 3)]
    await settle()
    backend.release.set()
    await asyncio.gather(first, *later)
    assert len(backend.commands) == 2  # the first alone, then 2 and 3 joined
    assert backend.contexts[1].request_id == "r2"
    assert backend.contexts[1].traceparent == caller(2).traceparent  # tracing off: as given


async def test_with_tracing_on_a_joined_command_goes_under_a_span_linking_the_others() -> None:
    with recording() as recorded:
        backend = SeeingBackend()
        coalescer = Coalescer(backend.execute, max_in_flight=1)
        first = sent_by(coalescer, 1)
        await settle()
        later = [sent_by(coalescer, 2), sent_by(coalescer, 3)]
        await settle()
        backend.release.set()
        await asyncio.gather(first, *later)
    joined = recorded.one("coalesce send")
    second, third = (tracing.span_context_of(caller(n).traceparent) for n in (2, 3))
    assert joined.parent is not None and second is not None and third is not None
    assert joined.parent.span_id == second.span_id
    assert joined.context.trace_id == second.trace_id
    assert [link.context for link in joined.links] == [third]
    assert (joined.attributes or {})["raftq.coalesced.requests"] == 2
    # The leader's spans go under the coalesce span: it is what the command carries.
    span = joined.context
    assert backend.contexts[1].traceparent == f"00-{span.trace_id:032x}-{span.span_id:016x}-01"
    assert backend.contexts[1].request_id == "r2"

"""The leader's spans of a command (raftq/backend/leader_spans.py, group_commit.py): each
traced command gets `raft propose`, `raft commit` and `raft apply` under the trace context it
arrived with, even when one entry carries commands of several traces; untraced commands and a
node with tracing off get none."""

from __future__ import annotations

import asyncio

from raftq.common import call_context
from raftq.common.call_context import CallContext
from raftq.common.errors import OutcomeUnknown
from raftq.raft.node import AppliedEntry
from tests.span_recorder import recording
from tests.unit.backend.test_group_commit import running, settle, stats_command

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"


def parent(trace_id: str, span_id: str = "b7ad6b7169203331") -> CallContext:
    return CallContext().with_trace(f"00-{trace_id}-{span_id}-01", None)


async def submitted_with(harness_submit: object, context: CallContext) -> asyncio.Task[object]:
    with call_context.bound(context):  # the task copies the context, as the channel's does
        return asyncio.create_task(harness_submit(stats_command(1)))  # type: ignore[operator]


async def test_each_command_of_one_entry_gets_its_spans_under_its_own_parent() -> None:
    with recording() as recorded:
        async with running() as harness:
            # Given two commands of two traces and one untraced, gathered into one entry
            first = await submitted_with(harness.committer.submit, parent(TRACE_A))
            second = await submitted_with(harness.committer.submit, parent(TRACE_B))
            third = await submitted_with(harness.committer.submit, call_context.EMPTY)
            await settle()
            assert len(harness.raft.proposals) == 1
            # When the entry commits and applies
            harness.raft.proposals[0].commit(AppliedEntry(42, 2_000, 3_000))
            await asyncio.gather(first, second, third)

    # Then each traced command has its three spans, children of the span it arrived under
    for trace_id in (TRACE_A, TRACE_B):
        spans = [s for s in recorded.spans if f"{s.context.trace_id:032x}" == trace_id]
        assert sorted(s.name for s in spans) == ["raft apply", "raft commit", "raft propose"]
        for span in spans:
            assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
            assert span.attributes is not None
            assert span.attributes["raft.log.index"] == 42
            assert span.attributes["raftq.entry.commands"] == 3
            assert span.attributes["raftq.command.kind"] == "get_queue_stats"
        apply = next(s for s in spans if s.name == "raft apply")
        assert (apply.start_time, apply.end_time) == (2_000, 3_000)
    # And the untraced command has none
    assert len(recorded.spans) == 6


async def test_a_failed_entry_leaves_an_error_propose_span() -> None:
    with recording() as recorded:
        async with running() as harness:
            task = await submitted_with(harness.committer.submit, parent(TRACE_A))
            await settle()
            harness.raft.proposals[0].future.set_exception(OutcomeUnknown("leader lost"))
            await asyncio.gather(task, return_exceptions=True)
    assert [s.name for s in recorded.spans] == ["raft propose"]
    assert not recorded.spans[0].status.is_ok


async def test_with_tracing_off_no_apply_times_are_asked_for() -> None:
    async with running() as harness:
        task = await submitted_with(harness.committer.submit, parent(TRACE_A))
        await settle()
        assert harness.raft.proposals[0].on_applied is None
        harness.raft.proposals[0].commit()
        await task

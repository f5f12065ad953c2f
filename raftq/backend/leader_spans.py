"""The leader's spans of one command: `raft propose`, `raft commit`, `raft apply`.

Each command is traced on its own, under the trace context bound when it arrived (the
frontend's span, carried by the channel: common/call_context.py), even though group commit puts
many commands, from many traces, into one Raft entry. The three spans are siblings under that
parent and follow each other in time:

    raft propose   the command arrived → its entry was handed to Raft (the wait for a
                   proposal slot and for the batch to form: group_commit.py)
    raft commit    handed to Raft → committed (the log written and fsynced on a majority);
                   the leader learns the commit when it starts applying the entry, so this
                   ends where `raft apply` begins
    raft apply     the entry's apply on the leader (every command of the entry, one WriteBatch)

Their attributes name the entry (`raft.log.index`, `raftq.entry.commands`: how many commands
shared it) and the command's kind. Spans are made after the fact with the measured times, only
for commands that arrived with a trace context while tracing is on; a command whose entry
failed to commit gets a `raft propose` span with an error status only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from raftq.common import call_context, tracing
from raftq.raft.node import AppliedEntry


@dataclass(frozen=True, slots=True)
class Arrival:
    """A traced command as it reached the leader: the span it belongs under, and when."""

    parent: SpanContext
    kind: str
    arrived_ns: int


def arrival(kind: str) -> Arrival | None:
    """The current command's arrival, when tracing is on and it came with a trace context."""
    if not tracing.active():
        return None
    context = call_context.current()
    parent = tracing.span_context_of(context.traceparent, context.tracestate)
    return None if parent is None else Arrival(parent, kind, time.time_ns())


def record(
    arrivals: Sequence[Arrival | None],
    proposed_ns: int,
    applied: AppliedEntry | None,
    error: BaseException | None = None,
) -> None:
    """The spans of each traced command of one entry of `len(arrivals)` commands."""
    tracer = tracing.tracer()
    entry: dict[str, str | int] = {"raftq.entry.commands": len(arrivals)}
    if applied is not None:
        entry["raft.log.index"] = applied.index
    for traced in arrivals:
        if traced is None:
            continue
        parent = tracing.context_of(traced.parent)
        attributes: dict[str, str | int] = {**entry, "raftq.command.kind": traced.kind}
        propose = tracer.start_span(
            "raft propose",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=traced.arrived_ns,
        )
        if applied is None:
            propose.set_status(Status(StatusCode.ERROR, str(error) if error else None))
            propose.end(end_time=time.time_ns())
            continue
        propose.end(end_time=proposed_ns)
        commit = tracer.start_span(
            "raft commit", context=parent, attributes=attributes, start_time=proposed_ns
        )
        commit.end(end_time=max(proposed_ns, applied.started_ns))
        apply = tracer.start_span(
            "raft apply", context=parent, attributes=attributes, start_time=applied.started_ns
        )
        apply.end(end_time=applied.ended_ns)

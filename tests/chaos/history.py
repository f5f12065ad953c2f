"""The history of a chaos run: every operation a workload client invoked and how it completed.

The Jepsen discipline (../shared/notes/chaos.md §6.1). Each client process does one operation at
a time and records two events for it: `invoke` before the request leaves, then exactly one of

- `ok`: the service answered success;
- `fail`: the service answered with an error that guarantees nothing was applied (a 4xx);
- `info`: the outcome is unknown (a timeout, a transport error, a 5xx after the request left).

So an invocation is paired with the next event of the same process. Times are the harness's
monotonic clock (`t_mono_ns`, for ordering and durations) and the wall clock (`t_wall`, to line
events up with node logs). Histories are JSON lines, one event per line, kept as an artifact.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict

EventType = Literal["invoke", "ok", "fail", "info"]
Function = Literal["send", "receive", "delete"]


class Delivery(BaseModel):
    """One message as a receive returned it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str
    message_id: str
    receipt_handle: str
    receive_count: int
    group: str | None = None


class Event(BaseModel):
    """One line of a history. Which fields are set depends on `f` and `type`:

    - send: `value` (and `dedup_id`, `group` if used) on every event; `message_id` on ok;
    - receive: `visibility_timeout_ms` on invoke; `deliveries` on ok;
    - delete: `value` and `receipt_handle` on every event;
    - `error` on fail and info.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    process: str
    type: EventType
    f: Function
    t_mono_ns: int
    t_wall: float
    node: str | None = None
    value: str | None = None
    dedup_id: str | None = None
    group: str | None = None
    message_id: str | None = None
    receipt_handle: str | None = None
    visibility_timeout_ms: int | None = None
    deliveries: tuple[Delivery, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Operation:
    """An invocation and its completion (None: the run ended while it was in flight, which
    counts as `info`)."""

    invoke: Event
    completion: Event | None

    @property
    def type(self) -> EventType:
        return "info" if self.completion is None else self.completion.type

    @property
    def f(self) -> Function:
        return self.invoke.f

    @property
    def invoked_ns(self) -> int:
        return self.invoke.t_mono_ns

    @property
    def completed_ns(self) -> int | None:
        return None if self.completion is None else self.completion.t_mono_ns


class History:
    """Events in the order they were recorded, optionally streamed to a JSONL file as they come
    (so a run that dies still leaves its history behind)."""

    def __init__(self, events: Iterable[Event] = (), sink: IO[str] | None = None) -> None:
        self.events: list[Event] = list(events)
        self._sink = sink

    def record(self, event: Event) -> Event:
        self.events.append(event)
        if self._sink is not None:
            self._sink.write(event.model_dump_json(exclude_defaults=True) + "\n")
            self._sink.flush()
        return event

    def operations(self) -> Iterator[Operation]:
        """Every invocation with its completion, in invocation order."""
        pending: dict[str, Event] = {}
        paired: list[tuple[Event, Event | None]] = []
        index: dict[str, int] = {}
        for event in self.events:
            if event.type == "invoke":
                if event.process in pending:
                    raise ValueError(f"process {event.process} invoked twice without completing")
                pending[event.process] = event
                index[event.process] = len(paired)
                paired.append((event, None))
            else:
                invoke = pending.pop(event.process, None)
                if invoke is None or invoke.f != event.f:
                    raise ValueError(f"{event.type} of {event.f} by {event.process} without invoke")
                paired[index.pop(event.process)] = (invoke, event)
        return (Operation(invoke, completion) for invoke, completion in paired)

    def dump(self, path: Path) -> None:
        path.write_text(
            "".join(e.model_dump_json(exclude_defaults=True) + "\n" for e in self.events)
        )

    @classmethod
    def load(cls, path: Path) -> History:
        lines = path.read_text().splitlines()
        return cls(Event.model_validate_json(line) for line in lines if line.strip())


def now() -> tuple[int, float]:
    """(monotonic ns, wall-clock s) for an event."""
    return time.monotonic_ns(), time.time()

"""Faults injected into the compose deployment on a schedule, and healed at the end.

Each nemesis targets one Raft group (`c1`, `c2` or `metadata`) and logs what it did, when, as
JSON lines (nemesis.jsonl beside the history). `heal()` undoes every fault it may have left
(starts stopped members, unpauses, flushes iptables), whatever state the run ended in.

- `KillLeader` (F1, F1m): kill -9 the group's leader every `interval_s` (± `jitter_s`) and start
  it again `down_s` later.
- `PauseLeader` (F3): `docker pause` the leader (SIGSTOP-like) for `down_s` every `interval_s`.
- `IsolateLeader` (F4a): drop all traffic between the leader and the rest of the deployment
  (its group's peers, the frontends, the metadata group) for `down_s` every `interval_s`.

`resume_times` (pure) measures, per fault, how long writes took to resume: from the fault to
the completion of the first send that was invoked after it and acknowledged.
"""

from __future__ import annotations

import abc
import asyncio
import bisect
import contextlib
import random
from collections.abc import Sequence
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict

from tests.chaos.deployment import Deployment
from tests.chaos.history import History, now

Action = Literal["kill", "start", "pause", "unpause", "isolate", "heal", "no-leader"]
FAULTS: frozenset[str] = frozenset({"kill", "pause", "isolate"})


class NemesisEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action
    target: str
    t_mono_ns: int
    t_wall: float
    detail: str | None = None


class NemesisLog:
    def __init__(self, sink: IO[str] | None = None) -> None:
        self.events: list[NemesisEvent] = []
        self._sink = sink

    def record(self, action: Action, target: str, detail: str | None = None) -> None:
        t_mono_ns, t_wall = now()
        event = NemesisEvent(
            action=action, target=target, t_mono_ns=t_mono_ns, t_wall=t_wall, detail=detail
        )
        self.events.append(event)
        if self._sink is not None:
            self._sink.write(event.model_dump_json(exclude_none=True) + "\n")
            self._sink.flush()


class LeaderNemesis(abc.ABC):
    """Every `interval_s` (± `jitter_s`): find the group's leader, fault it for `down_s`, undo."""

    action: Action = "kill"

    def __init__(
        self,
        deployment: Deployment,
        group: str,
        log: NemesisLog,
        *,
        interval_s: float = 10.0,
        jitter_s: float = 2.0,
        down_s: float = 5.0,
        seed: int = 0,
    ) -> None:
        self.deployment = deployment
        self.group = group
        self.log = log
        self.interval_s = interval_s
        self.jitter_s = jitter_s
        self.down_s = down_s
        self._random = random.Random(seed)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            pause = self.interval_s - self.down_s + self._random.uniform(-1, 1) * self.jitter_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(pause, 0.5))
            if stop.is_set():
                return
            leader = await asyncio.to_thread(self.deployment.leader, self.group)
            if leader is None:
                self.log.record("no-leader", self.group)
                continue
            await asyncio.to_thread(self.fault, leader)
            self.log.record(self.action, leader)
            await asyncio.sleep(self.down_s)
            await asyncio.to_thread(self.undo, leader)

    @abc.abstractmethod
    def fault(self, service: str) -> None: ...

    @abc.abstractmethod
    def undo(self, service: str) -> None: ...

    async def heal(self) -> None:
        """Undo anything still in effect on any member of the group."""
        for service in await asyncio.to_thread(self.deployment.members, self.group):
            state = await asyncio.to_thread(self.deployment.state, service)
            if state == "paused":
                await asyncio.to_thread(self.deployment.unpause, service)
                self.log.record("unpause", service, "heal")
            elif state != "running":
                await asyncio.to_thread(self.deployment.start, service)
                self.log.record("start", service, "heal")
            else:
                await asyncio.to_thread(self.deployment.heal_network, service)


class KillLeader(LeaderNemesis):
    action: Action = "kill"

    def fault(self, service: str) -> None:
        self.deployment.kill(service)

    def undo(self, service: str) -> None:
        self.deployment.start(service)
        self.log.record("start", service)


class PauseLeader(LeaderNemesis):
    action: Action = "pause"

    def fault(self, service: str) -> None:
        self.deployment.pause(service)

    def undo(self, service: str) -> None:
        self.deployment.unpause(service)
        self.log.record("unpause", service)


class IsolateLeader(LeaderNemesis):
    action: Action = "isolate"

    def fault(self, service: str) -> None:
        others = [m for m in self.deployment.members(self.group) if m != service]
        others += ["frontend-1", "frontend-2"]
        if self.group != "metadata":
            others += self.deployment.members("metadata")
        self.deployment.isolate(service, others)

    def undo(self, service: str) -> None:
        self.deployment.heal_network(service)
        self.log.record("heal", service)


NEMESES: dict[str, type[LeaderNemesis]] = {
    "kill-leader": KillLeader,
    "pause-leader": PauseLeader,
    "isolate-leader": IsolateLeader,
}


def resume_times(history: History, events: Sequence[NemesisEvent]) -> list[float | None]:
    """Seconds from each fault until a send invoked after it was acknowledged (None: never)."""
    acknowledged = sorted(
        (op.invoked_ns, op.completed_ns)
        for op in history.operations()
        if op.f == "send" and op.type == "ok" and op.completed_ns is not None
    )
    invoked = [invoked_ns for invoked_ns, _ in acknowledged]
    times: list[float | None] = []
    for event in events:
        if event.action not in FAULTS:
            continue
        first = bisect.bisect_right(invoked, event.t_mono_ns)
        later = [completed for _, completed in acknowledged[first:]]
        times.append((min(later) - event.t_mono_ns) / 1e9 if later else None)
    return times

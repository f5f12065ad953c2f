"""Faults injected into the compose deployment on a schedule, and healed at the end.

A nemesis targets one Raft group (`c1`, `c2` or `metadata`) and logs each strike (one event
per strike, naming every target) as JSON lines, nemesis.jsonl beside the history. Every
`interval_s` (± `jitter_s`) it chooses its targets, faults them for `down_s` and undoes the fault.
`heal()` undoes anything any nemesis may have left on any node (starts stopped containers,
unpauses, flushes iptables), whatever state the run ended in. A step that fails (a docker
command that exits non-zero or hangs, a member that answers garbage) is logged as an `error`
event and the schedule goes on; the cell then fails (run.py), with its history still checked.

- `KillLeader` (F1, F1m on `metadata`): kill -9 the leader; start it again `down_s` later.
- `KillEitherLeader` (WD): `group` names two groups, comma-separated (a queue's cluster and
  its dead-letter queue's); kill -9 the leader of each in turn.
- `KillRandom` (F2a): kill -9 one member chosen at random.
- `KillAll` (F2c): kill -9 every member of the group at once.
- `PauseLeader` (F3): `docker pause` the leader (the cgroup freezer: it cannot notice).
- `IsolateLeader` (F4a): drop all traffic between the leader and every other node.
- `PartitionMinority` (F4b, `:one`): cut one member chosen at random off from its group's
  peers only (a majority/minority split; clients still reach it, and it must refuse them).
- `PartitionLeader` (F4b, `:primary`): cut the leader off from its group's peers only.
- `PartitionZone`: cut a whole zone (metadata, both clusters' replicas and the frontend in it)
  off from the other two zones.
- `RollingRestart` (F12): a graceful restart (SIGTERM) of the next member, in turn.
- `FillDiskLeader`: the leader's disk fills up (a ballast file takes every free block of its
  volume: the deployment's small disks, RAFTQ_FAULT_SMALL_DISKS_MB at `up`); `down_s` later the
  ballast is deleted and the node restarted. The node stops at its first write that fails
  (exit 75) and Docker starts it again, failing until there is space (raft/disk_failure.py).
  Before that stop, a node went on after ENOSPC and its Raft log was corrupt at the restart.
- `ReplaceFollower`: a follower's machine is lost with its disk: it is killed and its volume
  emptied; `down_s` later a node with the empty disk starts at its address and the operator
  replaces the member (`raftq admin members replace GROUP NODE`: removed, added again, caught
  up by snapshot). Until then the empty node takes part in no vote (raft/member_changes.py).
- `CompromisedFrontend`: an intruder in a frontend's container (the frontends in turn) tries
  everything that frontend holds against every Raft port and against the internal routes of
  operators and nodes (tests/chaos/intruder.py); a strike fails, as a nemesis step, if anything
  was not refused. Before the first, the same probe run in a member of `group` with its raft
  secret must be accepted: the probe can tell. It injects no fault into the cluster.
- `ClockSkew` (F6): the leader's wall clock runs `offset_ms` ahead (the nodes' `OffsetClock`,
  through the file named by RAFTQ_FAULT_CLOCK_OFFSET_FILE in docker-compose.yml).

`resume_times` (pure) measures, per strike, how long writes took to resume: from the fault to
the completion of the first send that was invoked after it and acknowledged.
"""

from __future__ import annotations

import abc
import asyncio
import bisect
import contextlib
import functools
import http.client
import json
import random
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict

from tests.chaos.deployment import Deployment, DeploymentError
from tests.chaos.history import History, now

Action = Literal[
    "kill",
    "start",
    "pause",
    "unpause",
    "isolate",
    "partition",
    "restart",
    "skew",
    "fill-disk",
    "free-disk",
    "lose-machine",
    "replace",
    "intrude",
    "intruded",
    "heal",
    "no-target",
    "error",
]
FAULTS: frozenset[str] = frozenset(
    {"kill", "pause", "isolate", "partition", "restart", "skew", "fill-disk", "lose-machine"}
)
# What a failed step of a strike raises: logged as an `error` event, and the nemesis goes on.
STEP_ERRORS = (DeploymentError, subprocess.TimeoutExpired, OSError, http.client.HTTPException)
STEP_ATTEMPTS = 3
STEP_RETRY_S = 0.5


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


class Nemesis(abc.ABC):
    """Every `interval_s` (± `jitter_s`): choose targets, fault them for `down_s`, undo."""

    action: Action = "kill"
    undo_action: Action = "start"

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
        min_pause_s: float = 0.5,
        retry_s: float = STEP_RETRY_S,
        queue_id: str | None = None,
    ) -> None:
        self.deployment = deployment
        self.group = group
        self.log = log
        self.interval_s = interval_s
        self.jitter_s = jitter_s
        self.down_s = down_s
        self._random = random.Random(seed)
        self.strikes = 0
        self._min_pause_s = min_pause_s  # between strikes, whatever the interval says
        self._retry_s = retry_s  # between attempts of a failed step
        self.queue_id = queue_id  # the cell's queue, for a nemesis that needs it

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            pause = self.interval_s - self.down_s + self._random.uniform(-1, 1) * self.jitter_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(pause, self._min_pause_s))
            if stop.is_set():
                return
            targets = await self._choose()
            self.strikes += 1
            if not targets:
                if targets is not None:
                    self.log.record("no-target", self.group)
                continue
            joined = ",".join(targets)
            if await self._step(joined, self.action, functools.partial(self.fault, targets)):
                self.log.record(self.action, joined, self.fault_detail())
            # Undone even when the fault failed: part of it may be in effect.
            await asyncio.sleep(self.down_s)
            if await self._step(joined, self.undo_action, functools.partial(self.undo, targets)):
                self.log.record(self.undo_action, joined)

    async def _choose(self) -> list[str] | None:
        """The targets of the next strike; None, with an `error` event logged, if that failed."""
        try:
            return await asyncio.to_thread(self.choose)
        except STEP_ERRORS as error:
            self.log.record("error", self.group, f"choose: {type(error).__name__}: {error}")
            return None

    async def _step(self, target: str, what: str, step: Callable[[], None]) -> bool:
        """Run `step` in a thread, up to `STEP_ATTEMPTS` times (`docker pause` fails now and
        then with "unable to freeze" when a task is in uninterruptible I/O); False, with an
        `error` event logged, if every attempt failed."""
        first = ""
        for attempt in range(1, STEP_ATTEMPTS + 1):
            try:
                await asyncio.to_thread(step)
            except STEP_ERRORS as error:
                first = first or f"{type(error).__name__}: {error}"
                if attempt == STEP_ATTEMPTS:
                    detail = f"{what}: {type(error).__name__}: {error} ({attempt} attempts)"
                    if first != f"{type(error).__name__}: {error}":
                        detail += f"; the first attempt: {first}"
                    self.log.record("error", target, detail)
                    return False
                await asyncio.sleep(self._retry_s)
            else:
                return True
        return False

    def choose(self) -> list[str]:
        """The group's leader (None when no member says it leads)."""
        leader = self.deployment.leader(self.group)
        return [] if leader is None else [leader]

    @abc.abstractmethod
    def fault(self, targets: list[str]) -> None: ...

    def fault_detail(self) -> str | None:
        """What the last fault did, beyond its action and targets, for the nemesis log."""
        return None

    @abc.abstractmethod
    def undo(self, targets: list[str]) -> None: ...

    async def heal(self) -> None:
        """Undo anything still in effect on any node of the deployment."""
        for service in await asyncio.to_thread(self.deployment.nodes):
            state = await asyncio.to_thread(self.deployment.state, service)
            if state == "paused":
                await asyncio.to_thread(self.deployment.unpause, service)
                self.log.record("unpause", service, "heal")
            elif state != "running":
                await asyncio.to_thread(self.deployment.start, service)
                self.log.record("start", service, "heal")
            await asyncio.to_thread(self.deployment.heal_network, service)
            await asyncio.to_thread(self.deployment.set_clock_offset, service, None)


class _Kill(Nemesis):
    def fault(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.kill(service)

    def undo(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.start(service)


class KillLeader(_Kill):
    pass


class KillEitherLeader(_Kill):
    def choose(self) -> list[str]:
        groups = self.group.split(",")
        leader = self.deployment.leader(groups[self.strikes % len(groups)])
        return [] if leader is None else [leader]


class KillRandom(_Kill):
    def choose(self) -> list[str]:
        return [self._random.choice(self.deployment.members(self.group))]


class KillAll(_Kill):
    def choose(self) -> list[str]:
        return self.deployment.members(self.group)


class PowerLossAll(_Kill):
    """Every member of the group loses power at once: each is killed and keeps of its disk only
    what it fsynced (`Deployment.cut_power`), then all start again. A kill alone keeps the page
    cache; this does not. Needs the journal's witness of its syncs (`RAFTQ_FAULT_WITNESS_SYNCS=1`
    when the deployment came up)."""

    def choose(self) -> list[str]:
        return self.deployment.members(self.group)

    _cuts: tuple[str, ...] = ()

    def fault(self, targets: list[str]) -> None:
        for service in targets:
            if self.deployment.state(service) == "running":  # a retried step killed it already
                self.deployment.kill(service)
        cut = self.deployment.cut_power
        self._cuts = tuple(f"{service}: {cut(service)}" for service in targets)

    def fault_detail(self) -> str | None:
        return "; ".join(self._cuts)


class PauseLeader(Nemesis):
    action: Action = "pause"
    undo_action: Action = "unpause"

    def fault(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.pause(service)

    def undo(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.unpause(service)


class HostClockStepPauseLeader(PauseLeader):
    """Every member's wall clock steps `step_ms` ahead when the cell starts and stays there (the
    host's clock was stepped: an NTP step, a VM that stalled while its monotonic clock did not
    count), and then the leader is paused as in `PauseLeader`. Each member holds its time to
    its monotonic clock, and each new leader must go on from its predecessor's time: leadership
    moving between members whose own courses differ must not end a lease early."""

    step_ms = 60_000

    async def run(self, stop: asyncio.Event) -> None:
        members = await asyncio.to_thread(self.deployment.members, self.group)
        joined = ",".join(members)
        if await self._step(joined, "skew", functools.partial(self._step_clocks, members)):
            self.log.record("skew", joined, f"{self.step_ms} ms ahead, kept")
        await super().run(stop)

    def _step_clocks(self, members: list[str]) -> None:
        for service in members:
            self.deployment.set_clock_offset(service, self.step_ms)


class _Partition(Nemesis):
    """Cut each target off from `peers_of(target)`: iptables DROP in both directions, inside
    the target (Jepsen's grudge, applied on the target's side only)."""

    action: Action = "partition"
    undo_action: Action = "heal"

    @abc.abstractmethod
    def peers_of(self, target: str, targets: list[str]) -> list[str]: ...

    def fault(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.isolate(service, self.peers_of(service, targets))

    def undo(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.heal_network(service)


class IsolateLeader(_Partition):
    action: Action = "isolate"

    def peers_of(self, target: str, targets: list[str]) -> list[str]:
        return [n for n in self.deployment.nodes() if n != target]


class PartitionMinority(_Partition):
    def choose(self) -> list[str]:
        return [self._random.choice(self.deployment.members(self.group))]

    def peers_of(self, target: str, targets: list[str]) -> list[str]:
        return [m for m in self.deployment.members(self.group) if m != target]


class PartitionLeader(_Partition):
    """Cut the leader off from its group's peers only: the frontends still reach it, so a
    leader that did not need a majority would go on acknowledging what the others never see."""

    def peers_of(self, target: str, targets: list[str]) -> list[str]:
        return [m for m in self.deployment.members(self.group) if m != target]


class PartitionZone(_Partition):
    def choose(self) -> list[str]:
        zones = self.deployment.zones()
        return zones[self._random.choice(sorted(zones))]

    def peers_of(self, target: str, targets: list[str]) -> list[str]:
        return [n for n in self.deployment.nodes() if n not in targets]


class RollingRestart(Nemesis):
    """Restart the members one after another (graceful: SIGTERM, then start)."""

    action: Action = "restart"
    undo_action: Action = "start"

    def choose(self) -> list[str]:
        members = self.deployment.members(self.group)
        return [members[self.strikes % len(members)]]

    def fault(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.restart(service)

    def undo(self, targets: list[str]) -> None:
        pass  # `docker restart` started it again


class FillDiskLeader(Nemesis):
    action: Action = "fill-disk"
    undo_action: Action = "free-disk"
    _filled: tuple[str, ...] = ()

    def fault(self, targets: list[str]) -> None:
        self._filled = tuple(f"{s}: {self.deployment.fill_disk(s)}" for s in targets)

    def fault_detail(self) -> str | None:
        return "; ".join(self._filled)

    def undo(self, targets: list[str]) -> None:
        # What an operator does: free space, restart the node. A node that went on writing
        # after a failed write finds its log corrupt here, and never comes back.
        for service in targets:
            self.deployment.free_disk(service)
            self.deployment.restart(service)

    async def heal(self) -> None:
        for service in await asyncio.to_thread(self.deployment.members, self.group):
            await asyncio.to_thread(self.deployment.free_disk, service)
        await super().heal()


class ReplaceFollower(Nemesis):
    action: Action = "lose-machine"
    undo_action: Action = "replace"
    _replaced = ""

    def choose(self) -> list[str]:
        leader = self.deployment.leader(self.group)
        followers = [m for m in self.deployment.members(self.group) if m != leader]
        return [self._random.choice(followers)] if leader is not None and followers else []

    def fault(self, targets: list[str]) -> None:
        for service in targets:
            if self.deployment.state(service) == "running":  # a retried step killed it already
                self.deployment.kill(service)
            self.deployment.empty_disk(service)

    def undo(self, targets: list[str]) -> None:
        for service in targets:
            if self.deployment.state(service) != "running":
                self.deployment.start(service)
            self.deployment.replace_member(self.group, service)


INTRUDER = Path(__file__).with_name("intruder.py")
RAFT_PORT = 7000  # every Raft member's in docker-compose.yml
FRONTEND_CREDENTIAL = "/run/raftq-credential/credential"  # in each frontend's container


class CompromisedFrontend(Nemesis):
    action: Action = "intrude"
    undo_action: Action = "intruded"
    _controlled = False
    _found = ""

    def choose(self) -> list[str]:
        frontends = self.deployment.frontends()
        return [frontends[self.strikes % len(frontends)]]

    def fault(self, targets: list[str]) -> None:
        script = INTRUDER.read_text()
        members = [m for g in ("metadata", "c1", "c2") for m in self.deployment.members(g)]
        raft = [f"{member}:{RAFT_PORT}" for member in members]
        if not self._controlled:
            member = self.deployment.members(self.group.split(",")[0])[0]
            control = {
                "control": True,
                "raft": raft,
                "raft_secret_file": "/run/secrets/raft_secret",
                "operator_secret_file": "/run/secrets/operator_secret",
                "backend": f"{member}:8000",
            }
            code, out = self.deployment.run_python(member, script, json.dumps(control))
            if code != 0:
                raise DeploymentError(f"the probe cannot tell an acceptance: {out}")
            self._controlled = True
        probe = {
            "raft": raft,
            "metadata": "metadata-a:8000",
            "backend": f"{self.deployment.members(self.group)[0]}:8000",
            "queue_id": self.queue_id or "",
            "credential_file": FRONTEND_CREDENTIAL,
        }
        code, out = self.deployment.run_python(targets[0], script, json.dumps(probe))
        attempts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if code != 0 or not attempts:
            not_refused = [a for a in attempts if a["outcome"] != "refused"]
            raise DeploymentError(f"an intruder got through: {not_refused or out}")
        kinds = Counter(
            f"{a['target'].split()[0]} {a['detail'].rsplit(':', 1)[-1].strip()}" for a in attempts
        )
        self._found = f"{len(attempts)} attempts, every one refused: " + ", ".join(
            f"{count} {kind}" for kind, count in sorted(kinds.items())
        )

    def fault_detail(self) -> str | None:
        return self._found

    def undo(self, targets: list[str]) -> None:
        pass  # nothing was changed


class ClockSkew(Nemesis):
    """The leader's clock runs ahead by `offset_ms` for `down_s`. A leader stamps its time into
    every command, so leases it grants or ends are measured on that clock, held to its monotonic
    clock after a step (raftq/common/leader_clock.py: 0.1 s and 1 % of the time since); the
    state keeps time monotonic, so after the heal time stands still until the real clock
    catches up with what was stamped."""

    action: Action = "skew"
    undo_action: Action = "heal"
    offset_ms = 1_000

    def fault(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.set_clock_offset(service, self.offset_ms)

    def undo(self, targets: list[str]) -> None:
        for service in targets:
            self.deployment.set_clock_offset(service, None)


NEMESES: dict[str, type[Nemesis]] = {
    "kill-leader": KillLeader,
    "kill-either-leader": KillEitherLeader,
    "kill-random": KillRandom,
    "kill-all": KillAll,
    "power-loss-all": PowerLossAll,
    "pause-leader": PauseLeader,
    "isolate-leader": IsolateLeader,
    "partition-minority": PartitionMinority,
    "partition-leader": PartitionLeader,
    "partition-zone": PartitionZone,
    "rolling-restart": RollingRestart,
    "clock-skew": ClockSkew,
    "fill-disk-leader": FillDiskLeader,
    "compromised-frontend": CompromisedFrontend,
    "replace-follower": ReplaceFollower,
    "clock-step-pause-leader": HostClockStepPauseLeader,
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

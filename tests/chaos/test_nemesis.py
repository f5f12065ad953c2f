"""How long writes took to resume after each fault, from the history and the nemesis log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.chaos.deployment import DeploymentError
from tests.chaos.history import Event, History
from tests.chaos.nemesis import (
    STEP_ATTEMPTS,
    Action,
    ClockSkew,
    IsolateLeader,
    KillAll,
    Nemesis,
    NemesisEvent,
    NemesisLog,
    PartitionLeader,
    PartitionMinority,
    PartitionZone,
    PauseLeader,
    RollingRestart,
    resume_times,
)

S = 1_000_000_000


def send(process: str, value: str, start_s: float, end_s: float, outcome: str) -> list[Event]:
    base = {"process": process, "f": "send", "value": value, "t_wall": 0.0}
    return [
        Event.model_validate(base | {"type": "invoke", "t_mono_ns": int(start_s * S)}),
        Event.model_validate(base | {"type": outcome, "t_mono_ns": int(end_s * S)}),
    ]


def fault(action: str, at_s: float) -> NemesisEvent:
    return NemesisEvent.model_validate(
        {"action": action, "target": "c1-a", "t_mono_ns": int(at_s * S), "t_wall": 0.0}
    )


def test_writes_resume_at_the_first_acknowledged_send_invoked_after_the_fault() -> None:
    # Given a kill at 10 s; a send in flight across it (acknowledged at 10.5 s, so it does not
    # count); a send invoked at 10.2 s that timed out; one invoked at 11 s acknowledged at 13.5 s
    history = History(
        send("p0", "p0-0", 9.9, 10.5, "ok")
        + send("p1", "p1-0", 10.2, 15.2, "info")
        + send("p0", "p0-1", 11.0, 13.5, "ok")
    )
    # When measured, with the restart event that is not a fault
    times = resume_times(history, [fault("kill", 10.0), fault("start", 15.0)])
    # Then writes resumed 3.5 s after the kill
    assert times == [3.5]


def test_a_fault_after_which_no_send_was_acknowledged_never_resumed() -> None:
    history = History(send("p0", "p0-0", 1.0, 2.0, "ok"))
    assert resume_times(history, [fault("pause", 5.0)]) == [None]


class FakeDeployment:
    """The parts of `Deployment` the nemeses use, recording what was done to whom."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, object]] = []
        self.groups = {
            "c1": ["c1-a", "c1-b", "c1-c"],
            "metadata": ["metadata-a", "metadata-b", "metadata-c"],
        }

    def leader(self, group: str) -> str | None:
        return self.groups[group][1]

    def members(self, group: str) -> list[str]:
        return self.groups[group]

    def nodes(self) -> list[str]:
        return sorted([*self.groups["c1"], *self.groups["metadata"], "frontend-1"])

    def zones(self) -> dict[str, list[str]]:
        return {
            zone: [n for n in self.nodes() if n.endswith(f"-{zone}")]
            + (["frontend-1"] if zone == "a" else [])
            for zone in ("a", "b", "c")
        }

    def __getattr__(self, action: str) -> Callable[..., None]:
        def record(service: str, detail: object = None) -> None:
            self.done.append((action, service, detail))

        return record


def strike(nemesis_type: type[Nemesis], deployment: FakeDeployment, seed: int = 0) -> list[str]:
    nemesis = nemesis_type(deployment, "c1", NemesisLog(), seed=seed)  # type: ignore[arg-type]
    targets = nemesis.choose()
    nemesis.fault(targets)
    nemesis.undo(targets)
    return targets


def test_kill_all_kills_every_member_then_starts_them() -> None:
    deployment = FakeDeployment()
    assert strike(KillAll, deployment) == ["c1-a", "c1-b", "c1-c"]
    assert [a for a, _, _ in deployment.done] == ["kill"] * 3 + ["start"] * 3


def test_isolating_the_leader_cuts_it_off_from_every_other_node() -> None:
    deployment = FakeDeployment()
    assert strike(IsolateLeader, deployment) == ["c1-b"]
    action, service, peers = deployment.done[0]
    assert (action, service) == ("isolate", "c1-b")
    assert peers == [n for n in deployment.nodes() if n != "c1-b"]
    assert deployment.done[1][:2] == ("heal_network", "c1-b")


def test_a_minority_partition_cuts_one_member_off_from_its_peers_only() -> None:
    deployment = FakeDeployment()
    (target,) = strike(PartitionMinority, deployment, seed=3)
    _, service, peers = deployment.done[0]
    assert service == target
    assert peers == [m for m in deployment.groups["c1"] if m != target]  # frontends still reach it


def test_a_zone_partition_cuts_the_zone_off_from_the_other_zones() -> None:
    deployment = FakeDeployment()
    targets = strike(PartitionZone, deployment, seed=1)
    zone = next(z for z, nodes in deployment.zones().items() if nodes == targets)
    for action, service, peers in deployment.done[: len(targets)]:
        assert action == "isolate" and service in targets
        assert isinstance(peers, list)
        assert sorted(peers) == sorted(n for n in deployment.nodes() if n not in targets), zone


def test_a_rolling_restart_takes_each_member_in_turn() -> None:
    deployment = FakeDeployment()
    nemesis = RollingRestart(deployment, "c1", NemesisLog())  # type: ignore[arg-type]
    chosen = []
    for _ in range(4):
        chosen += nemesis.choose()
        nemesis.strikes += 1
    assert chosen == ["c1-a", "c1-b", "c1-c", "c1-a"]


def test_clock_skew_moves_the_leaders_clock_ahead_and_back() -> None:
    deployment = FakeDeployment()
    assert strike(ClockSkew, deployment) == ["c1-b"]
    assert deployment.done == [
        ("set_clock_offset", "c1-b", ClockSkew.offset_ms),
        ("set_clock_offset", "c1-b", None),
    ]


class FlakyDeployment(FakeDeployment):
    """`docker pause` fails as many times in a row as the nemesis tries (runc's "unable to
    freeze"); the status probe fails once."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = {"pause": STEP_ATTEMPTS, "leader": 1}

    def _fail_once(self, step: str) -> None:
        if self.failures[step]:
            self.failures[step] -= 1
            raise DeploymentError(f"docker {step}: exit 1: daemon busy")

    def leader(self, group: str) -> str | None:
        self._fail_once("leader")
        return super().leader(group)

    def pause(self, service: str) -> None:
        self._fail_once("pause")
        self.done.append(("pause", service, None))


class StoppingLog(NemesisLog):
    """A nemesis log that sets `stop` once it holds `count` events."""

    def __init__(self, stop: asyncio.Event, count: int) -> None:
        super().__init__()
        self._stop = stop
        self._count = count

    def record(self, action: Action, target: str, detail: str | None = None) -> None:
        super().record(action, target, detail)
        if len(self.events) >= self._count:
            self._stop.set()


async def run_until(deployment: FakeDeployment, events: int) -> list[NemesisEvent]:
    """Run a pause-leader nemesis with no waits until it has logged `events` events."""
    stop = asyncio.Event()
    log = StoppingLog(stop, events)
    nemesis = PauseLeader(
        deployment,  # type: ignore[arg-type]
        "c1",
        log,
        interval_s=0.0,
        jitter_s=0.0,
        down_s=0.0,
        min_pause_s=0.0,
        retry_s=0.0,
    )
    await asyncio.wait_for(nemesis.run(stop), timeout=10)
    return log.events


async def test_a_failed_step_is_logged_as_an_error_and_the_schedule_goes_on() -> None:
    # Given a deployment where choosing the leader fails once, then pausing it fails on every
    # attempt of one strike
    deployment = FlakyDeployment()

    # When the nemesis runs for three strikes (five events)
    events = await run_until(deployment, 5)

    # Then each failure is an error event, the failed pause is still undone, and the next
    # strike pauses and unpauses the leader
    assert [(e.action, e.target) for e in events] == [
        ("error", "c1"),
        ("error", "c1-b"),
        ("unpause", "c1-b"),
        ("pause", "c1-b"),
        ("unpause", "c1-b"),
    ]
    assert [e.detail for e in events if e.action == "error"] == [
        "choose: DeploymentError: docker leader: exit 1: daemon busy",
        f"pause: DeploymentError: docker pause: exit 1: daemon busy ({STEP_ATTEMPTS} attempts)",
    ]


async def test_a_step_that_fails_once_is_tried_again() -> None:
    # Given a deployment where `docker pause` fails once
    deployment = FlakyDeployment()
    deployment.failures = {"pause": 1, "leader": 0}

    # When the nemesis strikes once
    events = await run_until(deployment, 2)

    # Then the second attempt paused the leader, and no error was logged
    assert [(e.action, e.target) for e in events] == [("pause", "c1-b"), ("unpause", "c1-b")]
    assert deployment.done == [("pause", "c1-b", None), ("unpause", "c1-b", None)]


def test_a_leader_partition_cuts_the_leader_off_from_its_peers_only() -> None:
    deployment = FakeDeployment()
    assert strike(PartitionLeader, deployment) == ["c1-b"]
    action, service, peers = deployment.done[0]
    assert (action, service, peers) == ("isolate", "c1-b", ["c1-a", "c1-c"])
    assert deployment.done[1][:2] == ("heal_network", "c1-b")

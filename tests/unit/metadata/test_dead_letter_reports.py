"""Which queues hold dead letters for a DLQ elsewhere, as the metadata leader learns it from
backend load reports: remembered per member, latest report first, never written to the log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

from raftq.backend.reporter import queues_with_dead_letters
from raftq.common import codec, limits
from raftq.common.clock import FakeClock
from raftq.common.metadata_commands import MetadataCommandBatch, RegisterCluster, ReportLoad
from raftq.common.metadata_models import ClusterMember
from raftq.common.results import QueueStats
from raftq.metadata.dead_letter_reports import DeadLetterReports
from raftq.metadata.liveness import Liveness
from raftq.metadata.node import MetadataNode
from raftq.metadata.raft_machine import MetadataRaftMachine

MEMBERS = tuple(
    ClusterMember(node_id=f"n{i}", zone=z, raft_address=f"h{i}:1", api_address=f"h{i}:2")
    for i, z in enumerate("abc")
)


def report(node_id: str, *queue_ids: str, messages: int = 0) -> ReportLoad:
    return ReportLoad(
        now_ms=0,
        actor=node_id,
        cluster_id="c1",
        node_id=node_id,
        messages=messages,
        queues=0,
        dead_letter_queues=queue_ids,
    )


def stats(dead_letter_pending: int) -> QueueStats:
    return QueueStats(visible=1, in_flight=0, delayed=0, dead_letter_pending=dead_letter_pending)


def test_a_backend_names_the_queues_with_the_most_dead_letters_first_up_to_the_limit() -> None:
    depths = {"q-a": stats(1), "q-b": stats(0), "q-c": stats(5), "q-d": stats(1)}
    assert queues_with_dead_letters(depths) == ("q-c", "q-a", "q-d")
    many = {f"q-{i:05}": stats(1) for i in range(limits.DEAD_LETTER_REPORT_MAX_QUEUES + 1)}
    assert len(queues_with_dead_letters(many)) == limits.DEAD_LETTER_REPORT_MAX_QUEUES


def test_each_member_s_latest_report_replaces_its_earlier_one() -> None:
    clock = FakeClock()
    reports = DeadLetterReports(clock.monotonic_ms)
    assert reports.waiting() == {}
    heard_ms = clock.monotonic_ms()
    reports.heard(report("n0", "q-a", "q-b"))
    clock.advance(1_000)
    reports.heard(report("n1", "q-b"))
    # A queue named by two members counts from the later report
    assert reports.waiting() == {"q-a": heard_ms, "q-b": heard_ms + 1_000}
    # A member's report that names nothing any more forgets what it named before
    clock.advance(1_000)
    reports.heard(report("n0"))
    assert reports.waiting() == {"q-b": heard_ms + 1_000}


@dataclass
class RecordingRaft:
    """A one-member Raft that applies each proposal at once and keeps its payload."""

    machine: MetadataRaftMachine
    is_leader: bool = True
    payloads: list[bytes] = field(default_factory=list)
    command_level: int | None = 3  # a group of one agrees on its own level

    def propose(self, payload: bytes) -> asyncio.Future[object]:
        self.payloads.append(payload)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(self.machine.apply(self.machine.applied_index + 1, payload))
        return future


def metadata_leader(clock: FakeClock) -> tuple[MetadataNode, RecordingRaft]:
    """What `report_load` and `execute` read of a node, without a pysyncobj member."""
    machine = MetadataRaftMachine()
    raft = RecordingRaft(machine)
    node = SimpleNamespace(
        machine=machine,
        raft=raft,
        settings=SimpleNamespace(propose_timeout_s=5.0),
        leader_clock=SimpleNamespace(now_ms=clock.now_ms),
        liveness=Liveness(clock.now_ms, lambda: 1),
        dead_letters=DeadLetterReports(clock.monotonic_ms),
    )
    typed = cast(MetadataNode, node)
    node.execute = lambda command: MetadataNode.execute(typed, command)
    node.cluster = lambda cluster_id: MetadataNode.cluster(typed, cluster_id)
    node.report_load = lambda report: MetadataNode.report_load(typed, report)
    return typed, raft


async def test_the_leader_remembers_the_named_queues_and_logs_reports_without_them() -> None:
    # Given a metadata leader that knows cluster c1
    clock = FakeClock()
    node, raft = metadata_leader(clock)
    await node.execute(RegisterCluster(now_ms=0, actor="root", cluster_id="c1", members=MEMBERS))
    # When c1's leader reports a new load, naming a queue with dead letters
    await node.report_load(report("n0", "q-orders", messages=3))
    # Then the leader remembers the queue
    assert set(node.dead_letters.waiting()) == {"q-orders"}
    # And the report it logged (its load changed) names no queue
    logged = codec.decode(raft.payloads[-1], MetadataCommandBatch).commands[0]
    assert isinstance(logged, ReportLoad) and logged.messages == 3
    assert logged.dead_letter_queues == ()
    # And a report that changes only the queues it names is remembered, never logged
    entries = len(raft.payloads)
    await node.report_load(report("n0", messages=3))
    assert node.dead_letters.waiting() == {}
    assert len(raft.payloads) == entries

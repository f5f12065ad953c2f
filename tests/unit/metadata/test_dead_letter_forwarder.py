"""The metadata leader's dead-letter forwarder (metadata/dead_letter_forwarder.py), against real
backend state machines: clusters c1, c2 and c3 of two replicas each, driven in process, and a
catalogue made by the metadata state machine. A dead letter of `orders` (on c1) whose
dead-letter queue `orders-dlq` lives on c2 must arrive there exactly once and leave c1; every
test ends with each cluster's replicas agreeing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from raftq.backend.reads import list_queues, queue_stats
from raftq.backend.reporter import queues_with_dead_letters
from raftq.backend.store import MemoryStore
from raftq.common import limits
from raftq.common.clock import FakeClock
from raftq.common.commands import (
    AcceptDeadLetters,
    AnyCommand,
    FenceQueue,
    ReadDeadLetters,
    SetQueueAttributes,
)
from raftq.common.errors import BackendUnavailable
from raftq.common.metadata_commands import (
    ActivateQueue,
    BeginMove,
    ReportLoad,
    SwitchPlacement,
)
from raftq.common.metadata_commands import SetQueueAttributes as SetCatalogueAttributes
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes, RedrivePolicy
from raftq.common.results import CommandResult, DeadLetters, Failure, QueueStats
from raftq.metadata.dead_letter_forwarder import PASS_INTERVAL_S, DeadLetterForwarder
from raftq.metadata.dead_letter_reports import DeadLetterReports
from tests.replica import ReplicaGroup
from tests.unit.backend.test_queue_move import copy
from tests.unit.metadata.test_metadata_state_machine import Metadata

SOURCE, DLQ, OTHER_DLQ = "q-orders", "q-orders-dlq", "q-other-dlq"
VISIBILITY_MS = 10_000
PASS_MS = int(PASS_INTERVAL_S * 1000)


@dataclass
class InProcessBackends:
    """`Backends.run` on in-process clusters: stamps the cluster's time, raises failures."""

    clusters: dict[str, ReplicaGroup]
    down: set[str] = field(default_factory=set)
    sent: list[tuple[str, str]] = field(default_factory=list)  # (cluster, command kind)

    async def run(self, cluster_id: str, command: AnyCommand) -> CommandResult:
        self.sent.append((cluster_id, command.kind))
        if cluster_id in self.down:
            raise BackendUnavailable("no member of the group could serve the request")
        cluster = self.clusters[cluster_id]
        result = cluster.one(command.model_copy(update={"now_ms": cluster.now_ms}))
        if isinstance(result, Failure):
            raise result.to_error()
        return result


@dataclass
class World:
    metadata: Metadata
    clusters: dict[str, ReplicaGroup]
    backends: InProcessBackends
    clock: FakeClock
    forwarder: DeadLetterForwarder
    reports: DeadLetterReports

    @property
    def c1(self) -> ReplicaGroup:
        return self.clusters["c1"]

    @property
    def c2(self) -> ReplicaGroup:
        return self.clusters["c2"]

    def report(self, cluster_id: str = "c1") -> None:
        """The cluster's leader reports its load, naming its queues with dead letters."""
        cluster = self.clusters[cluster_id]
        depths = {
            record.queue_id: queue_stats(cluster.machine, record.queue_id, cluster.now_ms)
            for record in list_queues(cluster.machine)
        }
        self.reports.heard(
            ReportLoad(
                now_ms=0,
                actor=f"{cluster_id}-a",
                cluster_id=cluster_id,
                node_id=f"{cluster_id}-a",
                messages=0,
                queues=len(depths),
                dead_letter_queues=queues_with_dead_letters(depths),
            )
        )

    async def next_pass(self) -> int:
        self.clock.advance(PASS_MS)
        return await self.forwarder.forward_once()

    def dead_letter(self, body: bytes = b"poison") -> str:
        """Send `body` to `orders` on c1 and receive it twice: it waits for its DLQ."""
        message_id = self.c1.send(SOURCE, body, attributes=b"sealed").sent[0].message_id
        assert len(self.c1.receive(SOURCE).messages) == 1
        self.c1.advance(VISIBILITY_MS)
        assert self.c1.receive(SOURCE).messages == ()
        return message_id

    def set_redrive(self, dead_letter_queue: str | None, name: str | None) -> None:
        """Change `orders`' redrive policy in the catalogue and on its replica, as
        queue_lifecycle.py does (by name in the one, by id in the other)."""
        redrive = (
            None if name is None else RedrivePolicy(dead_letter_queue=name, max_receive_count=1)
        )
        changed = self.metadata.run(
            SetCatalogueAttributes(
                now_ms=self.metadata.now_ms,
                actor="a",
                name="orders",
                attributes=QueueAttributes(redrive=redrive),
            )
        )
        assert not isinstance(changed, Failure), changed
        if dead_letter_queue is None:
            changes = QueueAttributeChanges(clear_redrive=True)
        else:
            changes = QueueAttributeChanges(
                redrive=RedrivePolicy(dead_letter_queue=dead_letter_queue, max_receive_count=1)
            )
        self.c1.one(SetQueueAttributes(now_ms=self.c1.now_ms, queue=SOURCE, changes=changes))


def counts(stats: QueueStats) -> tuple[int, int, int, int]:
    return (stats.visible, stats.in_flight, stats.delayed, stats.dead_letter_pending)


@pytest.fixture
def world() -> Iterator[World]:
    """`orders` on c1 redrives after one receive to `orders-dlq` on c2; `other-dlq` is on c2."""
    metadata = Metadata()
    for cluster_id in ("c1", "c2", "c3"):
        metadata.register(cluster_id)
    for name, queue_id, cluster_id, attributes in (
        ("orders-dlq", DLQ, "c2", {}),
        ("other-dlq", OTHER_DLQ, "c2", {}),
        ("orders", SOURCE, "c1", {"redrive": {"dead_letter_queue": "orders-dlq"}}),
    ):
        metadata.create(name, queue_id, cluster_id, **attributes)
        metadata.run(ActivateQueue(now_ms=metadata.now_ms, actor="a", name=name, queue_id=queue_id))
    clusters = {c: ReplicaGroup([MemoryStore(), MemoryStore()]) for c in ("c1", "c2", "c3")}
    clusters["c2"].create(DLQ)
    clusters["c2"].create(OTHER_DLQ)
    redrive = {"dead_letter_queue": DLQ, "max_receive_count": 1}
    clusters["c1"].create(SOURCE, visibility_timeout_ms=VISIBILITY_MS, redrive=redrive)
    backends = InProcessBackends(clusters)
    clock = FakeClock()
    reports = DeadLetterReports(clock.monotonic_ms)
    forwarder = DeadLetterForwarder(
        leading=lambda: True,
        queues=lambda: list(metadata.machine.state.queues.values()),
        reports=reports,
        backends=backends,
        clock=clock,
    )
    yield World(metadata, clusters, backends, clock, forwarder, reports)
    for cluster in clusters.values():
        cluster.assert_replicas_agree()


async def test_a_dead_letter_on_c1_arrives_exactly_once_in_its_dlq_on_c2(world: World) -> None:
    # Given a dead letter of `orders` waiting on c1, and c1's report naming the queue
    message_id = world.dead_letter(b"poison")
    world.report()
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, 1)
    # When the forwarder makes a pass
    moved = await world.next_pass()
    # Then the DLQ on c2 holds it, whole, naming its source, and c1 no longer does
    assert moved == 1
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, 0)
    assert world.c1.status(SOURCE, message_id).state == "dead_lettered"
    (arrived,) = world.c2.receive(DLQ).messages
    assert (arrived.message_id, arrived.body, arrived.attributes) == (
        message_id,
        b"poison",
        b"sealed",
    )
    assert arrived.dead_letter_source == SOURCE
    # And once c1 reports again, with nothing waiting, later passes send nothing anywhere
    world.report()
    world.backends.sent.clear()
    assert await world.next_pass() == 0
    assert world.backends.sent == []
    assert counts(world.c2.stats(DLQ)) == (0, 1, 0, 0)


async def test_a_forward_cut_between_accept_and_release_leaves_one_copy(world: World) -> None:
    # Given a dead letter that an earlier leader read and had accepted by the DLQ, and then
    # crashed before releasing it from the source
    message_id = world.dead_letter()
    letters = world.c1.expect(ReadDeadLetters(now_ms=world.c1.now_ms, queue=SOURCE), DeadLetters)
    world.c2.one(
        AcceptDeadLetters(
            now_ms=world.c2.now_ms,
            queue=DLQ,
            source=SOURCE,
            source_fifo=False,
            entries=letters.entries,
        )
    )
    # When the (new) leader's forwarder makes a full pass
    world.report()
    await world.next_pass()
    # Then the source released it, and the DLQ holds one copy
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, 0)
    assert counts(world.c2.stats(DLQ)) == (1, 0, 0, 0)
    assert [m.message_id for m in world.c2.receive(DLQ, 10).messages] == [message_id]


async def test_a_report_that_came_before_the_pass_that_emptied_the_outbox_is_not_read_again(
    world: World,
) -> None:
    # Given a dead letter forwarded by a pass
    world.dead_letter()
    world.report()
    await world.next_pass()
    world.backends.sent.clear()
    # When later passes run before c1 reports again (its last report still names the queue)
    await world.next_pass()
    await world.next_pass()
    # Then they ask no backend anything
    assert world.backends.sent == []
    # And a new dead letter, named by c1's next report, is forwarded by the next pass
    world.dead_letter(b"second")
    world.report()
    assert await world.next_pass() == 1
    assert counts(world.c2.stats(DLQ)) == (2, 0, 0, 0)


async def test_dead_letters_of_a_queue_without_redrive_policy_return_to_it(world: World) -> None:
    # Given a dead letter waiting, then `orders`' redrive policy removed
    message_id = world.dead_letter()
    world.set_redrive(None, None)
    world.report()
    # When the forwarder passes
    assert await world.next_pass() == 1
    # Then it is visible in `orders` again, as if never received, and the DLQ has nothing
    assert counts(world.c1.stats(SOURCE)) == (1, 0, 0, 0)
    assert counts(world.c2.stats(DLQ)) == (0, 0, 0, 0)
    (again,) = world.c1.receive(SOURCE).messages
    assert (again.message_id, again.receive_count) == (message_id, 1)


async def test_dead_letters_go_to_the_dlq_the_policy_names_when_they_are_forwarded(
    world: World,
) -> None:
    # Given a dead letter that waited while the redrive policy was changed to `other-dlq`
    message_id = world.dead_letter()
    world.set_redrive(OTHER_DLQ, "other-dlq")
    world.report()
    # When the forwarder passes
    await world.next_pass()
    # Then it went to `other-dlq`, not to the queue named when it was dead-lettered
    assert counts(world.c2.stats(DLQ)) == (0, 0, 0, 0)
    assert [m.message_id for m in world.c2.receive(OTHER_DLQ).messages] == [message_id]


async def test_an_unreachable_dlq_cluster_leaves_them_waiting_until_a_later_pass(
    world: World,
) -> None:
    # Given a dead letter waiting, and c2 unreachable
    world.dead_letter()
    world.report()
    world.backends.down.add("c2")
    # When the forwarder passes twice in a row and fails
    assert await world.next_pass() == 0
    assert await world.next_pass() == 0
    # Then nothing left c1
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, 1)
    # And it waits longer after each failure in a row (1 s, then 2 s): the next pass skips it
    world.backends.sent.clear()
    assert await world.next_pass() == 0
    assert world.backends.sent == []
    # And once c2 is back, a pass forwards it
    world.backends.down.clear()
    assert await world.next_pass() == 1
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, 0)
    assert counts(world.c2.stats(DLQ)) == (1, 0, 0, 0)


async def test_a_dlq_moving_away_answers_queue_moved_and_its_new_cluster_takes_them(
    world: World,
) -> None:
    # Given a dead letter waiting, and its DLQ fenced on c2 by a move to c3
    message_id = world.dead_letter()
    world.report()
    metadata = world.metadata
    metadata.run(
        BeginMove(now_ms=metadata.now_ms, actor="a", name="orders-dlq", target_cluster="c3")
    )
    world.c2.one(FenceQueue(now_ms=world.c2.now_ms, queue=DLQ, epoch=2))
    # When the forwarder passes during the move
    assert await world.next_pass() == 0
    # Then it still waits on c1
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, 1)
    # And once the DLQ serves on c3 and the catalogue says so, a later pass forwards it there
    copy(world.c2, world.clusters["c3"], DLQ)
    metadata.run(
        SwitchPlacement(now_ms=metadata.now_ms, actor="a", name="orders-dlq", queue_id=DLQ)
    )
    world.clock.advance(PASS_MS)
    assert await world.next_pass() == 1
    assert [m.message_id for m in world.clusters["c3"].receive(DLQ).messages] == [message_id]
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, 0)


async def test_more_dead_letters_than_a_batch_are_forwarded_in_one_pass(world: World) -> None:
    # Given more dead letters waiting than one batch holds
    total = limits.DEAD_LETTER_BATCH_MAX + 6
    world.c1.send(SOURCE, *(f"m{i}".encode() for i in range(total)))
    world.c1.receive(SOURCE, max_messages=limits.BATCH_ENTRIES_MAX)
    world.c1.advance(VISIBILITY_MS)
    world.c1.receive(SOURCE, max_messages=limits.BATCH_ENTRIES_MAX)
    assert counts(world.c1.stats(SOURCE)) == (0, 0, 0, total)
    world.report()
    # When the forwarder passes
    moved = await world.next_pass()
    # Then all of them moved, in two batches
    assert moved == total
    assert counts(world.c2.stats(DLQ)) == (total, 0, 0, 0)
    assert world.backends.sent.count(("c2", "accept_dead_letters")) == 2


async def test_a_node_that_does_not_lead_forwards_nothing(world: World) -> None:
    world.dead_letter()
    world.report()
    follower = DeadLetterForwarder(
        leading=lambda: False,
        queues=lambda: list(world.metadata.machine.state.queues.values()),
        reports=world.reports,
        backends=world.backends,
        clock=world.clock,
    )
    assert await follower.forward_once() == 0
    assert world.backends.sent == []

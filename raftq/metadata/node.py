"""One metadata node: a Raft member holding the catalogue.

Writes go to the leader, one command per Raft entry (administrative traffic is light), stamped
with the leader's time: a `LeaderClock` (common/leader_clock.py), so a step of its wall clock
does not move the catalogue's time ahead of its monotonic clock. Reads are served locally by any
member and say how fresh they are: the serving node's role and applied index, and the leader it
knows. A frontend that needs a linearizable answer asks the leader; its cache tolerates a
follower's answer and corrects itself on a placement epoch mismatch (DESIGN.md §2).
"""

from __future__ import annotations

import asyncio
from typing import Any

from raftq.common import codec
from raftq.common.clock import Clock
from raftq.common.errors import NotLeader, OutcomeUnknown
from raftq.common.leader_clock import AppliedTime, LeaderClock
from raftq.common.metadata_commands import AnyMetadataCommand, MetadataCommandBatch, ReportLoad
from raftq.common.metadata_models import Cluster, Queue
from raftq.common.results import Done
from raftq.common.settings import MetadataNodeSettings
from raftq.metadata.command_gate import check_level
from raftq.metadata.dead_letter_reports import DeadLetterReports
from raftq.metadata.liveness import Liveness
from raftq.metadata.raft_machine import MetadataRaftMachine
from raftq.metadata.schedule_ticks import stamp
from raftq.raft.node import RaftNode


class MetadataNode:
    def __init__(self, settings: MetadataNodeSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.machine = MetadataRaftMachine()
        applied = AppliedTime(clock)
        self.raft = RaftNode(
            settings.raft,
            self.machine,
            settings.members,
            join=settings.join,
            on_applied=lambda: applied.observe(self.machine.machine.clock_ms),
        )
        self.leader_clock = LeaderClock(clock, applied, term=lambda: int(self.raft.raftCurrentTerm))
        self.liveness = Liveness(clock.now_ms, self._leading_term)
        self.dead_letters = DeadLetterReports(clock.monotonic_ms)

    def _leading_term(self) -> int | None:
        """The term this node leads in, once its state is current (liveness.py relies on the
        replicated reports being the latest)."""
        return int(self.raft.raftCurrentTerm) if self.raft.leads_current_state else None

    @property
    def leader_api_address(self) -> str | None:
        return self.raft.api_address_of(self.raft.leader)

    async def execute(self, command: AnyMetadataCommand) -> Any:
        if not self.raft.is_leader:
            raise NotLeader("this node is not the leader", leader_hint=self.leader_api_address)
        check_level(command, self.raft.command_level)  # a rolling upgrade (command_gate.py)
        now_ms = self.leader_clock.now_ms()
        stamped = command.model_copy(update={"now_ms": now_ms})
        with self.machine.lock:  # a schedule's next tick is the leader's to compute
            stamped = stamp(stamped, now_ms, self.machine.machine.state)
        payload = codec.encode(MetadataCommandBatch(commands=(stamped,)))
        try:
            results = await asyncio.wait_for(
                self.raft.propose(payload), self.settings.propose_timeout_s
            )
        except TimeoutError:
            raise OutcomeUnknown("the entry did not commit in time; it may still") from None
        assert isinstance(results, list) and len(results) == 1
        return results[0]

    async def report_load(self, report: ReportLoad) -> Any:
        """A backend member's periodic report: remembered by the leader, and written to the log
        only when it changes the replicated record (metadata/liveness.py). The queues it names
        as holding dead letters are only remembered (dead_letter_reports.py), never logged."""
        if self.raft.is_leader:
            self.dead_letters.heard(report)
        report = report.model_copy(update={"dead_letter_queues": ()})
        if self.liveness.heard(report, self.cluster(report.cluster_id)):
            return await self.execute(report)
        return Done()

    def freshness(self) -> dict[str, Any]:
        return {
            "served_by": "leader" if self.raft.is_leader else "follower",
            "applied_index": self.machine.applied_index,
            "leader": self.leader_api_address,
        }

    def queue(self, name: str) -> Queue | None:
        with self.machine.lock:
            return self.machine.machine.state.queues.get(name)

    def cluster(self, cluster_id: str) -> Cluster | None:
        with self.machine.lock:
            return self.machine.machine.state.clusters.get(cluster_id)

    def snapshot_of_state(self) -> dict[str, Any]:
        """Everything but secrets, for `raftq admin` listings."""
        with self.machine.lock:
            state = self.machine.machine.state
            return {
                "clusters": [c.model_dump(mode="json") for c in state.clusters.values()],
                "queues": [q.model_dump(mode="json") for q in state.queues.values()],
                "principals": sorted(state.principals),
                "keys": [
                    k.model_dump(mode="json", exclude={"secret_ciphertext"})
                    for k in state.keys.values()
                ],
                "grants": [g.model_dump(mode="json") for g in state.grants],
                "move_tasks": [t.model_dump(mode="json") for t in state.move_tasks.values()],
                # Deleted queues' data keys, wrapped as live ones are (frontends open dead
                # letters with them; `raftq admin data-keys rewrap` rotates them).
                "retired_queues": [r.model_dump(mode="json") for r in state.retired.values()],
                "frontends": [
                    f.model_dump(mode="json", exclude={"secret_ciphertext"})
                    for f in state.frontends.values()
                ],
                # Without their sealed bodies: nobody reading the catalogue can open them.
                "schedules": [
                    s.model_dump(mode="json", exclude={"body"}) for s in state.schedules.values()
                ],
            }

    def stop(self) -> None:
        self.raft.destroy()

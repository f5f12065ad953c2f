"""Watch every node of a cluster's Raft status (its signed /v1/status) every ~100 ms, and say
what changed: terms, leaders, and the longest time a node went without answering.

One task per node, so a node that does not answer (its event loop starved, or the process
stalled) delays only its own samples; each request times out after 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field

import aiohttp

from tests.integration.cluster import Cluster

SAMPLE_EVERY_S = 0.1


@dataclass(frozen=True)
class Sample:
    at_s: float  # time.monotonic()
    term: int
    leader: str | None  # the leader's Raft address as this node knows it
    applied_index: int


@dataclass
class NodeWatch:
    samples: list[Sample] = field(default_factory=list)
    unanswered: int = 0


@dataclass(frozen=True)
class WatchReport:
    term_changes: int  # the most any one node's term moved during the window
    leader_changes: int  # the most times any one node saw another leader (or none)
    terms: list[tuple[int, int]]  # per node: first and last term in the window
    longest_gap_s: float  # longest time between two answers of one node
    unanswered: int
    entries_applied: int  # Raft entries applied in the window (the most any node applied)

    def line(self) -> str:
        terms = ", ".join(f"{first}->{last}" for first, last in self.terms)
        return (
            f"term changes {self.term_changes}, leader changes {self.leader_changes} "
            f"(terms {terms}); longest gap between status answers {self.longest_gap_s:.2f} s "
            f"({self.unanswered} requests unanswered)"
        )


class RaftWatch:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self.nodes = [NodeWatch() for _ in cluster.nodes]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._watch(i), name=f"watch-n{i + 1}")
            for i in range(len(self.nodes))
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self, i: int) -> None:
        watch = self.nodes[i]
        while True:
            started = time.monotonic()
            try:
                status = await self._cluster.status(i)
            except (aiohttp.ClientError, OSError, TimeoutError):
                status = None
            if status is None:
                watch.unanswered += 1
            else:
                watch.samples.append(
                    Sample(
                        at_s=time.monotonic(),
                        term=int(status["term"]),
                        leader=status["leader"],
                        applied_index=int(status["machine_applied_index"]),
                    )
                )
            await asyncio.sleep(max(0.0, started + SAMPLE_EVERY_S - time.monotonic()))

    def report(self, start_s: float, end_s: float) -> WatchReport:
        """What the nodes said between `start_s` and `end_s` (time.monotonic()), including
        the last sample before the window, so a change at its very start is seen."""
        term_changes = leader_changes = 0
        terms: list[tuple[int, int]] = []
        longest_gap_s = 0.0
        entries_applied = 0
        for watch in self.nodes:
            before = [s for s in watch.samples if s.at_s < start_s][-1:]
            inside = [s for s in watch.samples if start_s <= s.at_s <= end_s]
            window = before + inside
            if not window:
                terms.append((0, 0))
                longest_gap_s = max(longest_gap_s, end_s - start_s)
                continue
            terms.append((window[0].term, window[-1].term))
            term_changes = max(term_changes, window[-1].term - window[0].term)
            changes = sum(1 for a, b in itertools.pairwise(window) if a.leader != b.leader)
            leader_changes = max(leader_changes, changes)
            times = [start_s, *(s.at_s for s in inside), end_s]
            gaps = (b - a for a, b in itertools.pairwise(times))
            longest_gap_s = max(longest_gap_s, *gaps)
            applied = window[-1].applied_index - window[0].applied_index
            entries_applied = max(entries_applied, applied)
        return WatchReport(
            term_changes=term_changes,
            leader_changes=leader_changes,
            terms=terms,
            longest_gap_s=longest_gap_s,
            unanswered=sum(watch.unanswered for watch in self.nodes),
            entries_applied=entries_applied,
        )

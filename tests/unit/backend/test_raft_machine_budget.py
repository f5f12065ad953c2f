"""A node's machine makes the budget of due transitions its settings give it
(`due_transitions_per_entry`), and keeps it when a snapshot replaces its store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftq.backend.raft_machine import QueueRaftMachine
from raftq.backend.state_directory import StateDirectory
from raftq.common import codec
from raftq.common.commands import (
    AnyCommand,
    CommandBatch,
    CreateQueue,
    GetQueueStats,
    SendEntry,
    SendMessages,
)
from raftq.common.results import QueueStats
from raftq.common.settings import StoreSettings

START_MS = 1_700_000_000_000
DELAY_MS = 1_000


def apply(machine: QueueRaftMachine, *commands: AnyCommand) -> object:
    """Apply one Raft entry carrying `commands` at the next log index."""
    payload = codec.encode_batch(CommandBatch(commands=commands))
    return machine.apply(machine.applied_index + 1, payload)


def stats_entry(machine: QueueRaftMachine) -> tuple[int, int]:
    """(visible, delayed) as counted by a stats read in an entry of its own, after the delays."""
    results = apply(machine, GetQueueStats(now_ms=START_MS + DELAY_MS, queue="q"))
    assert isinstance(results, list)
    (stats,) = results
    assert isinstance(stats, QueueStats)
    return stats.visible, stats.delayed


def open_machine(path: Path, due_transitions_per_entry: int) -> QueueRaftMachine:
    settings = StoreSettings(path=path)
    return QueueRaftMachine(StateDirectory(path, settings), settings, due_transitions_per_entry)


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[QueueRaftMachine, QueueRaftMachine]]:
    """Two replicas with a budget of 3 due transitions per entry, each queue q holding 10
    messages whose delays end at the same moment."""
    made = [open_machine(tmp_path / name, due_transitions_per_entry=3) for name in "ab"]
    bodies = tuple(SendEntry(entry_id=str(i), body=b"m", delay_ms=DELAY_MS) for i in range(10))
    for machine in made:
        apply(machine, CreateQueue(now_ms=START_MS, queue="q"))
        apply(machine, SendMessages(now_ms=START_MS, queue="q", entries=bodies))
    yield made[0], made[1]
    for machine in made:
        machine.close()


def test_each_entry_makes_the_budget_the_node_was_given(
    machines: tuple[QueueRaftMachine, QueueRaftMachine],
) -> None:
    # Given a replica with a budget of 3 and 10 delays ending at once
    machine, _ = machines
    # When two entries read the counts after the delays ended
    # Then each made 3 transitions, no more
    assert stats_entry(machine) == (3, 7)
    assert stats_entry(machine) == (6, 4)


def test_the_budget_survives_a_snapshot_install(
    tmp_path: Path, machines: tuple[QueueRaftMachine, QueueRaftMachine]
) -> None:
    # Given replica B installs a snapshot of replica A, one entry further on
    a, b = machines
    apply(a, GetQueueStats(now_ms=START_MS, queue="q"))
    a.write_snapshot(tmp_path / "snapshot")
    b.install_snapshot(tmp_path / "snapshot")
    assert b.snapshots_installed == 1
    # When an entry reads the counts after the delays ended
    # Then it made 3 transitions: the installed state runs with B's budget
    assert stats_entry(b) == (3, 7)

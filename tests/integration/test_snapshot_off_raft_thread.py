"""A snapshot of a large state does not stall pysyncobj's tick thread (issue 17 item 5).

One real Raft member (pysyncobj, its tick thread, the durable journal, real files) whose state
is one large file: its `write_snapshot` hard-links the file, as a RocksDB checkpoint hard-links
its SST files, so the cut is as cheap as the real one and the archive costs what a store of
that size costs. The test measures the longest gap between two ticks while the member compacts
its log, against the time an archive of that state takes on this machine (measured first):
with the archive written on the tick thread, one tick lasts the whole archive.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from raftq.common.settings import RaftSettings, RaftTimings
from raftq.raft.node import RaftNode
from raftq.raft.pysyncobj_wiring import SNAPSHOT_NAME
from raftq.raft.snapshot_archive import SnapshotMeta, read_archive, write_archive
from raftq.raft.snapshot_builder import BUILDING_NAME
from tests.integration.cluster import free_ports

pytestmark = pytest.mark.integration

STATE_BYTES = 512 << 20
STATE_NAME = "state.sst"


class LargeFileMachine:
    """A ReplicatedMachine whose state is one large file and the index applied."""

    def __init__(self, state_file: Path) -> None:
        self._state_file = state_file
        self._applied_index = 0
        self.snapshots_installed = 0

    @property
    def applied_index(self) -> int:
        return self._applied_index

    @property
    def digest(self) -> bytes:
        return b""

    def apply(self, index: int, payload: bytes) -> object:
        self._applied_index = max(self._applied_index, index)
        return None

    def write_snapshot(self, directory: Path) -> None:
        directory.mkdir()
        os.link(self._state_file, directory / STATE_NAME)
        (directory / "applied").write_text(str(self._applied_index))

    def install_snapshot(self, directory: Path) -> None:
        index = int((directory / "applied").read_text())
        if index > self._applied_index:
            self._applied_index = index
            self.snapshots_installed += 1


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def state_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / STATE_NAME
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for _ in range(STATE_BYTES >> 20):
            handle.write(block)
    yield path
    path.unlink()


def archive_seconds(tmp_path: Path, state_file: Path) -> float:
    """How long an archive of that state takes here (what the tick thread used to spend)."""
    directory = tmp_path / "calibration"
    directory.mkdir()
    os.link(state_file, directory / STATE_NAME)
    started = time.monotonic()
    write_archive(
        tmp_path / "calibration.archive", SnapshotMeta((b"", 2, 1), (b"", 1, 1), ()), directory
    )
    seconds = time.monotonic() - started
    (tmp_path / "calibration.archive").unlink()
    (directory / STATE_NAME).unlink()
    directory.rmdir()
    return seconds


def test_a_large_snapshot_is_archived_off_the_tick_thread(tmp_path: Path, state_file: Path) -> None:
    # Given the time an archive of a 512 MiB state takes on this machine
    archive_s = archive_seconds(tmp_path, state_file)
    # And a one-member group, leader, with entries applied, whose ticks are timed
    (port,) = free_ports(1)
    # Ticks of 50 ms (a leader ticks at least every `tick_s`), so that a stalled tick stands out.
    timings = RaftTimings(tick_s=0.05, append_entries_period_s=0.05)
    settings = RaftSettings(
        self_address=f"127.0.0.1:{port}",
        peers=(),
        data_dir=tmp_path / "raft",
        insecure_development_mode=True,
        timings=timings,
    )
    machine = LargeFileMachine(state_file)
    node = RaftNode(settings, machine)
    ticks: list[float] = []
    lock = threading.Lock()

    def on_tick() -> None:
        with lock:
            ticks.append(time.monotonic())

    try:
        wait_for(lambda: node.is_leader, 15, "a leader")
        for number in range(5):
            node.apply(b"entry-%d" % number, callback=lambda _result, _reason: None)
        wait_for(lambda: machine.applied_index >= 6, 10, "the entries applied")
        node.addOnTickCallback(on_tick)
        wait_for(lambda: len(ticks) >= 3, 5, "ticks")

        # When it compacts its log
        node.forceLogCompaction()
        snapshot = settings.data_dir / SNAPSHOT_NAME
        wait_for(lambda: snapshot.exists() and len(node.journal) <= 2, 60, "the compaction")
        with lock:
            ticked = len(ticks)
        # Two ticks after it, so the gap the compaction may have held open is closed
        wait_for(lambda: len(ticks) >= ticked + 2, 5, "two ticks after the compaction")

        # Then no tick waited for the archive: the longest gap between two ticks is below
        # half the archive's time and below the minimum election timeout
        with lock:
            gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
        longest_s = max(gaps)
        assert longest_s < min(archive_s / 2, timings.election_timeout_min_s), (
            f"a tick waited {longest_s:.3f} s (an archive takes {archive_s:.3f} s)"
        )
        # And the served snapshot is whole, at the applied index, and nothing half-built is left
        meta = read_archive(snapshot, tmp_path / "extracted")
        assert meta.last_entry[1] == machine.applied_index
        assert (tmp_path / "extracted" / STATE_NAME).stat().st_size == STATE_BYTES
        assert not (settings.data_dir / BUILDING_NAME).exists()
    finally:
        node.destroy_synchronous()  # which closes the journal

"""SnapshotBuilder on real files and a real worker thread: a snapshot is served only whole, a
stale one is discarded, and a failure is reported once (pysyncobj then tries again)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pysyncobj.config import SERIALIZER_STATE

from raftq.raft.snapshot_archive import SnapshotMeta, read_archive
from raftq.raft.snapshot_builder import BUILDING_NAME, CUT_NAME, SnapshotBuilder

META = SnapshotMeta(last_entry=(b"b", 8, 2), previous_entry=(b"a", 7, 2), members=("m:1",))


class DirectoryMachine:
    """A ReplicatedMachine whose state is one file; `fail` makes the cut raise."""

    applied_index = 8
    snapshots_installed = 0
    digest = b""
    fail = False

    def apply(self, index: int, payload: bytes) -> object:
        return None

    def write_snapshot(self, directory: Path) -> None:
        if self.fail:
            raise OSError("no space left on device")
        directory.mkdir()
        (directory / "state").write_bytes(b"state at 8")

    def install_snapshot(self, directory: Path) -> None:
        pass


def builder_in(tmp_path: Path, machine: DirectoryMachine | None = None) -> SnapshotBuilder:
    return SnapshotBuilder(tmp_path, tmp_path / "snapshot", machine or DirectoryMachine())


def test_the_archive_is_served_only_once_whole_and_reported_as_success(tmp_path: Path) -> None:
    # Given a build started and finished by its worker
    builder = builder_in(tmp_path)
    builder.start(META)
    builder.close()
    # Then nothing is served until the tick thread asks for progress
    assert not (tmp_path / "snapshot").exists()
    # When it does, the whole archive is renamed into place, and reported once
    assert builder.progress() == SERIALIZER_STATE.SUCCESS
    assert builder.progress() == SERIALIZER_STATE.NOT_SERIALIZING
    meta = read_archive(tmp_path / "snapshot", tmp_path / "extracted")
    assert meta == META
    assert (tmp_path / "extracted" / "state").read_bytes() == b"state at 8"
    assert not (tmp_path / BUILDING_NAME).exists() and not (tmp_path / CUT_NAME).exists()


def test_a_build_overtaken_by_an_installed_snapshot_is_discarded(tmp_path: Path) -> None:
    # Given a served snapshot, and a build during which a newer snapshot was installed
    (tmp_path / "snapshot").write_bytes(b"the installed snapshot")
    builder = builder_in(tmp_path)
    builder.start(META)
    builder.installed()
    builder.close()
    # Then the build is reported failed and the installed snapshot stays served
    assert builder.progress() == SERIALIZER_STATE.FAILED
    assert (tmp_path / "snapshot").read_bytes() == b"the installed snapshot"
    assert not (tmp_path / BUILDING_NAME).exists()


def test_a_failed_cut_is_reported_once_and_a_later_build_succeeds(tmp_path: Path) -> None:
    # Given a machine that cannot cut its state
    machine = DirectoryMachine()
    machine.fail = True
    builder = builder_in(tmp_path, machine)
    builder.start(META)
    builder.close()
    # Then the failure is reported once (pysyncobj is then free to serialize again)
    assert builder.progress() == SERIALIZER_STATE.FAILED
    assert builder.progress() == SERIALIZER_STATE.NOT_SERIALIZING
    # And once the machine can cut again, a build succeeds
    machine.fail = False
    builder.start(META)
    builder.close()
    assert builder.progress() == SERIALIZER_STATE.SUCCESS


def test_a_build_left_by_a_crash_is_removed_at_start(tmp_path: Path) -> None:
    # Given a half-written archive and a cut left by a process that died while building
    (tmp_path / BUILDING_NAME).write_bytes(b"half an archive")
    (tmp_path / CUT_NAME).mkdir()
    (tmp_path / CUT_NAME / "000012.sst").write_bytes(b"sst")
    # When a builder starts there
    builder = builder_in(tmp_path)
    # Then neither is left, and nothing is served or reported
    assert not (tmp_path / BUILDING_NAME).exists() and not (tmp_path / CUT_NAME).exists()
    assert not (tmp_path / "snapshot").exists()
    assert builder.progress() == SERIALIZER_STATE.NOT_SERIALIZING


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(record, "event", "") for record in caplog.records]


def test_each_snapshot_is_logged_once_when_taken_discarded_or_installed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="raftq.raft.snapshot_builder")
    # Given a build that completes: one line once it is served, naming its entry
    builder = builder_in(tmp_path)
    builder.start(META)
    builder.close()
    assert _events(caplog) == []  # not before it is served
    builder.progress()
    builder.progress()
    assert _events(caplog) == ["snapshot_taken"]
    assert "entry 8 (term 2)" in caplog.records[0].getMessage()
    # And a build overtaken by an installed snapshot: the install, then the discard
    caplog.clear()
    builder.start(META)
    builder.installed()
    builder.close()
    builder.progress()
    assert _events(caplog) == ["snapshot_installed", "snapshot_discarded"]


def build_times(builder: SnapshotBuilder) -> tuple[float, float]:
    """(builds timed, their total seconds) from the builder's histogram."""
    samples = {s.name: s.value for m in builder.build_seconds.collect() for s in m.samples}
    return samples["raftq_raft_snapshot_seconds_count"], samples["raftq_raft_snapshot_seconds_sum"]


def test_each_build_that_succeeds_is_timed_and_a_failed_one_is_not(tmp_path: Path) -> None:
    # Given a build that fails and one that succeeds
    machine = DirectoryMachine()
    machine.fail = True
    builder = builder_in(tmp_path, machine)
    builder.start(META)
    builder.close()
    assert builder.progress() == SERIALIZER_STATE.FAILED
    assert build_times(builder) == (0, 0)
    machine.fail = False
    builder.start(META)
    builder.close()
    assert builder.progress() == SERIALIZER_STATE.SUCCESS
    # Then the metrics time the one that succeeded, from its start to its verdict
    count, total_s = build_times(builder)
    assert count == 1 and 0 < total_s < 60

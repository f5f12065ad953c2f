"""The live RocksDB of a replica and its atomic replacement by a snapshot, including a crash at
each step of an install; and the Raft machine's rule that an older snapshot changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftq.backend.raft_machine import QueueRaftMachine
from raftq.backend.reads import queue_stats
from raftq.backend.rocks_store import RocksStore
from raftq.backend.state_directory import StateDirectory
from raftq.backend.store import WriteSet
from raftq.common import codec
from raftq.common.commands import AnyCommand, CommandBatch, CreateQueue, SendEntry, SendMessages
from raftq.common.errors import CorruptState
from raftq.common.settings import StoreSettings
from raftq.raft.durable_files import read_checked, write_checked

CURRENT_MAGIC = b"RQDB"
START_MS = 1_700_000_000_000


def store_settings(path: Path) -> StoreSettings:
    return StoreSettings(path=path)


def marked_checkpoint(tmp_path: Path, marker: bytes) -> Path:
    """A checkpoint of a database holding `marker`, as a snapshot install receives it."""
    source = RocksStore(store_settings(tmp_path / f"source-{marker.decode()}"))
    source.commit(WriteSet(writes={b"marker": marker}))
    snapshot = tmp_path / f"snapshot-{marker.decode()}"
    source.checkpoint(snapshot)
    source.close()
    return snapshot


def live_name(root: Path) -> bytes | None:
    return read_checked(root / "CURRENT", CURRENT_MAGIC)


def databases(root: Path) -> list[str]:
    return sorted(path.name for path in root.glob("db-*"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state"


def open_old_database(root: Path) -> None:
    """Open the state directory once and leave the marker `old` in its database."""
    store = StateDirectory(root, store_settings(root)).open()
    store.commit(WriteSet(writes={b"marker": b"old"}))
    store.close()


# --- StateDirectory ----------------------------------------------------------------------------


def test_open_on_an_empty_directory_creates_the_first_database_and_current(root: Path) -> None:
    # Given a directory that does not exist yet
    # When it is opened
    store = StateDirectory(root, store_settings(root)).open()
    # Then db-000001 is live and CURRENT names it
    assert databases(root) == ["db-000001"]
    assert live_name(root) == b"db-000001"
    store.close()


def test_open_again_finds_the_same_database(root: Path) -> None:
    # Given a database that was written to
    open_old_database(root)
    # When the directory is opened again
    store = StateDirectory(root, store_settings(root)).open()
    # Then the data is there
    assert store.get(b"marker") == b"old"
    store.close()


def test_install_makes_the_snapshot_live_and_removes_the_old_database(
    tmp_path: Path, root: Path
) -> None:
    # Given a live database and a snapshot
    directory = StateDirectory(root, store_settings(root))
    store = directory.open()
    store.commit(WriteSet(writes={b"marker": b"old"}))
    snapshot = marked_checkpoint(tmp_path, b"new")
    # When the snapshot is installed
    store = directory.install(snapshot, store)
    # Then the store serves the snapshot, CURRENT names it, and only it remains
    assert store.get(b"marker") == b"new"
    assert live_name(root) == b"db-000002"
    assert databases(root) == ["db-000002"]
    assert not snapshot.exists()
    store.close()
    # And a reopen finds it, and a second install takes the next number
    store = directory.open()
    assert store.get(b"marker") == b"new"
    store = directory.install(marked_checkpoint(tmp_path, b"newer"), store)
    assert live_name(root) == b"db-000003"
    assert store.get(b"marker") == b"newer"
    store.close()


def test_a_crash_before_current_is_written_keeps_the_old_database(
    tmp_path: Path, root: Path
) -> None:
    # Given a live database, and a snapshot moved in as the next database
    open_old_database(root)
    marked_checkpoint(tmp_path, b"new").rename(root / "db-000002")
    # When the node crashes before CURRENT is rewritten, and opens again
    store = StateDirectory(root, store_settings(root)).open()
    # Then the old database is live and the half-installed one is gone
    assert store.get(b"marker") == b"old"
    assert live_name(root) == b"db-000001"
    assert databases(root) == ["db-000001"]
    store.close()


def test_a_crash_after_current_is_written_keeps_the_new_database(
    tmp_path: Path, root: Path
) -> None:
    # Given a snapshot moved in and CURRENT naming it, the old database not yet removed
    open_old_database(root)
    marked_checkpoint(tmp_path, b"new").rename(root / "db-000002")
    write_checked(root / "CURRENT", CURRENT_MAGIC, b"db-000002")
    # When the node crashes here and opens again
    store = StateDirectory(root, store_settings(root)).open()
    # Then the new database is live and the old one is gone
    assert store.get(b"marker") == b"new"
    assert databases(root) == ["db-000002"]
    store.close()


def test_current_naming_a_missing_database_is_corrupt_state(root: Path) -> None:
    open_old_database(root)
    write_checked(root / "CURRENT", CURRENT_MAGIC, b"db-000009")
    with pytest.raises(CorruptState):
        StateDirectory(root, store_settings(root)).open()


def test_a_damaged_current_is_corrupt_state(root: Path) -> None:
    open_old_database(root)
    raw = bytearray((root / "CURRENT").read_bytes())
    raw[-1] ^= 0x01
    (root / "CURRENT").write_bytes(bytes(raw))
    with pytest.raises(CorruptState):
        StateDirectory(root, store_settings(root)).open()


# --- QueueRaftMachine.install_snapshot -----------------------------------------------------------


def apply(machine: QueueRaftMachine, *commands: AnyCommand) -> None:
    """Apply one Raft entry carrying `commands` at the next log index (as tests/replica.py)."""
    payload = codec.encode_batch(CommandBatch(commands=commands))
    machine.apply(machine.applied_index + 1, payload)


def create_queue(name: str) -> CreateQueue:
    return CreateQueue(now_ms=START_MS, queue=name)


def send(queue: str, body: bytes) -> SendMessages:
    return SendMessages(now_ms=START_MS, queue=queue, entries=(SendEntry(entry_id="e", body=body),))


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[QueueRaftMachine, QueueRaftMachine]]:
    """Two replicas, each with its own state directory."""
    made = []
    for name in ("a", "b"):
        settings = store_settings(tmp_path / name)
        made.append(QueueRaftMachine(StateDirectory(settings.path, settings), settings))
    yield made[0], made[1]
    for machine in made:
        machine.close()


def snapshot_of(machine: QueueRaftMachine, directory: Path) -> Path:
    machine.write_snapshot(directory)
    return directory


def test_an_older_snapshot_changes_nothing(
    tmp_path: Path, machines: tuple[QueueRaftMachine, QueueRaftMachine]
) -> None:
    # Given replica A at index 3 and a snapshot of replica B at index 2
    a, b = machines
    apply(a, create_queue("q"))
    apply(a, send("q", b"one"))
    apply(a, send("q", b"two"))
    apply(b, create_queue("q"))
    apply(b, send("q", b"one"))
    digest_before = a.digest
    # When A is handed B's snapshot
    a.install_snapshot(snapshot_of(b, tmp_path / "snapshot"))
    # Then A is unchanged
    assert (a.applied_index, a.digest, a.snapshots_installed) == (3, digest_before, 0)
    assert queue_stats(a.machine, "q", START_MS).visible == 2


def test_a_snapshot_at_the_same_index_changes_nothing(
    tmp_path: Path, machines: tuple[QueueRaftMachine, QueueRaftMachine]
) -> None:
    # Given two replicas at index 2
    a, b = machines
    for machine in (a, b):
        apply(machine, create_queue("q"))
        apply(machine, send("q", b"one"))
    # When A is handed B's snapshot, then it is not installed
    a.install_snapshot(snapshot_of(b, tmp_path / "snapshot"))
    assert a.snapshots_installed == 0


def test_a_newer_snapshot_replaces_the_state_and_survives_a_restart(
    tmp_path: Path, machines: tuple[QueueRaftMachine, QueueRaftMachine]
) -> None:
    # Given replica A at index 1 and replica B at index 4 with other queues and messages
    a, b = machines
    apply(a, create_queue("only-on-a"))
    apply(b, create_queue("q"))
    for body in (b"one", b"two", b"three"):
        apply(b, send("q", body))
    # When A installs B's snapshot
    a.install_snapshot(snapshot_of(b, tmp_path / "snapshot"))
    # Then A holds exactly B's state
    assert (a.applied_index, a.digest, a.snapshots_installed) == (4, b.digest, 1)
    assert queue_stats(a.machine, "q", START_MS).visible == 3
    assert "only-on-a" not in a.depths()
    # And keeps applying from there, in step with B
    for machine in (a, b):
        apply(machine, send("q", b"four"))
    assert a.digest == b.digest
    # And a restart of A finds the installed state
    a.close()
    settings = store_settings(tmp_path / "a")
    restarted = QueueRaftMachine(StateDirectory(settings.path, settings), settings)
    assert (restarted.applied_index, restarted.digest) == (5, b.digest)
    restarted.close()

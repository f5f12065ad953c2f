"""A backend leader whose disk fills up (issue 17, item 13): it stops at its first write that
fails (exit code 75) rather than go on with a log or a store it can no longer trust; the others
elect a leader and serve; once space is freed and the node restarted, it catches up, nothing
acknowledged is lost and the replicas agree.

Each node's data directory is an ext4 filesystem of its own on a loop device, so its disk
really fills (root only: the test skips elsewhere, and CI, which runs as root, fails a skip).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from raftq.common.errors import DiskFailure, RaftqError
from raftq.raft.disk_failure import EXIT_CODE
from raftq.raft.journal import DurableJournal
from tests.integration import small_disk
from tests.integration.cluster import Cluster
from tests.integration.workload import create_queue, drain, send_many, send_one

pytestmark = pytest.mark.integration

DISK_MB = 48


def test_a_journal_whose_append_failed_never_writes_again(tmp_path: Path) -> None:
    unavailable = small_disk.available()
    if unavailable:
        pytest.skip(unavailable)
    with small_disk.small_disk(tmp_path / "disk", 8) as disk:
        # Given a journal with one entry synced, on a disk with 8 KiB left
        journal = DurableJournal(disk / "raft")
        journal.add(b"a" * 100, 1, 1)
        journal.sync()
        small_disk.fill(disk)
        small_disk.free_some(disk, 8192)
        # When an append of 64 KiB fails part-way for want of space
        journal.add(b"b" * 65536, 2, 1)
        with pytest.raises(OSError):
            journal.sync()
        # Then, space freed, the journal refuses to write again rather than append a whole
        # record behind the torn one
        small_disk.free(disk)
        journal.add(b"c" * 100, 3, 1)
        with pytest.raises(DiskFailure):
            journal.sync()
        # And reopened, it cuts the torn tail and holds the synced entry, intact
        reopened = DurableJournal(disk / "raft")
        assert [entry[1] for entry in (reopened[i] for i in range(len(reopened)))] == [1]


async def test_a_leader_whose_disk_fills_stops_and_returns_when_space_is_freed(
    cluster_factory: Callable[..., Cluster],
) -> None:
    unavailable = small_disk.available()
    if unavailable:
        pytest.skip(unavailable)
    cluster = cluster_factory(name="disks")
    with contextlib.ExitStack() as disks:
        for node in cluster.nodes:
            disks.enter_context(small_disk.small_disk(node.data_dir, DISK_MB))
        try:
            await _fill_the_leaders_disk_then_free_it(cluster)
        finally:
            cluster.close()  # before the filesystems are unmounted


async def _fill_the_leaders_disk_then_free_it(cluster: Cluster) -> None:
    # Given a cluster with acknowledged messages
    cluster.start_all()
    leader = await cluster.leader(timeout_s=30)
    await create_queue(cluster.client, "orders")
    acknowledged = await send_many(cluster.client, "orders", 100, "before")
    assert len(acknowledged) == 100

    # When the leader's disk fills up
    small_disk.fill(cluster.nodes[leader].data_dir)

    # Then writes go on (on a new leader) while the full node stops with the disk-failure code
    deadline = time.monotonic() + 30
    after: set[bytes] = set()
    for k in range(50):
        body = f"during-{k}".encode()
        while True:
            try:
                await send_one(cluster.client, "orders", body)
                after.add(body)
                break
            except RaftqError:
                assert time.monotonic() < deadline, "writes did not resume on another node"
                await asyncio.sleep(0.1)
    process = cluster.nodes[leader].process
    assert process is not None
    code = await asyncio.to_thread(process.wait, 30)
    assert code == EXIT_CODE, cluster.nodes[leader].log_path.read_text()[-2000:]
    assert "disk failed" in cluster.nodes[leader].log_path.read_text()
    assert await cluster.leader(timeout_s=10) != leader

    # And when space is freed and the node restarted, it catches up: the replicas agree and
    # every acknowledged message is there
    small_disk.free(cluster.nodes[leader].data_dir)
    cluster.start(leader)
    await cluster.converged(timeout_s=60)
    received = set(await drain(cluster.client, "orders"))
    assert acknowledged | after <= received

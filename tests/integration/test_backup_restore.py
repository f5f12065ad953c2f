"""`raftq admin backup` and `raftq admin restore` against a real `raftq up` (two backend
clusters, a metadata group, a frontend), with messages sent and received through the REST API.

What they prove: every message acknowledged before a backup comes back from the restored queue
with its exact body and attributes (the restored queue opens its source's sealed messages), a
message in flight at backup time is visible again after restore, a message sent after the backup
is not in it, a whole cluster's backup restores on another cluster (dead-letter queue first),
and each bad input is refused with a clear message and changes nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raftq.client.async_client import AsyncClient
from raftq.client.received import Message
from tests.integration.conftest import Deployment
from tests.integration.up_process import client_env, free_base_port, start_up, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("up") / "data"
    process = start_up(data_dir, free_base_port(20), "--clusters", "2")
    try:
        wait_ready(process)
        env = client_env(data_dir)
        yield Deployment(
            env["RAFTQ_ENDPOINT"],
            env["RAFTQ_ACCESS_KEY_ID"],
            env["RAFTQ_SECRET_ACCESS_KEY"],
            env,
            data_dir,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def admin(up: Deployment, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "--json", *argv],
        check=False, env=up.env, capture_output=True, text=True, timeout=50,
    )  # fmt: skip


def admin_ok(up: Deployment, *argv: str) -> dict[str, Any]:
    done = admin(up, *argv)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def refused(up: Deployment, *argv: str) -> str:
    done = admin(up, *argv)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    return done.stderr


def attributes_of(number: int) -> dict[str, dict[str, str]]:
    return {
        "number": {"type": "Number", "value": str(number)},
        "tenant": {"type": "String", "value": f"tenant-{number % 3}"},
    }


async def drain(client: AsyncClient, queue: str) -> list[Message]:
    """Every message the queue delivers now, each deleted once received."""
    received: list[Message] = []
    for _ in range(50):
        batch = await client.receive(queue, max_messages=10, wait_s=1)
        if not batch:
            break
        received += batch
        for message in batch:
            await client.delete(queue, message.receipt_handle)
    return received


async def test_a_restored_queue_delivers_every_message_acknowledged_before_the_backup(
    up: Deployment, tmp_path: Path
) -> None:
    async with AsyncClient(up.endpoint, up.key_id, up.secret) as client:
        # Given a queue with 30 acknowledged messages, 5 of them in flight at backup time
        await client.create_queue("bk-orders", visibility_timeout_s=600)
        sent = {}
        for number in range(30):
            body = f"order {number} " + "x" * number
            await client.send("bk-orders", body, attributes=attributes_of(number))
            sent[body] = attributes_of(number)
        in_flight = await client.receive("bk-orders", max_messages=5, visibility_timeout_s=600)
        assert len(in_flight) == 5

        # When it is backed up, more is sent, and the backup is restored as a new queue
        backup = admin_ok(up, "backup", "queue", "bk-orders", "--to", str(tmp_path / "b1"))
        assert backup["queues"] == [
            {"name": "bk-orders", "records": backup["queues"][0]["records"]}
        ]
        await client.send("bk-orders", "sent after the backup")
        restored = admin_ok(up, "restore", str(tmp_path / "b1"), "--as", "bk-orders-restored")
        assert restored["restored"][0]["name"] == "bk-orders-restored"

        # Then every message comes back, with its body and attributes, the in-flight ones too
        received = await drain(client, "bk-orders-restored")
        assert sorted(m.body or "" for m in received) == sorted(sent)
        for message in received:
            assert message.attributes == sent[message.body or ""]
        # and the restored queue seals and opens new messages as any queue
        await client.send("bk-orders-restored", "new after the restore")
        assert [m.body for m in await drain(client, "bk-orders-restored")] == [
            "new after the restore"
        ]
        # while the source is untouched: its 25 visible, the one sent after, none lost
        assert len(await drain(client, "bk-orders")) == 26


async def test_a_cluster_backup_restores_its_queues_on_another_cluster(
    up: Deployment, tmp_path: Path
) -> None:
    async with AsyncClient(up.endpoint, up.key_id, up.secret) as client:
        # Given a queue and its dead-letter queue, both on cluster c1
        admin_ok(up, "queues", "create", "bkc-dlq")
        admin_ok(up, "queues", "create", "bkc-main", "--dead-letter-queue", "bkc-dlq")
        for name in ("bkc-dlq", "bkc-main"):
            shown = admin_ok(up, "queues", "show", name)
            if shown["placement"]["cluster_id"] != "c1":
                admin_ok(up, "queues", "move", name, "--to", "c1")
        for number in range(10):
            await client.send("bkc-main", f"main {number}")
        await client.send("bkc-dlq", "a dead letter")

        # When cluster c1 is backed up, its queues are lost, and the backup restored on c2
        backup = admin_ok(up, "backup", "cluster", "c1", "--to", str(tmp_path / "c1"))
        admin_ok(up, "backup", "queue", "bkc-main", "--to", str(tmp_path / "main-alone"))
        names = [q["name"] for q in backup["queues"]]
        assert {"bkc-main", "bkc-dlq"} <= set(names)
        for name in sorted(names, key=lambda name: name != "bkc-main"):  # its DLQ after it
            admin_ok(up, "queues", "delete", name)
        # A queue whose dead-letter queue is neither in its backup nor on the target: refused
        why = refused(up, "restore", str(tmp_path / "main-alone"), "--as", "bkc-alone")
        assert "bkc-dlq" in why, why
        assert "does not exist" in refused(up, "queues", "show", "bkc-alone")
        restored = admin_ok(up, "restore", str(tmp_path / "c1"), "--cluster", "c2")
        order = [r["name"] for r in restored["restored"]]
        assert order.index("bkc-dlq") < order.index("bkc-main")

        # Then each queue serves on c2 with its messages and its dead-letter queue
        shown = admin_ok(up, "queues", "show", "bkc-main")
        assert shown["placement"]["cluster_id"] == "c2"
        assert shown["attributes"]["redrive"]["dead_letter_queue"] == "bkc-dlq"
        main = await drain(client, "bkc-main")
        assert sorted(m.body or "" for m in main) == sorted(f"main {n}" for n in range(10))
        assert [m.body for m in await drain(client, "bkc-dlq")] == ["a dead letter"]


async def test_bad_backups_and_targets_are_refused_and_change_nothing(
    up: Deployment, tmp_path: Path
) -> None:
    async with AsyncClient(up.endpoint, up.key_id, up.secret) as client:
        await client.create_queue("bkr-source")
        await client.send("bkr-source", "kept")
        await client.create_queue("bkr-empty")
        good = tmp_path / "good"
        admin_ok(up, "backup", "queue", "bkr-source", "--to", str(good))

        # A queue that does not exist: refused, and no directory is made
        missing = tmp_path / "nothing"
        assert "'no-such-queue' does not exist" in refused(
            up, "backup", "queue", "no-such-queue", "--to", str(missing)
        )
        assert not missing.exists()
        # --to a directory that is not empty: refused, left as it was
        busy = tmp_path / "busy"
        busy.mkdir()
        (busy / "notes.txt").write_text("mine")
        assert "is not an empty directory" in refused(
            up, "backup", "queue", "bkr-source", "--to", str(busy)
        )
        assert [p.name for p in busy.iterdir()] == ["notes.txt"]

        # Restoring onto an existing queue, non-empty or empty: refused, both unchanged
        for name in ("bkr-source", "bkr-empty"):
            assert f"queue {name!r} exists" in refused(up, "restore", str(good), "--as", name)
        assert [m.body for m in await drain(client, "bkr-source")] == ["kept"]
        assert await drain(client, "bkr-empty") == []

        # A damaged backup: refused before anything is made
        damaged = tmp_path / "damaged"
        subprocess.run(["cp", "-r", str(good), str(damaged)], check=True)
        records = next((damaged / "queues").iterdir())
        raw = bytearray(records.read_bytes())
        raw[-1] ^= 0xFF
        records.write_bytes(bytes(raw))
        assert "fails its SHA-256 checksum" in refused(
            up, "restore", str(damaged), "--as", "bkr-never"
        )
        assert "does not exist" in refused(up, "queues", "show", "bkr-never")
        # A backup directory that does not exist
        assert "does not exist" in refused(up, "restore", str(tmp_path / "gone"))

"""`raftq admin` against a real metadata group and backend cluster: what the README shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster import SECRET, Cluster, eventually

pytestmark = pytest.mark.integration


def admin(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def admin_json(env: dict[str, str], *argv: str) -> Any:
    done = admin(env, "--json", *argv)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_the_admin_cli_manages_the_catalogue_with_clear_exit_codes(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a metadata group with a master key and a backend cluster registered with it
    master_key = tmp_path / "master.key"
    master_key.write_text("11" * 32)
    metadata = cluster_factory(
        "--master-key-file", str(master_key), name="metadata", kind="metadata"
    )
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    backends = cluster_factory("--cluster-id", "c1", *registering, name="backend")
    metadata.start_all()
    backends.start_all()
    await metadata.leader(timeout_s=20)
    await backends.leader(timeout_s=20)
    env = {
        **os.environ,
        "RAFTQ_METADATA": ",".join(node.api_address for node in metadata.nodes),
        "RAFTQ_CLUSTER_SECRET": SECRET,
    }

    async def healthy() -> bool | None:
        rows = admin_json(env, "clusters", "list")
        return True if rows and rows[0]["reporting"] == 3 else None

    await eventually(healthy, timeout_s=20, what="the backend cluster to report")

    # Principals, keys and grants
    assert admin(env, "principals", "create", "app").returncode == 0
    key = admin_json(env, "keys", "create", "app")
    assert key["key_id"].startswith("RQ") and len(key["secret"]) >= 30
    assert admin(env, "grants", "add", "app", "orders-*", "send", "receive").returncode == 0
    assert admin_json(env, "grants", "list") == [
        {"principal_id": "app", "queues": "orders-*", "actions": ["send", "receive"]}
    ]

    # Queues, created end to end on the backend cluster
    created = admin(env, "queues", "create", "orders-1", "--visibility-timeout-s", "60")
    assert created.returncode == 0, created.stderr
    assert "orders-1" in created.stdout and "active" in created.stdout  # a human table
    listed = admin_json(env, "queues", "list")
    assert [(q["name"], q["lifecycle"], q["cluster"]) for q in listed] == [
        ("orders-1", "active", "c1")
    ]
    shown = admin_json(env, "queues", "show", "orders-1")
    assert shown["attributes"]["visibility_timeout_ms"] == 60_000

    # Raft status of every group, and the audit trail
    status = admin_json(env, "raft", "status")
    assert sorted({row["group"] for row in status}) == ["c1", "metadata"]
    assert sum(row["role"] == "leader" for row in status) == 2
    actions = [entry["action"] for entry in admin_json(env, "audit")]
    assert {"create_principal", "create_access_key", "add_grant", "create_queue"} <= set(actions)

    # Errors: one clear line and a meaningful exit code
    missing = admin(env, "queues", "show", "nope")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    bad_name = admin(env, "queues", "create", "has space")
    assert bad_name.returncode == 1 and "refused" in bad_name.stderr
    conflicting = admin(env, "queues", "create", "orders-1", "--visibility-timeout-s", "5")
    assert conflicting.returncode == 1 and "QueueAlreadyExists" in conflicting.stderr
    revoked = admin(env, "keys", "revoke", key["key_id"])
    assert revoked.returncode == 0
    unknown_key = admin(env, "keys", "revoke", "RQ000000000000000000")
    assert unknown_key.returncode == 1
    unreachable = admin({**env, "RAFTQ_METADATA": "127.0.0.1:9"}, "queues", "list")
    assert unreachable.returncode == 3 and "unavailable" in unreachable.stderr
    assert admin(env, "queues", "delete", "orders-1").returncode == 0
    assert admin_json(env, "queues", "list") == []

"""`raftq admin` output against a real metadata group and two backend clusters: `--json` keeps
the shapes scripts parse (admin_json_shapes.py), the default output is for people, a refused
operator secret is an authentication failure, and errors that reach users through a frontend
(REST and SQS) name the queue, never its internal id."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError as BotoClientError

from raftq.client.errors import RaftqApiError
from raftq.client.sdk import AsyncClient
from tests.integration.admin_json_shapes import (
    JSON_SEQUENCE,
    RECORD_VARIABLE,
    load_golden,
    save_golden,
    shape,
)
from tests.integration.cluster import (
    OPERATOR_SECRET,
    Cluster,
    eventually,
    metadata_and_backend,
    start_frontend_process,
)
from tests.integration.test_admin_cli import admin

pytestmark = pytest.mark.integration

TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ")
PYTHON_REPR = re.compile(r"[{\[]'|': |_ms\b|\bTrue\b|\bFalse\b|\bNone\b")


async def two_clusters(cluster_factory: Callable[..., Cluster], tmp_path: Path) -> dict[str, str]:
    """A metadata group and backend clusters c1 and c2, both reporting; `raftq admin`'s env."""
    master_key = tmp_path / "master.key"
    master_key.write_text("11" * 32)
    metadata = cluster_factory(
        "--master-key-file", str(master_key), name="metadata", kind="metadata"
    )
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    backends = [
        cluster_factory("--cluster-id", cluster_id, *registering, name=cluster_id)
        for cluster_id in ("c1", "c2")
    ]
    for cluster in (metadata, *backends):
        cluster.start_all()
    for cluster in (metadata, *backends):
        await cluster.leader(timeout_s=30)
    env = {
        **os.environ,
        "RAFTQ_METADATA": ",".join(node.api_address for node in metadata.nodes),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
    }

    async def reporting() -> bool | None:
        done = admin(env, "--json", "clusters", "list")
        rows = json.loads(done.stdout) if done.returncode == 0 else []
        return True if len(rows) == 2 and all(r["reporting"] == 3 for r in rows) else None

    await eventually(reporting, timeout_s=60, what="both backend clusters to report")
    return env


async def one_cluster(cluster_factory: Callable[..., Cluster], tmp_path: Path) -> dict[str, str]:
    """A metadata group and backend cluster c1, reporting; `raftq admin`'s env."""
    metadata, _ = await metadata_and_backend(cluster_factory, tmp_path)
    return {
        **os.environ,
        "RAFTQ_METADATA": ",".join(node.api_address for node in metadata.nodes),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
    }


async def test_admin_json_keeps_the_shapes_scripts_parse(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a metadata group and two backend clusters, and a master key file for the rewrap
    env = await two_clusters(cluster_factory, tmp_path)
    (tmp_path / "k9.key").write_text("99" * 32)
    # When every admin command runs with --json, in the recorded order
    shapes: dict[str, Any] = {}
    key_id = ""
    for line in JSON_SEQUENCE:
        argv = shlex.split(line.format(tmp=tmp_path, key_id=key_id))
        done = admin(env, "--json", *argv)
        assert done.returncode == 0, (line, done.stderr)
        output = json.loads(done.stdout)
        if line == "keys create app":
            key_id = output["key_id"]
        shapes[line] = shape(output)
    if os.environ.get(RECORD_VARIABLE) == "1":
        save_golden(shapes)
    # Then each output has the keys and types it had when recorded
    golden = load_golden()
    for line in JSON_SEQUENCE:
        assert shapes[line] == golden[line], line


def human(env: dict[str, str], *argv: str) -> str:
    """`raftq admin ARGV` without --json: its output, which must read as text, not as Python."""
    done = admin(env, *argv)
    assert done.returncode == 0, (argv, done.stderr)
    assert not PYTHON_REPR.search(done.stdout), (argv, done.stdout)
    return done.stdout


async def test_admin_prints_tables_and_sentences_for_people(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a metadata group and a backend cluster, a principal with a grant and a queue
    env = await one_cluster(cluster_factory, tmp_path)
    assert human(env, "principals", "create", "app") == "principal app created\n"
    assert human(env, "grants", "add", "app", "orders-*", "send", "receive") == (
        "granted app: send, receive on orders-*\n"
    )
    created = human(env, "queues", "create", "orders-2", "--visibility-timeout-s", "90")
    assert created == "created queue orders-2: active on cluster c1 (placement epoch 1)\n"

    # Then listings are tables with a title line and aligned columns
    clusters = human(env, "clusters", "list").splitlines()
    assert clusters[0].split() == ["CLUSTER", "ZONES", "MEMBERS", "REPORTING", "DRAINING"]
    assert [line.split() for line in clusters[1:]] == [["c1", "a,b,c", "3", "3", "no"]]
    shown_cluster = human(env, "clusters", "show", "c1")
    assert "LAST REPORT" in shown_cluster and len(TIME.findall(shown_cluster)) == 3
    queues = human(env, "queues", "list").splitlines()
    assert queues[0].split() == ["NAME", "TYPE", "STATE", "CLUSTER", "EPOCH", "OWNER"]
    assert queues[1].split()[:3] == ["orders-2", "standard", "active"]
    assert human(env, "grants", "list").splitlines()[1].split() == [
        "app",
        "orders-*",
        "send,",
        "receive",
        "-",
    ]
    assert human(env, "principals", "list").split() == ["PRINCIPAL", "app"]

    # And a queue's attributes read in seconds, as the flags take them, its times in UTC
    fields = field_lines(human(env, "queues", "show", "orders-2"))
    assert fields["visibility timeout"] == "90 s"
    assert fields["retention"] == "345600 s (4 d)"
    assert fields["dead-letter queue"] == "-"
    assert TIME.fullmatch(fields["created"])
    changed = field_lines(human(env, "queues", "set", "orders-2", "--delay-s", "30"))
    assert (changed["delay"], changed["visibility timeout"]) == ("30 s", "90 s")

    # And Raft status and the audit trail are tables, with readable times
    status = [line.split() for line in human(env, "raft", "status").splitlines()]
    assert status[0] == ["GROUP", "NODE", "ZONE", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG"]
    assert len(status) == 7 and sum(row[3] == "leader" for row in status[1:]) == 2
    audit = human(env, "audit").splitlines()
    assert audit[0].split() == ["TIME", "INDEX", "ACTOR", "ACTION", "TARGET"]
    assert all(TIME.match(line) for line in audit[1:])
    assert [line.split()[4:] for line in audit if "create_queue" in line] == [
        ["create_queue", "orders-2"]
    ]
    assert human(env, "queues", "delete", "orders-2") == "deleted queue orders-2\n"
    assert human(env, "queues", "list") == "no queues\n"


def field_lines(text: str) -> dict[str, str]:
    """A field list (`label  value` lines) as a dict."""
    return {
        label.strip(): value.strip()
        for label, value in (line.split("  ", 1) for line in text.splitlines())
    }


async def test_keys_list_shows_each_key_and_its_state_never_a_secret(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a principal with two keys, one of them revoked
    env = await one_cluster(cluster_factory, tmp_path)
    human(env, "principals", "create", "app")
    human(env, "principals", "create", "ops")
    revoked = json.loads(admin(env, "--json", "keys", "create", "app").stdout)
    shown = human(env, "keys", "create", "app")
    live = field_lines("\n".join(shown.splitlines()[:3]))
    assert "shown this once" in shown
    assert (
        human(env, "keys", "revoke", revoked["key_id"])
        == f"access key {revoked['key_id']} revoked\n"
    )
    # When the keys are listed
    table = human(env, "keys", "list")
    listed = admin(env, "--json", "keys", "list")
    # Then each key shows with its principal, creation time and state, and no secret
    rows = [line.split() for line in table.splitlines()]
    assert rows[0] == ["KEY", "ID", "PRINCIPAL", "CREATED", "STATE"]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[live["key id"]][1] == "app" and by_id[live["key id"]][-1] == "active"
    assert by_id[revoked["key_id"]][-3] == "revoked"
    assert len(TIME.findall(table)) == 3  # two creations, one revocation
    assert revoked["secret"] not in table + listed.stdout
    assert live["secret"] not in table + listed.stdout
    keys = json.loads(listed.stdout)
    assert {k["key_id"]: k["state"] for k in keys} == {
        revoked["key_id"]: "revoked",
        live["key id"]: "active",
    }
    assert all(
        set(k) == {"key_id", "principal_id", "created_at_ms", "revoked_at_ms", "state"}
        for k in keys
    )
    # And a principal's filter keeps only its keys
    assert human(env, "keys", "list", "--principal", "ops") == "no access keys\n"


async def test_a_wrong_or_missing_operator_secret_is_an_authentication_failure(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a metadata group and a backend cluster
    env = await one_cluster(cluster_factory, tmp_path)
    human(env, "principals", "create", "app")
    wrong = {**env, "RAFTQ_OPERATOR_SECRET": "not-the-operator-secret"}
    missing = {k: v for k, v in env.items() if k != "RAFTQ_OPERATOR_SECRET"}
    for caller, argv in [
        (wrong, ("queues", "list")),  # a read
        (wrong, ("principals", "create", "intruder")),  # a command to the leader
        (wrong, ("keys", "list")),
        (missing, ("queues", "list")),
    ]:
        # When an admin command is signed with the wrong secret, or not signed at all
        done = admin(caller, *argv)
        # Then it says authentication failed, in one line, with its own exit code
        assert done.returncode == 4, (argv, done.stderr)
        assert done.stderr.startswith("raftq admin: authentication failed: "), done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert done.stdout == ""
    assert "no operator secret" in admin(missing, "queues", "list").stderr
    # And nothing changed
    assert human(env, "principals", "list").split() == ["PRINCIPAL", "app"]


async def test_through_a_frontend_errors_name_the_queue_and_a_wrong_key_is_refused(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a frontend, a queue and a key allowed to administer it
    env = await one_cluster(cluster_factory, tmp_path)
    metadata = env["RAFTQ_METADATA"].split(",")
    human(env, "principals", "create", "app")
    human(env, "grants", "add", "app", "orders-*", "send", "receive", "delete", "admin")
    key = json.loads(admin(env, "--json", "keys", "create", "app").stdout)
    queue_id = json.loads(admin(env, "--json", "queues", "create", "orders-3").stdout)["queue_id"]
    credential = json.loads(admin(env, "--json", "frontends", "create", "fe").stdout)["credential"]
    process, endpoint = start_frontend_process(tmp_path, "fe", credential, metadata)
    try:
        async with AsyncClient(endpoint, key["key_id"], key["secret"]) as client:

            async def served() -> dict[str, Any] | None:
                try:
                    return await client.get_queue("orders-3")
                except RaftqApiError as error:  # not listening yet, or not caught up
                    if error.status in (0, 503):
                        return None
                    raise

            await eventually(served, timeout_s=30, what="the frontend")
            # When the queue is purged twice within a minute, through REST
            await client.purge("orders-3")
            with pytest.raises(RaftqApiError) as refused:
                await client.purge("orders-3")
        # Then the backend's refusal names the queue, not its id
        assert "orders-3" in refused.value.message, refused.value
        assert queue_id not in str(refused.value) and "q-" not in refused.value.message

        # And through SQS the same
        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key["key_id"],
            aws_secret_access_key=key["secret"],
        )
        url = sqs.get_queue_url(QueueName="orders-3")["QueueUrl"]
        with pytest.raises(BotoClientError) as sqs_refused:
            await asyncio.to_thread(sqs.purge_queue, QueueUrl=url)
        message = sqs_refused.value.response["Error"]["Message"]
        assert "orders-3" in message and queue_id not in message, message

        # And `raftq admin schedules`, which goes through the REST API with an access key,
        # reports a wrong secret as an authentication failure
        key_env = {
            **env,
            "RAFTQ_ENDPOINT": endpoint,
            "RAFTQ_ACCESS_KEY_ID": key["key_id"],
            "RAFTQ_SECRET_ACCESS_KEY": key["secret"],
        }
        assert human(key_env, "schedules", "list") == "no schedules\n"
        wrong = admin({**key_env, "RAFTQ_SECRET_ACCESS_KEY": "x" * 40}, "schedules", "list")
        assert wrong.returncode == 4, wrong.stderr
        assert wrong.stderr.startswith("raftq admin schedules: authentication failed: ")
    finally:
        process.kill()
        process.wait(timeout=10)

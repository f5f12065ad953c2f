"""Schedules with real processes: a metadata group of three, a backend cluster of three and a
frontend. A schedule made with `raftq admin schedules add` fires every second into its queue, the
metadata leader is killed, and each tick still fires once (issue 18, DESIGN.md §1 promise 8)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raftq.client.errors import RaftqApiError
from raftq.client.operations import read
from raftq.client.sdk import AsyncClient
from raftq.client.transport import Operation
from raftq.common.commands import GetQueueStats, GetTask, SendEntry, SendMessages
from raftq.common.results import QueueStats, SendResult
from raftq.common.tasks_wire import TaskStatus
from tests.integration.cluster import (
    OPERATOR_SECRET,
    Cluster,
    eventually,
    metadata_and_backend,
    start_frontend_process,
)

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *argv: str) -> tuple[int, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "--json", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else done.stderr


def _admin(env: dict[str, str], *argv: str) -> Any:
    code, output = _cli(env, *argv)
    assert code == 0, output
    return output


async def _schedule(metadata: Cluster, name: str) -> dict[str, Any] | None:
    catalogue = await metadata.get_json(await metadata.leader(), "/v1/catalogue")
    found = [s for s in (catalogue or {}).get("schedules", []) if s["name"] == name]
    return found[0] if found else None


async def _fired_at_least(metadata: Cluster, name: str, count: int) -> dict[str, Any] | None:
    schedule = await _schedule(metadata, name)
    return schedule if schedule is not None and schedule["ticks_fired"] >= count else None


async def _refused(client: AsyncClient, body: dict[str, Any]) -> tuple[int, str | None]:
    try:
        await client._transport.call(
            Operation("bad schedule", idempotent=False), "POST", "/v1/schedules", body
        )
    except RaftqApiError as error:
        return error.status, error.field
    raise AssertionError(f"{body} was accepted")


async def _bad_schedules_are_refused(client: AsyncClient, metadata: Cluster) -> None:
    # Bad schedules are refused with a 400 (or 403, 404) naming the field, none kept
    good = {"name": "bad", "queue": "jobs", "type": "demo.tick", "every_s": 1}
    cases: list[tuple[dict[str, Any], tuple[int, str | None]]] = [
        ({"every_s": None, "cron": "0 0 31 2 *"}, (400, "cron")),
        ({"every_s": None, "cron": "61 * * * *"}, (400, "cron")),
        ({"every_s": None, "cron": "* * * * *", "tz": "Mars/Base"}, (400, "tz")),
        ({"cron": "* * * * *"}, (400, None)),  # both cron and every_s
        ({"every_s": 0}, (400, "every_s")),
        ({"name": "a/b"}, (400, "name")),
        ({"type": "9bad type"}, (400, "type")),
        ({"payload": "x" * 20_000}, (413, "payload")),
        ({"queue": "jobs.fifo"}, (400, "queue")),
        ({"queue": "nowhere"}, (403, "name")),  # no grant: nothing learned
        ({"surprise": 1}, (400, "surprise")),
    ]
    for changes, expected in cases:
        body = {k: v for k, v in {**good, **changes}.items() if v is not None}
        assert await _refused(client, body) == expected, changes
    assert (await _schedule(metadata, "bad")) is None


async def _ticks_fired(
    metadata: Cluster, backend: Cluster, schedule: dict[str, Any]
) -> tuple[dict[int, str], int]:
    """The ticks fired (tick -> message id) and the messages the queue holds that are not
    probes. Each tick's dedup id is sent again: a duplicate is the tick's message, anything
    else stores a probe (and fences off a late send of that tick, which would be a duplicate)."""
    queue_id = next(
        q["queue_id"]
        for q in (await metadata.get_json(await metadata.leader(), "/v1/catalogue") or {})["queues"]
        if q["name"] == "jobs"
    )
    first_tick_ms = schedule["created_at_ms"] // 1000 * 1000
    last_tick_ms = int(time.time() * 1000) // 1000 * 1000 + 5_000
    ticks = list(range(first_tick_ms, last_tick_ms + 1, 1000))
    backend_client = backend.new_client()
    fired: dict[int, str] = {}
    probes_stored = 0
    for start in range(0, len(ticks), 10):
        batch = ticks[start : start + 10]
        entries = tuple(
            SendEntry(
                entry_id=f"p{tick}",
                body=b"probe",
                dedup_id=f"s-{schedule['schedule_id']}-{tick}",
            )
            for tick in batch
        )
        sent = await backend_client.execute(SendMessages(now_ms=0, queue=queue_id, entries=entries))
        assert isinstance(sent, SendResult) and not sent.failed, sent
        for tick, message in zip(batch, sent.sent, strict=True):
            if message.duplicate:
                fired[tick] = message.message_id
            else:
                probes_stored += 1
    for message_id in fired.values():  # each tick's message is a task of the schedule's type
        task = await backend_client.execute(GetTask(now_ms=0, queue=queue_id, task_id=message_id))
        assert isinstance(task, TaskStatus) and task.task_type == "demo.tick", task
    stats = await backend_client.execute(GetQueueStats(now_ms=0, queue=queue_id))
    assert isinstance(stats, QueueStats)
    stored = stats.visible + stats.in_flight + stats.delayed
    return fired, stored - probes_stored


async def test_a_schedule_fires_each_tick_once_across_a_metadata_leader_kill(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a deployment with a queue `jobs`, a FIFO queue, and a key that may send to both
    metadata, backend = await metadata_and_backend(cluster_factory, tmp_path)
    addresses = [node.api_address for node in metadata.nodes]
    env = {
        "PATH": "/usr/bin:/bin",
        "RAFTQ_METADATA": ",".join(addresses),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
    }
    _admin(env, "principals", "create", "app")
    _admin(env, "grants", "add", "app", "jobs", "send", "receive")
    _admin(env, "grants", "add", "app", "jobs.fifo", "send")
    key = _admin(env, "keys", "create", "app")
    _admin(env, "queues", "create", "jobs")
    _admin(env, "queues", "create", "jobs.fifo", "--fifo")
    credential = _admin(env, "frontends", "create", "fe")["credential"]
    process, endpoint = start_frontend_process(tmp_path, "fe", credential, addresses)
    try:
        client = AsyncClient(endpoint, key["key_id"], key["secret"])
        await eventually(
            lambda: client._transport.call(read("ready"), "GET", "/v1/schedules"),
            timeout_s=30,
            what="the frontend",
        )
        await _bad_schedules_are_refused(client, metadata)

        # When a schedule is added with the CLI, firing every second
        key_env = {
            **env,
            "RAFTQ_ENDPOINT": endpoint,
            "RAFTQ_ACCESS_KEY_ID": key["key_id"],
            "RAFTQ_SECRET_ACCESS_KEY": key["secret"],
        }
        added = _admin(key_env, "schedules", "add", "every-second", "jobs", "demo.tick",
                       "--every-s", "1", "--payload", '{"report": "daily"}')  # fmt: skip
        assert added["every_s"] == 1 and added["paused"] is False
        listed = _admin(key_env, "schedules", "list")
        assert [s["name"] for s in listed] == ["every-second"]
        before_kill = await eventually(
            lambda: _fired_at_least(metadata, "every-second", 3), 30, "three ticks"
        )
        # And the metadata leader is killed while it fires
        metadata.kill(await metadata.leader())
        await eventually(
            lambda: _fired_at_least(metadata, "every-second", before_kill["ticks_fired"] + 3),
            60,
            "three ticks fired by the new leader",
        )
        paused = _admin(key_env, "schedules", "pause", "every-second")
        assert paused["paused"] is True
        schedule = await _schedule(metadata, "every-second")
        assert schedule is not None

        # Then every stored message is one tick's, and no tick has two: sending each tick's
        # dedup id again finds the tick's message (a duplicate) or stores a probe
        fired, messages_of_ticks = await _ticks_fired(metadata, backend, schedule)
        assert len(set(fired.values())) == len(fired)  # one message per tick
        assert messages_of_ticks == len(fired)  # and no message of no tick
        assert len(fired) >= before_kill["ticks_fired"] + 3
        assert any(tick > before_kill["last_fired_tick_ms"] + 1000 for tick in fired)
        await client.close()
    finally:
        process.kill()
        process.wait(timeout=10)

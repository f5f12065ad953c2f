"""CI's chaos matrix (chaos.md §6.3, per pull request): eight cells of 60 s of faults against the
three-zone compose deployment (kill, isolate and pause the leader, pause it after every member's
clock stepped ahead, kill the whole cluster, and cut its power, under the total-queue workload;
kill either cluster's leader while dead letters are forwarded from one to the other; an intruder
in a frontend trying what it holds against Raft and the internal routes), each failing on any
lost or unexpected message, any violation (false failure, overlapping leases, redelivery after a
confirmed delete), a load under 100 successful operations/s, a drain that does not finish,
replicas that disagree afterwards, or a nemesis step that failed (an intruder not refused). The
FIFO cells and the full disk run in the long matrix (RAFTQ_CHAOS_MATRIX=long).

The module builds the base image (only if it is missing), the raftq images (Docker's layer cache
makes a rebuild of unchanged sources take seconds) and brings the deployment up from empty
volumes; it takes everything down again at the end. Before the first cell, on the fresh
deployment, it checks the deployment's Prometheus (rules loaded, every node scraped). The
results table of the run goes to tests/chaos/results/ci-<time>/matrix.md, beside each cell's
history and summary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftq.client.sdk import Client
from tests.chaos.deployment import COMPOSE_DIR, REPO, Deployment
from tests.chaos.prometheus import Prometheus, defined_rules, eventually, scraped_targets
from tests.chaos.run import CELLS, MATRICES, RESULTS, CellResult, matrix_table, run_cell

pytestmark = pytest.mark.integration

# RAFTQ_CHAOS_MATRIX=long runs every cell with 300 s of faults (about 80 minutes) instead.
MATRIX = os.environ.get("RAFTQ_CHAOS_MATRIX", "short")
if MATRIX not in MATRICES:
    raise ValueError(f"RAFTQ_CHAOS_MATRIX={MATRIX!r}: one of {', '.join(MATRICES)}")
CELL_NAMES, FAULT_S = MATRICES[MATRIX]
OUT = RESULTS / f"ci-{MATRIX}-{time.strftime('%Y%m%dT%H%M%S')}"
COMPOSE = str(COMPOSE_DIR / "raftq-compose")
# Each backend node's disk when the matrix has the disk-full cell: room for 300 s cells, and
# sparse, so the host gives only what is written.
SMALL_DISK_MB = 4096


def _step(*argv: str, timeout_s: float, env: dict[str, str] | None = None) -> None:
    started = time.monotonic()
    subprocess.run(argv, cwd=REPO, check=True, timeout=timeout_s, env=env)
    took = time.monotonic() - started
    print(f"chaos: {Path(argv[0]).name} {' '.join(argv[1:])} took {took:.0f} s")


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    if os.environ.get("RAFTQ_SKIP_DOCKER_CHAOS"):
        pytest.skip("RAFTQ_SKIP_DOCKER_CHAOS is set")
    if shutil.which("docker") is None:
        pytest.skip("the chaos matrix needs Docker")
    _step(str(REPO / "scripts" / "build-base-image"), timeout_s=900)
    _step(str(REPO / "scripts" / "build-images"), timeout_s=900)
    _step(COMPOSE, "down", "-v", timeout_s=300)
    try:
        # The power-loss cell cuts each node's log to what it witnessed as fsynced.
        # RAFTQ_CHAOS adds docker-compose.chaos.yml: NET_ADMIN, the fault clock, the witness.
        faults = {**os.environ, "RAFTQ_CHAOS": "1", "RAFTQ_FAULT_WITNESS_SYNCS": "1"}
        # The disk-full cell fills a node's own small filesystem (loop devices, as root).
        if any(CELLS[name].small_disks for name in CELL_NAMES):
            faults["RAFTQ_FAULT_SMALL_DISKS_MB"] = str(SMALL_DISK_MB)
        _step(COMPOSE, "up", timeout_s=600, env=faults)
        yield Deployment()
    finally:
        _step(COMPOSE, "down", "-v", timeout_s=300)


@pytest.fixture(scope="module")
def results() -> Iterator[list[CellResult]]:
    collected: list[CellResult] = []
    yield collected
    if collected:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "matrix.md").write_text(matrix_table(collected) + "\n")
        print(matrix_table(collected))


def test_prometheus_scrapes_every_node_with_every_rule_loaded(deployment: Deployment) -> None:
    """On the fresh deployment, before any fault: Prometheus loaded each rule of
    deploy/prometheus/rules/ and evaluates it without error, scrapes every node (up == 1) and
    has raftq series from each; a queue's messages reach the recording rule under its name."""
    prometheus = Prometheus(deployment)
    rules = defined_rules()
    assert {"RaftqQueueBacklogGrowing", "RaftqDeadLetterQueueNotEmpty"} <= rules
    assert {"RaftqNoLeader", "RaftqReplicaLagging"} <= rules

    def rules_healthy() -> dict[str, str]:
        loaded = prometheus.rules()
        assert all(loaded.get(name) == "ok" for name in rules), loaded
        return loaded

    eventually("every rule loaded and evaluated", rules_healthy, timeout_s=90)
    targets = scraped_targets()
    assert len(targets) == len(deployment.nodes())  # metadata, backends, frontends: each once

    def every_target_up() -> dict[str, float]:
        up = {labels["instance"]: value for labels, value in prometheus.query("up")}
        assert up == dict.fromkeys(targets, 1.0), up
        return up

    eventually("up == 1 for every node", every_target_up, timeout_s=90)
    with_series = {
        labels["instance"]
        for labels, _ in prometheus.query('count by (instance) ({__name__=~"raftq_.+"})')
    }
    assert with_series == targets
    one_leader_each = {"metadata": 1.0, "c1": 1.0, "c2": 1.0}

    def leaders() -> dict[str, float]:
        found = {labels["group"]: n for labels, n in prometheus.query("raftq:raft_leaders")}
        assert found == one_leader_each, found
        return found

    eventually("one leader in each Raft group", leaders, timeout_s=60)
    # A message sent now is counted, under its queue's name, by the recording rule
    queue = f"metrics-{int(time.time())}"
    env = deployment.client_env()
    key = (env["RAFTQ_ACCESS_KEY_ID"], env["RAFTQ_SECRET_ACCESS_KEY"])
    with Client(env["RAFTQ_ENDPOINT"], *key) as client:
        client.create_queue(queue)
        client.send(queue, "counted")
    visible = f'raftq:queue_messages:leader{{queue="{queue}",state="visible"}}'
    eventually(f"{queue} in the recording rule", lambda: prometheus.query(visible) or None, 90)
    assert [value for _, value in prometheus.query(visible)] == [1.0]
    # And nothing is wrong with the fresh deployment's Raft groups
    quiet = 'ALERTS{alertstate="firing",alertname=~"RaftqNoLeader|RaftqReplicaLagging"}'
    firing = prometheus.query(quiet)
    assert firing == []


@pytest.mark.parametrize("name", CELL_NAMES)
async def test_cell_loses_nothing_and_breaks_no_promise(
    name: str, deployment: Deployment, results: list[CellResult]
) -> None:
    recovery_s = 20.0 if MATRIX == "short" else 30.0
    result = await run_cell(
        deployment, CELLS[name], OUT / name, fault_s=FAULT_S, recovery_s=recovery_s
    )
    results.append(result)
    print(result.render())
    assert result.passed, result.render()

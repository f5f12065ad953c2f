"""The Kubernetes workers' default command runs: `raftq worker example_tasks:tasks`, started as
the `worker` Deployment starts it (in the directory where its ConfigMap puts example_tasks.py,
with no bytecode written), takes a task from a real `raftq up`, records its result, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftq.client.sdk import AsyncClient
from tests.integration.conftest import Deployment
from tests.integration.task_workers import task_ends

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base"
STOP_TIMEOUT_S = 30


@pytest.fixture
def example_worker(deployment: Deployment) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "raftq.client.cli", "worker", "example_tasks:tasks"]
    command += ["--queue", "k8s-example", "--poll-wait-s", "1", "--grace-s", "5"]
    environment = os.environ | deployment.env | {"PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen(command, cwd=APP_DIR, env=environment)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_the_example_worker_runs_a_task_and_stops_on_sigterm(
    client: AsyncClient, example_worker: subprocess.Popen[bytes]
) -> None:
    # Given the queue of keda.yaml's kind with a task of the example registry's type
    await client.create_queue("k8s-example")
    submitted = await client.submit_task("k8s-example", "example.echo", {"hello": "kubernetes"})
    # When the worker runs it, then its result is the payload
    task = await task_ends(client, "k8s-example", submitted.task_id)
    assert (task.state, task.result) == ("succeeded", {"hello": "kubernetes"})
    # And SIGTERM (a pod stopping) ends it with status 0
    example_worker.send_signal(signal.SIGTERM)
    assert example_worker.wait(timeout=STOP_TIMEOUT_S) == 0

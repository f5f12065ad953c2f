from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from raftq.client.sdk import AsyncClient
from raftq.common.internal_tls import InternalTls
from tests.integration.cluster import Cluster
from tests.integration.task_workers import worker_process
from tests.integration.up_process import client_env, free_base_port, start_up, wait_ready


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def cluster(tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[Cluster]:
    """A running three-node cluster with a leader; every process is killed afterwards."""
    running = Cluster(tmp_path, session, extra_args=("--witness-syncs",))
    try:
        running.start_all()
        await running.leader(timeout_s=20)
        yield running
    finally:
        running.close()


@pytest.fixture
def cluster_factory(
    tmp_path: Path, session: aiohttp.ClientSession
) -> Iterator[Callable[..., Cluster]]:
    """Build clusters with extra flags; each is killed afterwards."""
    made: list[Cluster] = []

    def make(
        *extra_args: str,
        name: str = "cluster",
        with_secret: bool = True,
        kind: str = "backend",
        tls: InternalTls | None = None,
    ) -> Cluster:
        root = tmp_path / name
        root.mkdir()
        built = Cluster(
            root,
            session,
            extra_args=extra_args,
            with_secret=with_secret,
            kind=kind,
            tls=tls or InternalTls(),
        )
        made.append(built)
        return built

    yield make
    for built in made:
        built.close()


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    key_id: str
    secret: str
    env: dict[str, str]
    data_dir: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("up") / "data"
    up = start_up(data_dir, free_base_port(14), "--usage-log")  # test_frontend reads it
    try:
        wait_ready(up)
        env = client_env(data_dir)
        yield Deployment(
            env["RAFTQ_ENDPOINT"],
            env["RAFTQ_ACCESS_KEY_ID"],
            env["RAFTQ_SECRET_ACCESS_KEY"],
            env,
            data_dir,
        )
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()


@pytest.fixture
async def client(deployment: Deployment) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(deployment.endpoint, deployment.key_id, deployment.secret) as made:
        yield made


@pytest.fixture
def start_worker(deployment: Deployment) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `raftq worker` processes (task_workers.worker_process); each is killed at the end
    if still running."""
    started: list[subprocess.Popen[bytes]] = []

    def start(queue: str, *options: str) -> subprocess.Popen[bytes]:
        started.append(worker_process(deployment.env, queue, *options))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()

"""Starting `raftq up` as a real process for tests, and reading what it writes."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import Deployment


# Ports the tests' servers listen on are drawn below Linux's ephemeral range (32768-60999 by
# default): a port drawn inside it can be taken, between the check and the bind, as the source
# port of one of the many connections the nodes open (seen: a frontend's "address already in
# use" after its ports were checked free).
LISTEN_PORTS = range(20_000, 32_000)


def free_base_port(count: int = 14) -> int:
    for _ in range(200):
        base = random.randrange(LISTEN_PORTS.start, LISTEN_PORTS.stop - count)
        try:
            sockets = []
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise RuntimeError("no free port range")


def start_up(data_dir: Path, base_port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "raftq.client.cli", "up", "--data-dir", str(data_dir),
         "--base-port", str(base_port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_ready(up: subprocess.Popen[str]) -> str:
    assert up.stdout is not None
    line = up.stdout.readline()  # blocks until the announcement (or the process ends)
    assert line.startswith("raftq is up"), (line, up.poll())
    return line


def client_env(data_dir: Path) -> dict[str, str]:
    """client.env's variables, and (for the tests' own node-level calls) the cluster secret,
    which client.env never holds."""
    env = dict(os.environ)
    for line in (data_dir / "client.env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    env["RAFTQ_CLUSTER_SECRET"] = (data_dir / "secret").read_text().strip()
    return env


def issue_frontend_credential(env: dict[str, str], name: str, path: Path) -> None:
    """`raftq admin frontends create NAME --write PATH`, as an operator would."""
    subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "frontends", "create", name,
         "--write", str(path)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip


def start_frontend(
    deployment: Deployment, directory: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_base_port(1)
    env = deployment.env
    credential = directory / "frontend.credential"
    if not credential.exists():
        issue_frontend_credential(env, f"frontend-{port}", credential)
    process = subprocess.Popen(
        [sys.executable, "-m", "raftq.client.cli", "frontend", "--listen", f"127.0.0.1:{port}",
         *(a for m in env["RAFTQ_METADATA"].split(",") for a in ("--metadata", m)),
         "--credential-file", str(credential),
         "--log-level", "WARNING", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


async def wait_healthy(endpoint: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(endpoint + "/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"{endpoint} did not start")

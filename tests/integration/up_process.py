"""Starting `raftq up` as a real process for tests, and reading what it writes."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path


def free_base_port(count: int = 14) -> int:
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
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


def start_up(data_dir: Path, base_port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "raftq.client.cli", "up", "--data-dir", str(data_dir),
         "--base-port", str(base_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_ready(up: subprocess.Popen[str]) -> str:
    assert up.stdout is not None
    line = up.stdout.readline()  # blocks until the announcement (or the process ends)
    assert line.startswith("raftq is up"), (line, up.poll())
    return line


def client_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for line in (data_dir / "client.env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env

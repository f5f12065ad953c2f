"""`raftq up` in a real process: ready with a working catalogue, a killed child restarted,
Ctrl-C/SIGTERM stops every child, and the next start brings the data back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.up_process import client_env, free_base_port, start_up, wait_ready

pytestmark = pytest.mark.integration


def admin(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "--json", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def children(data_dir: Path) -> dict[str, dict[str, int | None]]:
    state: dict[str, dict[str, int | None]] = json.loads((data_dir / "up.json").read_text())
    return state


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(up: subprocess.Popen[str]) -> None:
    up.send_signal(signal.SIGTERM)
    assert up.wait(timeout=30) == 0


def test_raftq_up_runs_restarts_stops_and_comes_back_with_its_data(tmp_path: Path) -> None:
    data_dir, base_port = tmp_path / "data", free_base_port()
    up = start_up(data_dir, base_port)
    try:
        # Ready: the catalogue works with what client.env says
        wait_ready(up)
        env = client_env(data_dir)
        assert (data_dir / "secret").stat().st_mode & 0o077 == 0  # secrets are the owner's
        assert (data_dir / "raft.secret").stat().st_mode & 0o077 == 0
        # client.env (a laptop's, a frontend's) never holds what talks Raft to the members
        raft_secret = (data_dir / "raft.secret").read_text().strip()
        assert raft_secret not in (data_dir / "client.env").read_text()
        assert raft_secret not in env.values()
        # nor the nodes' cluster secret: `raftq admin` signs with the operator secret, and the
        # frontend runs with its own credential only
        cluster_secret = (data_dir / "secret").read_text().strip()
        assert cluster_secret not in (data_dir / "client.env").read_text()
        frontend_pid = children(data_dir)["frontend"]["pid"]
        argv = Path(f"/proc/{frontend_pid}/cmdline").read_bytes().split(b"\0")
        assert b"--credential-file" in argv and b"--secret-file" not in argv
        assert b"--operator-secret-file" not in argv and b"--raft-secret-file" not in argv
        created = admin(env, "queues", "create", "orders")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["cluster"] == "c1"

        # A killed child is restarted
        victim = children(data_dir)["c1-n2"]["pid"]
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (state := children(data_dir)["c1-n2"])["restarts"] != 1:
            assert time.monotonic() < deadline, "the killed child was not restarted"
            time.sleep(0.1)
        assert state["pid"] not in (None, victim)

        # A second `raftq up` on the same data is refused
        second = start_up(data_dir, base_port)
        assert second.wait(timeout=30) == 2
        assert second.stderr is not None and "already running" in second.stderr.read()

        # SIGTERM stops every child
        pids = [c["pid"] for c in children(data_dir).values()]
        stop(up)
        assert all(pid is not None and not alive(pid) for pid in pids)
    finally:
        if up.poll() is None:
            up.kill()

    # The next start reuses the data (and refuses other addresses for it)
    moved = start_up(data_dir, base_port + 1)
    assert moved.wait(timeout=30) == 2
    again = start_up(data_dir, base_port)
    try:
        wait_ready(again)
        listed = admin(client_env(data_dir), "queues", "list")
        assert listed.returncode == 0, listed.stderr
        assert [q["name"] for q in json.loads(listed.stdout)] == ["orders"]
        stop(again)
    finally:
        if again.poll() is None:
            again.kill()

"""`raftq up` owning its cluster, in real processes: a port in use is named before anything
starts, `raftq status` and `raftq down` find the supervisor through its data dir, a SIGHUP or a
SIGKILL of the supervisor leaves no node behind, and `--clusters 2` runs a second backend
cluster the README's move and drain lines use."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.up_process import client_env, free_base_port, start_up, wait_ready

pytestmark = pytest.mark.integration


def raftq(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def nodes_on(data_dir: Path) -> list[int]:
    """Live processes whose command line names a path under `data_dir` (the nodes of a
    `raftq up` there), found in /proc as an operator would, not through raftq's own files."""
    marker = str(data_dir) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            zombie = "\nState:\tZ" in (entry / "status").read_text()
        except OSError:
            continue
        if not zombie and any(word.startswith(marker) for word in words):
            found.append(int(entry.name))
    return found


def wait_no_nodes(data_dir: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while nodes_on(data_dir):
        assert time.monotonic() < deadline, f"nodes left running: {nodes_on(data_dir)}"
        time.sleep(0.2)


def kill_all(up: subprocess.Popen[str], data_dir: Path) -> None:
    if up.poll() is None:
        up.kill()
        up.wait()
    for pid in nodes_on(data_dir):
        os.kill(pid, signal.SIGKILL)


def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path) -> None:
    data_dir, base_port = tmp_path / "data", free_base_port()
    # Given another program listening on the frontend's port
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", base_port + 12))
        squatter.listen()
        # When `raftq up` starts there
        up = start_up(data_dir, base_port)
        try:
            code = up.wait(timeout=30)
        finally:
            kill_all(up, data_dir)
    # Then it refuses at once, naming the port, what it is for, and the way out
    assert code == 2
    assert up.stderr is not None
    said = up.stderr.read()
    assert f"port {base_port + 12}" in said and "frontend" in said and "--base-port" in said
    assert up.stdout is not None and "raftq is up" not in up.stdout.read()
    assert not (data_dir / "logs").exists()  # no node was started


def test_sighup_takes_every_node_down_and_status_and_down_follow(tmp_path: Path) -> None:
    data_dir, base_port = tmp_path / "data", free_base_port(20)
    up = start_up(data_dir, base_port, "--clusters", "2")
    try:
        # Given a ready `raftq up` with two backend clusters
        assert "backend clusters c1, c2" in wait_ready(up)
        env = client_env(data_dir)
        listed = raftq("admin", "--json", "clusters", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert sorted(c["cluster_id"] for c in json.loads(listed.stdout)) == ["c1", "c2"]
        # and the README's move works locally
        created = raftq("admin", "--json", "queues", "create", "orders-1", env=env)
        assert created.returncode == 0, created.stderr
        other = "c2" if json.loads(created.stdout)["cluster"] == "c1" else "c1"
        moved = raftq("admin", "queues", "move", "orders-1", "--to", other, env=env)
        assert moved.returncode == 0, moved.stderr
        # `raftq status` finds it through the data dir
        status = raftq("status", "--data-dir", str(data_dir))
        assert status.returncode == 0, status.stdout
        assert f"supervisor pid {up.pid}" in status.stdout and "c2-n3" in status.stdout
        assert len(nodes_on(data_dir)) == 10  # 3 metadata, 2 x 3 backend, the frontend
        # When the terminal goes away
        up.send_signal(signal.SIGHUP)
        assert up.wait(timeout=30) == 0
        # Then no node survives, and status says it is down
        wait_no_nodes(data_dir)
        status = raftq("status", "--data-dir", str(data_dir))
        assert status.returncode == 3 and "not running" in status.stdout
    finally:
        kill_all(up, data_dir)


def test_nodes_die_with_a_killed_supervisor_and_down_stops_a_running_one(
    tmp_path: Path,
) -> None:
    data_dir, base_port = tmp_path / "data", free_base_port()
    up = start_up(data_dir, base_port)
    try:
        wait_ready(up)
        # When the supervisor is killed outright (no chance to stop its children)
        up.kill()
        up.wait(timeout=10)
        # Then its nodes go down with it, and a new `raftq up` can start on the same data
        wait_no_nodes(data_dir)
        up = start_up(data_dir, base_port)
        wait_ready(up)
        # And `raftq down` stops that one, nodes and all
        down = raftq("down", "--data-dir", str(data_dir))
        assert down.returncode == 0, down.stderr
        assert "stopped supervisor" in down.stdout
        assert up.wait(timeout=30) == 0
        wait_no_nodes(data_dir, timeout_s=5)
        again = raftq("down", "--data-dir", str(data_dir))
        assert again.returncode == 0 and "nothing runs" in again.stdout
    finally:
        kill_all(up, data_dir)

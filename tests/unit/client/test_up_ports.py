"""`raftq up`'s port check: every port of the layout, named by what would listen there; and
how `raftq status` and `raftq down` find the running supervisor."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from raftq.client.up import _layout
from raftq.client.up_layout import ports
from raftq.client.up_state import PortInUse, check_ports, running_supervisor
from tests.integration.up_process import free_base_port


def test_the_layout_of_two_clusters_names_twenty_distinct_ports() -> None:
    named = ports({"host": "127.0.0.1", "base_port": 7700, "clusters": 2})
    assert sorted(named) == list(range(7700, 7720))
    assert named[7712] == "the frontend"
    assert named[7714] == "Raft of cluster c2 node c2-n1"
    assert named[7719] == "API of cluster c2 node c2-n3"


def test_a_listening_port_is_named_and_free_ones_pass() -> None:
    base = free_base_port()
    named = ports({"host": "127.0.0.1", "base_port": base, "clusters": 1})
    check_ports("127.0.0.1", named)  # all free
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 3))
        squatter.listen()
        with pytest.raises(PortInUse, match=f"port {base + 3} .*API of metadata node m1"):
            check_ports("127.0.0.1", named)


def test_clusters_can_be_added_to_a_data_dir_but_not_removed(tmp_path: Path) -> None:
    assert _layout(tmp_path, "127.0.0.1", 7700)["clusters"] == 1
    assert _layout(tmp_path, "127.0.0.1", 7700, 2)["clusters"] == 2
    assert _layout(tmp_path, "127.0.0.1", 7700)["clusters"] == 2  # kept
    with pytest.raises(ValueError, match="--clusters 1"):
        _layout(tmp_path, "127.0.0.1", 7700, 1)


def test_a_supervisor_without_a_pid_file_is_found_by_its_lock(tmp_path: Path) -> None:
    # Given a process holding up.lock that wrote no up.pid (a raftq from before up.pid)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time\n"
         f"lock = open({str(tmp_path / 'up.lock')!r}, 'a')\n"
         "fcntl.flock(lock, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        # Then it is the running supervisor, by its pid
        assert running_supervisor(tmp_path) == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert running_supervisor(tmp_path) is None

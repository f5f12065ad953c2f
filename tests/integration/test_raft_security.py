"""Raft traffic is authenticated: bytes from someone without the cluster secret are never
unpickled (DESIGN.md §1 promise 7; pysyncobj unpickles whatever reaches its port otherwise)."""

from __future__ import annotations

import contextlib
import pickle
import socket
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.cluster import Cluster, eventually

pytestmark = pytest.mark.integration


class _CreatesFile:
    """Unpickling this creates a file: proof that a peer's bytes were executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _send_raw_frame(address: str, payload: object) -> None:
    data = zlib.compress(pickle.dumps(payload), 3)
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as connection:
        connection.sendall(struct.pack("i", len(data)) + data)
        connection.settimeout(1)
        with contextlib.suppress(TimeoutError, ConnectionError):
            connection.recv(1024)  # give the node time to read the frame and react


async def _file_appears(path: Path) -> bool | None:
    return True if path.exists() else None


async def test_a_pickle_sent_to_the_raft_port_without_the_secret_is_never_unpickled(
    cluster: Cluster, tmp_path: Path
) -> None:
    # Given a running cluster with a secret
    leader = await cluster.leader()
    marker = tmp_path / "executed-by-stranger"

    # When a stranger sends a crafted pickle to each node's Raft port
    for node in cluster.nodes:
        _send_raw_frame(node.raft_address, _CreatesFile(marker))

    # Then nothing was executed and the cluster still serves
    await cluster.converged()
    assert not marker.exists()
    status = await cluster.status(leader)
    assert status is not None and status["failure"] is None


async def test_the_same_pickle_is_executed_by_a_node_without_a_secret(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given (the control case) a node started in insecure development mode
    insecure = cluster_factory("--insecure-development-mode", name="insecure", with_secret=False)
    insecure.start(0)
    marker = tmp_path / "executed-by-stranger"

    # When the same bytes reach its Raft port
    async def delivered() -> bool | None:
        try:
            _send_raw_frame(insecure.nodes[0].raft_address, _CreatesFile(marker))
        except OSError:
            return None
        return await _file_appears(marker)

    # Then they run: which is exactly what the secret prevents
    assert await eventually(delivered, timeout_s=20, what="the insecure node to unpickle")


async def test_raft_listens_on_its_configured_address_only(cluster: Cluster) -> None:
    # Given nodes configured to use 127.0.0.1 (pysyncobj alone would listen on every interface)
    node = cluster.nodes[0]
    port = int(node.raft_address.rsplit(":", 1)[1])

    # When the same port is dialled on another loopback address
    # Then nothing answers there
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port), timeout=2).close()
    socket.create_connection(("127.0.0.1", port), timeout=2).close()

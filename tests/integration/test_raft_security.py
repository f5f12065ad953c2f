"""Raft traffic is authenticated with the raft secret, which only the group's members hold:
bytes from anyone else, a frontend with its own credential or an operator with the operator
secret included, are never unpickled (DESIGN.md §1 promise 7; pysyncobj unpickles whatever
reaches its port otherwise)."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import socket
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raftq.raft.wire_cipher import WireCipher
from tests.integration.cluster import OPERATOR_SECRET, RAFT_SECRET, Cluster, eventually

pytestmark = pytest.mark.integration

# What a frontend holds (its credential, as `raftq admin frontends create` prints it: an id and
# 40 URL-safe characters), and what an operator or a laptop with `raftq up`'s client.env holds:
# never the raft secret (nor the cluster secret).
_FRONTEND_SECRET = "Yq3v0nC1x8Jm2fT5bK7pWs9eL4hR6dA0zGuNiOkQ"
FRONTEND_SECRETS = {
    "frontend credential's secret": _FRONTEND_SECRET,
    "frontend credential": "RF" + "K" * 18 + ":" + _FRONTEND_SECRET,
    "operator secret": OPERATOR_SECRET,
}


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


class _CopiesFile:
    """Unpickling this copies a file and gives the copy's path, which pysyncobj then takes for
    the peer's random key: proof that a peer's bytes were unpickled, and a first message the
    member answers as it would a real key."""

    def __init__(self, source: Path, copy: Path) -> None:
        source.write_text("copied by the member")
        self.source, self.copy = source, copy

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (shutil.copyfile, (str(self.source), str(self.copy)))


def _frame(cipher: WireCipher, message: object) -> bytes:
    """One message as a pysyncobj connection sends it: pickled, zlib, encrypted, length first."""
    data = cipher.encrypt_at_time(zlib.compress(pickle.dumps(message), 3), int(time.monotonic()))
    return struct.pack("i", len(data)) + data


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_message(connection: socket.socket, cipher: WireCipher) -> Any:
    """The member's next message; None once it closed the connection (a timeout fails)."""
    header = _read_exactly(connection, 4)
    if header is None:
        return None
    data = _read_exactly(connection, struct.unpack("i", header)[0])
    if data is None:
        return None
    return pickle.loads(zlib.decompress(cipher.decrypt(data)))


def _first_message(address: str, secret: str, message: object) -> Any:
    """Send `message` as the first message of a Raft connection (where a peer sends its random
    key), encrypted with `secret`: the member's answer, or None if it closed the connection."""
    cipher = WireCipher(secret)
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(_frame(cipher, message))
        return _read_message(connection, cipher)


def _ask_for_a_vote(address: str, secret: str, as_peer: str, term: int) -> Any:
    """Speak pysyncobj's protocol to the member at `address` as its peer `as_peer` would, with a
    WireCipher made from `secret`: exchange random keys, say who we are, and ask for its vote in
    `term`. Its answer to the vote request, or None if it closed the connection first."""
    cipher = WireCipher(secret)
    our_key = os.urandom(32)
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(_frame(cipher, our_key))
        answer = _read_message(connection, cipher)
        if answer is None:
            return None
        echoed, their_key = answer  # its messages carry our key, ours must carry its key
        assert echoed == our_key
        vote_request = {
            "type": "request_vote",
            "term": term,
            "last_log_index": 1 << 40,
            "last_log_term": term,
        }
        connection.sendall(_frame(cipher, (their_key, as_peer)))
        connection.sendall(_frame(cipher, (their_key, vote_request)))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the member may send other Raft messages first
            answer = _read_message(connection, cipher)
            if answer is None:
                return None
            if answer[1].get("type") == "response_vote":
                return answer[1]
        raise AssertionError("the member neither answered the vote request nor hung up")


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


@pytest.mark.parametrize("held", sorted(FRONTEND_SECRETS))
async def test_a_frontends_secrets_cannot_talk_raft_to_a_member(
    cluster: Cluster, tmp_path: Path, held: str
) -> None:
    # Given a running cluster, and a stranger holding one of the secrets a frontend holds
    secret = FRONTEND_SECRETS[held]
    member, peer = cluster.nodes[0], cluster.nodes[1]
    before = await cluster.status(0)
    assert before is not None
    asked_term = int(before["term"]) + 100
    marker = tmp_path / "unpickled-by-member"

    # When it sends, encrypted with that secret, a pickle that copies a file as the first
    # message of a Raft connection, then, on another, pysyncobj's handshake as the member's
    # peer and a vote request for a later term
    unpickling = _CopiesFile(tmp_path / "proof", marker)
    first_answer = _first_message(member.raft_address, secret, unpickling)
    vote = _ask_for_a_vote(member.raft_address, secret, peer.raft_address, asked_term)

    # Then the member hung up on both at their first message, unpickled nothing, never took
    # the term, and the cluster still serves
    assert first_answer is None and vote is None
    assert not marker.exists()
    after = await cluster.status(0)
    assert after is not None and after["failure"] is None
    assert int(after["term"]) < asked_term
    await cluster.leader()


async def test_the_same_messages_with_the_raft_secret_are_accepted(
    cluster: Cluster, tmp_path: Path
) -> None:
    # Given (the control case: the test above can fail) the same cluster and messages
    member, peer = cluster.nodes[0], cluster.nodes[1]
    before = await cluster.status(0)
    assert before is not None
    asked_term = int(before["term"]) + 100
    marker = tmp_path / "unpickled-by-member"

    # When they are encrypted with the raft secret
    unpickling = _CopiesFile(tmp_path / "proof", marker)
    first_answer = _first_message(member.raft_address, RAFT_SECRET, unpickling)
    vote = _ask_for_a_vote(member.raft_address, RAFT_SECRET, peer.raft_address, asked_term)

    # Then the member unpickled the first and answered it, and granted the vote in that term
    assert marker.read_text() == "copied by the member"
    assert first_answer is not None
    assert vote == {"type": "response_vote", "term": asked_term}
    after = await cluster.status(0)
    assert after is not None and int(after["term"]) >= asked_term


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

"""CANCEL on real sockets: a caller that gives up stops its request on the node, and a peer
cannot use the frame to break or flood anything but its own connection."""

from __future__ import annotations

import asyncio

import pytest

from raftq.common.channel import frames
from raftq.common.channel.client import ChannelPool
from raftq.common.channel.frames import Kind
from raftq.common.errors import OutcomeUnknown
from tests.unit.common.channel_peers import Node, RawPeer, closed_by_peer, raw_connection, until


def running_requests(node: Node) -> int:
    return sum(len(connection._tasks) for connection in node.server.connections)


async def test_a_cancelled_request_is_cancelled_on_the_node(node: Node, pool: ChannelPool) -> None:
    # Given a request the node is working on
    waiting = asyncio.create_task(pool.request(node.address, b"wait-1", 5.0))
    await until(lambda: node.calls == [b"wait-1"])
    # When its caller's task is cancelled (its client went away)
    waiting.cancel()
    # Then the node's handler sees the cancellation, and nothing of it runs on
    await until(lambda: node.cancelled == [b"wait-1"])
    await until(lambda: running_requests(node) == 0)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # and the shared connection serves the next request
    assert await pool.request(node.address, b"next", 2.0) == (True, b"echo:next")
    assert len(node.server.connections) == 1


async def test_a_request_that_times_out_is_cancelled_on_the_node(
    node: Node, pool: ChannelPool
) -> None:
    with pytest.raises(OutcomeUnknown):
        await pool.request(node.address, b"wait-long", 0.1)
    await until(lambda: node.cancelled == [b"wait-long"])
    await until(lambda: running_requests(node) == 0)


async def test_other_requests_on_the_connection_are_not_cancelled(
    node: Node, pool: ChannelPool
) -> None:
    kept = asyncio.create_task(pool.request(node.address, b"wait-kept", 5.0))
    dropped = asyncio.create_task(pool.request(node.address, b"wait-dropped", 5.0))
    await until(lambda: len(node.calls) == 2)
    dropped.cancel()
    await until(lambda: node.cancelled == [b"wait-dropped"])
    node.release.set()
    assert await kept == (True, b"echo:wait-kept")


async def test_a_cancel_for_an_unknown_or_answered_id_is_ignored(node: Node) -> None:
    peer = await RawPeer.authenticated(node.address)
    # Given a request answered already
    peer.send(frames.encode(Kind.REQUEST, 1, b"one"))
    assert (await peer.next_frame()).fields == (1, b"echo:one")
    # When it is cancelled, and so is an id never used
    peer.send(frames.encode(Kind.CANCEL, 1))
    peer.send(frames.encode(Kind.REQUEST, 2, b"two"))
    peer.send(frames.encode(Kind.CANCEL, 99))
    peer.send(frames.encode(Kind.REQUEST, 3, b"three"))
    # Then nothing answers the cancels and the connection goes on serving
    assert (await peer.next_frame()).fields == (2, b"echo:two")
    assert (await peer.next_frame()).fields == (3, b"echo:three")
    assert node.calls == [b"one", b"two", b"three"]
    assert node.cancelled == []
    peer.close()


async def test_a_cancel_before_its_request_ran_means_it_never_runs(node: Node) -> None:
    peer = await RawPeer.authenticated(node.address)
    peer.send(frames.encode(Kind.REQUEST, 1, b"wait-never") + frames.encode(Kind.CANCEL, 1))
    peer.send(frames.encode(Kind.REQUEST, 2, b"after"))
    assert (await peer.next_frame()).fields == (2, b"echo:after")
    assert node.calls == [b"after"]
    peer.close()


@pytest.mark.parametrize(
    "frame",
    [
        frames.encode(Kind.CANCEL, b"1"),  # an id that is not an integer
        frames.encode(Kind.CANCEL, True),  # nor is a boolean
        frames.encode(Kind.CANCEL),  # no id
        frames.encode(Kind.CANCEL, 1, b"extra"),  # a field too many
        frames.encode(Kind.CANCEL, 7),  # more CANCELs than REQUESTs: a flood
    ],
    ids=["bytes-id", "bool-id", "no-id", "extra-field", "flood"],
)
async def test_a_malformed_or_excess_cancel_drops_only_its_connection(
    node: Node, pool: ChannelPool, frame: bytes
) -> None:
    # Given a request of another client running
    other = asyncio.create_task(pool.request(node.address, b"wait-other", 5.0))
    await until(lambda: node.calls == [b"wait-other"])
    # When a peer sends a bad CANCEL
    peer = await RawPeer.authenticated(node.address)
    peer.send(frame)
    # Then its connection is closed, and the other client's request goes on
    assert await closed_by_peer(peer.reader)
    peer.close()
    assert node.cancelled == []
    node.release.set()
    assert await other == (True, b"echo:wait-other")


async def test_each_request_allows_one_cancel(node: Node) -> None:
    peer = await RawPeer.authenticated(node.address)
    peer.send(frames.encode(Kind.REQUEST, 1, b"one"))
    assert (await peer.next_frame()).fields == (1, b"echo:one")
    peer.send(frames.encode(Kind.CANCEL, 1) + frames.encode(Kind.CANCEL, 1))
    assert await closed_by_peer(peer.reader)
    peer.close()


async def test_a_request_id_reused_while_running_drops_the_connection(node: Node) -> None:
    peer = await RawPeer.authenticated(node.address)
    peer.send(frames.encode(Kind.REQUEST, 1, b"wait-a") + frames.encode(Kind.REQUEST, 1, b"b"))
    assert await closed_by_peer(peer.reader)
    peer.close()
    await until(lambda: node.cancelled == [b"wait-a"])  # the connection's requests end with it


async def test_a_cancel_before_the_handshake_drops_the_connection(node: Node) -> None:
    peer = RawPeer(*await raw_connection(node.address))
    peer.send(frames.PREAMBLE + frames.encode(Kind.CANCEL, 1))
    assert await closed_by_peer(peer.reader)
    peer.close()

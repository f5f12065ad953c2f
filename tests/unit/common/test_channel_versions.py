"""Channel versions on real loopback sockets: a new client offers v2 and falls back to v1 on a
node that serves v1 only (a node run at command level 2 serves as the release before v2, which
drops any other preamble); a v1 client is served by a new node; v2 carries each side's command
level; a newer preamble or a v2 HELLO without its level is dropped."""

from __future__ import annotations

import pytest

from raftq.common.channel import frames
from raftq.common.channel.client import ChannelPool
from raftq.common.channel.frames import Kind
from raftq.common.channel.server import ChannelServer
from raftq.common.command_levels import CODE_LEVEL
from tests.unit.common.channel_peers import (
    CREDENTIAL,
    FRONTEND_ID,
    MAX_FRAME,
    RawPeer,
    Secrets,
    closed_by_peer,
    raw_connection,
    serving,
)


async def echo(payload: bytes) -> bytes:
    return b"echo:" + payload


def server_at(level: int) -> ChannelServer:
    return ChannelServer(Secrets(), echo, max_frame_bytes=MAX_FRAME, command_level=level)


async def test_a_new_client_speaks_v2_to_a_new_node_and_both_learn_the_others_level() -> None:
    server = server_at(CODE_LEVEL)
    async with serving(server) as address:
        pool = ChannelPool(CREDENTIAL, max_frame_bytes=MAX_FRAME)
        try:
            assert await pool.request(address, b"hi", 2.0) == (True, b"echo:hi")
            assert pool.version_of(address) == 2
            (connection,) = server.connections
            assert connection.peer_level == CODE_LEVEL
        finally:
            await pool.close()


async def test_a_new_client_falls_back_to_v1_on_a_node_of_the_previous_release() -> None:
    # Given a node run at command level 2, which serves channel v1 only
    async with serving(server_at(2)) as address:
        pool = ChannelPool(CREDENTIAL, max_frame_bytes=MAX_FRAME)
        try:
            # When a new client sends a request, then it is answered over v1
            assert await pool.request(address, b"hi", 2.0) == (True, b"echo:hi")
            assert pool.version_of(address) == 1
        finally:
            await pool.close()


async def test_a_node_of_the_previous_release_drops_a_v2_preamble_as_before() -> None:
    async with serving(server_at(2)) as address:
        reader, writer = await raw_connection(address)
        hello = frames.encode(Kind.HELLO, frames.new_nonce(), FRONTEND_ID, CODE_LEVEL)
        writer.write(frames.PREAMBLES[2] + hello)
        assert await closed_by_peer(reader)
        writer.close()


async def test_an_old_client_is_served_v1_by_a_new_node() -> None:
    server = server_at(CODE_LEVEL)
    async with serving(server) as address:
        # A v1 client as the previous release speaks it, frame for frame
        peer = await RawPeer.authenticated(address)
        peer.send(frames.encode(Kind.REQUEST, 1, b"old"))
        answer = await peer.next_frame()
        assert (answer.kind, answer.fields) == (Kind.RESPONSE, (1, b"echo:old"))
        (connection,) = server.connections
        assert connection.peer_level is None
        peer.close()
        # And a pool capped at v1 (an old frontend) is served too
        pool = ChannelPool(CREDENTIAL, max_frame_bytes=MAX_FRAME, max_version=1)
        try:
            assert await pool.request(address, b"v1", 2.0) == (True, b"echo:v1")
            assert pool.version_of(address) == 1
        finally:
            await pool.close()


@pytest.mark.parametrize(
    "opening",
    [
        pytest.param(b"\x00raftq-channel/3\n", id="a newer version"),
        pytest.param(
            frames.PREAMBLES[2] + frames.encode(Kind.HELLO, b"n" * 32, FRONTEND_ID),
            id="a v2 HELLO without its level",
        ),
        pytest.param(
            frames.PREAMBLES[1] + frames.encode(Kind.HELLO, b"n" * 32, FRONTEND_ID, 3),
            id="a v1 HELLO with a level",
        ),
    ],
)
async def test_a_connection_that_mixes_versions_is_dropped(opening: bytes) -> None:
    async with serving(server_at(CODE_LEVEL)) as address:
        reader, writer = await raw_connection(address)
        writer.write(opening)
        assert await closed_by_peer(reader)
        writer.close()

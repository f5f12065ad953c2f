"""A channel node on a real loopback port, and helpers to talk to it raw (tests of the channel)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from raftq.common.channel import frames
from raftq.common.channel.frames import Frame, FrameReader, Kind
from raftq.common.channel.server import ChannelServer
from raftq.common.channel.site import SharedPortSite
from raftq.common.credentials import Caller, Credential, Role
from raftq.common.errors import NotLeader

SECRET = b"a-frontend-secret-for-tests"
FRONTEND_ID = "RF" + "A" * 18
OTHER_ID = "RF" + "B" * 18
CREDENTIAL = Credential(Caller(Role.FRONTEND, FRONTEND_ID), SECRET)
MAX_FRAME = 64 * 1024


class Secrets:
    """Frontend credentials as the metadata group would answer for them; `asked` counts the
    fresh questions (a recheck)."""

    def __init__(self) -> None:
        self.live: dict[str, bytes] = {FRONTEND_ID: SECRET, OTHER_ID: b"the-other-frontend!"}
        self.fresh_asked = 0

    async def secret_of(self, frontend_id: str, *, fresh: bool = False) -> bytes | None:
        self.fresh_asked += fresh
        return self.live.get(frontend_id)


class Node:
    """A channel server on a real port; its handler echoes, sleeps or fails on request."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.cancelled: list[bytes] = []  # requests whose handler saw cancellation
        self.release = asyncio.Event()
        self.secrets = Secrets()
        self.server = ChannelServer(
            self.secrets, self.handle, max_frame_bytes=MAX_FRAME, handshake_timeout_s=0.3
        )
        self.address = ""

    async def handle(self, payload: bytes) -> bytes:
        self.calls.append(payload)
        if payload.startswith(b"wait"):
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.append(payload)
                raise
        if payload == b"not-leader":
            raise NotLeader("this node is not the leader", leader_hint="10.0.0.2:1")
        return b"echo:" + payload


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Returns once `condition` holds; fails the test if it does not within `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.001)


async def raw_connection(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """Whether the node closes the connection (reads to EOF) within a second."""
    try:
        async with asyncio.timeout(1.0):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


class RawPeer:
    """A client that speaks the channel frame by frame, to send what `ChannelPool` never would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._frames = FrameReader(MAX_FRAME)
        self._received: list[Frame] = []

    @classmethod
    async def authenticated(cls, address: str) -> RawPeer:
        """Connected, and through the handshake with the right secret."""
        peer = cls(*await raw_connection(address))
        nonce = frames.new_nonce()
        peer.writer.write(frames.PREAMBLE + frames.encode(Kind.HELLO, nonce, FRONTEND_ID))
        challenge = await peer.next_frame()
        server_nonce = challenge.fields[0]
        proof = frames.client_proof(SECRET, FRONTEND_ID, nonce, server_nonce)
        peer.send(frames.encode(Kind.PROOF, proof))
        assert (await peer.next_frame()).kind is Kind.READY
        return peer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def next_frame(self, timeout_s: float = 2.0) -> Frame:
        async with asyncio.timeout(timeout_s):
            while not self._received:
                data = await self.reader.read(65536)
                assert data, "the node closed the connection"
                self._received += self._frames.feed(data)
        return self._received.pop(0)

    def close(self) -> None:
        self.writer.close()


@contextlib.asynccontextmanager
async def serving(server: ChannelServer) -> AsyncIterator[str]:
    """`server` on a real loopback port, shared with an empty aiohttp app as a node's is; its
    address. Closed afterwards."""
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = SharedPortSite(runner, "127.0.0.1", 0, server)
    await site.start()
    try:
        yield f"127.0.0.1:{site.port}"
    finally:
        await server.close()
        await runner.cleanup()

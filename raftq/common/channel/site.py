"""One port for a node's HTTP API and its channel.

A connection is told apart by its first byte: the channel's preamble starts with 0x00, which no
HTTP request does. The first byte decides, once, which protocol takes the connection; the bytes
read so far are handed to it, so neither side sees a difference from a port of its own. TLS, when
configured, is below both (the node's certificate serves both).
"""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web

from raftq.common.channel.frames import PREAMBLE
from raftq.common.channel.server import ChannelServer


class _FirstByte(asyncio.Protocol):
    def __init__(self, http: web.Server, channel: ChannelServer) -> None:
        self._http = http
        self._channel = channel
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or not data:
            return
        self._transport = None
        is_channel = data[:1] == PREAMBLE[:1]
        chosen: asyncio.Protocol = self._channel.protocol() if is_channel else self._http()
        transport.set_protocol(chosen)
        chosen.connection_made(transport)
        chosen.data_received(data)


class SharedPortSite(web.TCPSite):
    """An aiohttp site whose port also accepts channel connections."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        channel: ChannelServer,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self._channel = channel

    async def start(self) -> None:
        await web.BaseSite.start(self)
        http = self._runner.server
        assert isinstance(http, web.Server)
        channel = self._channel
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _FirstByte(http, channel),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]

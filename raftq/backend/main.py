"""`raftq backend`: run one backend replica until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from raftq.backend.api import channel_handler, create_app
from raftq.backend.node import BackendNode
from raftq.common.channel import frames
from raftq.common.channel.server import ChannelServer
from raftq.common.channel.site import SharedPortSite
from raftq.common.clock import clock_from_environment
from raftq.common.settings import BackendNodeSettings


async def serve(settings: BackendNodeSettings) -> None:
    node = BackendNode(settings, clock_from_environment())
    runner = web.AppRunner(create_app(node), handle_signals=False, access_log=None)
    await runner.setup()
    host, port = settings.me.api_address.rsplit(":", 1)
    secret = settings.channel_secret_bytes()
    channel = ChannelServer(
        secret if secret is not None else frames.new_nonce(),  # None: nobody can prove it
        channel_handler(node),
        max_frame_bytes=settings.max_request_bytes,
    )
    tls = settings.tls.server_context()
    site = SharedPortSite(runner, host, int(port), channel, ssl_context=tls)
    await site.start()
    logging.getLogger(__name__).info(
        "backend %s serving on %s%s (raft %s)",
        settings.node_id,
        settings.me.api_address,
        " with TLS" if tls is not None else "",
        settings.me.raft_address,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await channel.close()
    await runner.cleanup()


def run(settings: BackendNodeSettings) -> None:
    asyncio.run(serve(settings))

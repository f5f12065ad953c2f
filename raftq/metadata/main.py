"""`raftq metadata`: run one metadata node until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

import raftq
from raftq.common.clock import clock_from_environment
from raftq.common.settings import MetadataNodeSettings
from raftq.metadata.api import create_app
from raftq.metadata.node import MetadataNode


async def serve(settings: MetadataNodeSettings) -> None:
    node = MetadataNode(settings, clock_from_environment())
    runner = web.AppRunner(create_app(node), handle_signals=False, access_log=None)
    await runner.setup()
    host, port = settings.me.api_address.rsplit(":", 1)
    tls = settings.tls.server_context()
    await web.TCPSite(runner, host, int(port), ssl_context=tls).start()
    logging.getLogger(__name__).info(
        "raftq %s metadata %s serving on %s%s (raft %s)",
        raftq.__version__,
        settings.node_id,
        settings.me.api_address,
        " with TLS" if tls is not None else "",
        settings.me.raft_address,
        extra={"event": "started"},
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await runner.cleanup()


def run(settings: MetadataNodeSettings) -> None:
    asyncio.run(serve(settings))

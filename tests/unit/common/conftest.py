"""Fixtures of the channel tests: a node serving on a real port, and a pool of connections."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from raftq.common.channel.client import ChannelPool
from raftq.common.channel.site import SharedPortSite
from tests.unit.common.channel_peers import CREDENTIAL, MAX_FRAME, Node


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    served = Node()
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = SharedPortSite(runner, "127.0.0.1", 0, served.server)
    await site.start()
    served.address = f"127.0.0.1:{site.port}"
    yield served
    await served.server.close()
    await runner.cleanup()


@pytest.fixture
async def pool() -> AsyncIterator[ChannelPool]:
    made = ChannelPool(CREDENTIAL, max_frame_bytes=MAX_FRAME)
    yield made
    await made.close()

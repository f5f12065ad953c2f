"""Fixtures of the channel tests: a node serving on a real port, and a pool of connections."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from raftq.common.channel.client import ChannelPool
from tests.unit.common.channel_peers import CREDENTIAL, MAX_FRAME, Node, serving


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    served = Node()
    async with serving(served.server) as served.address:
        yield served


@pytest.fixture
async def pool() -> AsyncIterator[ChannelPool]:
    made = ChannelPool(CREDENTIAL, max_frame_bytes=MAX_FRAME)
    yield made
    await made.close()

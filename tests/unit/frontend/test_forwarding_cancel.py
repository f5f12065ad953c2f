"""A frontend request whose handler is cancelled (its client went away), through the real
forwarder and channel to a channel server on a real port: the node's request is cancelled, and
the cluster's circuit breaker is not left holding a probe that will never end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from raftq.common.channel.server import ChannelServer
from raftq.common.clock import FakeClock
from raftq.common.commands import ReceiveMessages
from raftq.common.envelope import Keyring
from raftq.common.metadata_api import MetadataClient
from raftq.common.metadata_models import Cluster, ClusterMember, Placement, Queue
from raftq.common.queue_attributes import QueueAttributes
from raftq.frontend.caches import PlacementCache, QueueRoute
from raftq.frontend.circuit_breaker import BreakerSettings, CircuitBreaker
from raftq.frontend.forwarding import Forwarder
from tests.unit.common.channel_peers import CREDENTIAL, MAX_FRAME, Secrets, serving, until


class StuckNode:
    """A channel server whose every request waits until it is cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = 0
        self.server = ChannelServer(Secrets(), self.handle, max_frame_bytes=MAX_FRAME)
        self.address = ""

    async def handle(self, payload: bytes) -> bytes:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


@pytest.fixture
async def stuck() -> AsyncIterator[StuckNode]:
    node = StuckNode()
    async with serving(node.server) as node.address:
        yield node


def route_to(address: str) -> QueueRoute:
    queue = Queue(
        queue_id="q-1",
        name="orders",
        owner="app",
        fifo=False,
        attributes=QueueAttributes(),
        placement=Placement(cluster_id="c1", epoch=1),
        lifecycle="active",
        created_at_ms=1,
    )
    member = ClusterMember(node_id="n1", zone="a", raft_address="127.0.0.1:1", api_address=address)
    return QueueRoute(queue, Cluster(cluster_id="c1", members=(member,)))


async def test_a_cancelled_long_poll_is_cancelled_on_the_node_and_frees_the_breaker_probe(
    stuck: StuckNode,
) -> None:
    clock = FakeClock()
    route = route_to(stuck.address)

    async def fetch(name: str) -> QueueRoute | None:
        return route

    async with aiohttp.ClientSession() as session:
        forwarder = Forwarder(
            PlacementCache(fetch, clock),
            MetadataClient(["127.0.0.1:1"], None, session),
            keyring=Keyring({"m1": bytes(32)}, current="m1"),
            credential=CREDENTIAL,
            max_frame_bytes=MAX_FRAME,
            clock=clock,
        )
        try:
            # Given the cluster's breaker half-open, so that the next call is its probe
            breaker = CircuitBreaker("c1", clock, BreakerSettings(failure_threshold=1))
            breaker.before_call()
            breaker.failed()
            clock.advance(BreakerSettings().open_ms)
            forwarder._breakers["c1"] = breaker
            # And a long poll on its way to the node
            poll = asyncio.create_task(
                forwarder.execute(
                    "orders", lambda queue_id: ReceiveMessages(now_ms=0, queue=queue_id), 20_000
                )
            )
            async with asyncio.timeout(2):
                await stuck.started.wait()
            # When its handler is cancelled (the public client disconnected)
            poll.cancel()
            # Then the node's request is cancelled too
            await until(lambda: stuck.cancelled == 1)
            assert poll.cancelled()
            # And the breaker lets the next call probe instead of refusing calls for good
            assert breaker.state == "half-open"
            breaker.before_call()
        finally:
            await forwarder.close()

"""NodeClient against real sockets on loopback: how it moves past a member that is dead, paused
or cut off (no connection accepted, or no answer) instead of waiting on it again and again."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import pytest
from aiohttp import web

from raftq.common import codec
from raftq.common.backend_client import NodeClient
from raftq.common.errors import BackendUnavailable, NoLeader, OutcomeUnknown
from raftq.common.metadata_api import MetadataClient
from raftq.common.node_api import NodeError

PATH = "/internal/v1/test"


class Members:
    """Loopback servers standing in for the members of a group."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.leader_hint: str | None = None
        self._runners: list[web.AppRunner] = []
        self._servers: list[asyncio.Server] = []
        self._sockets: list[socket.socket] = []

    async def leader(self, name: str) -> str:
        """Answers 200 with its name."""

        async def handle(request: web.Request) -> web.Response:
            self.calls.append(name)
            return web.json_response({"name": name})

        return await self._serve(handle)

    async def follower(self, name: str) -> str:
        """Answers NotLeader, naming `leader_hint` as the leader."""

        async def handle(request: web.Request) -> web.Response:
            self.calls.append(name)
            error = NodeError(code="NotLeader", message="not the leader", leader=self.leader_hint)
            return web.Response(status=421, body=codec.encode(error))

        return await self._serve(handle)

    async def paused(self, name: str) -> str:
        """Accepts connections and reads requests, never answers (a paused process)."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.calls.append(name)
            await asyncio.Event().wait()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self._servers.append(server)
        return f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    def cut_off(self) -> str:
        """An address whose SYNs are dropped: a listener with a full accept queue."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        self._sockets.append(listener)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            self._sockets.append(filler)
        return f"127.0.0.1:{port}"

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        for server in self._servers:
            server.close()
        for sock in self._sockets:
            sock.close()

    async def _serve(self, handle: Callable[[web.Request], Awaitable[web.Response]]) -> str:
        app = web.Application()
        app.router.add_post(PATH, handle)
        app.router.add_get(PATH, handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = runner.addresses[0][1]
        return f"127.0.0.1:{port}"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def members() -> AsyncIterator[Members]:
    group = Members()
    yield group
    await group.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
def monotonic() -> Iterator[FakeMonotonic]:
    yield FakeMonotonic()


def client(
    addresses: list[str], session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> NodeClient:
    return NodeClient(
        addresses,
        None,
        session,
        timeout_s=0.3,
        connect_timeout_s=0.2,
        suspect_s=2.0,
        monotonic=monotonic,
    )


async def test_a_member_that_accepts_no_connection_is_passed_over_at_once(
    members: Members, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    cut_off = members.cut_off()
    leader = await members.leader("b")
    nodes = client([cut_off, leader], session, monotonic)

    started = time.monotonic()
    assert (
        await nodes.call(PATH, b"{}") == b'{"name": "b"}'
    )  # nothing was sent to the first: not unknown
    assert time.monotonic() - started < 1.0
    assert nodes.leader == leader


async def test_a_leader_that_stops_answering_is_tried_last_until_its_suspicion_ends(
    members: Members, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    paused = await members.paused("a")
    leader = await members.leader("b")
    nodes = client([paused, leader], session, monotonic)

    with pytest.raises(OutcomeUnknown):  # the request was sent: it may yet commit
        await nodes.call(PATH, b"{}")
    assert members.calls == ["a"]

    started = time.monotonic()
    assert await nodes.call(PATH, b"{}") == b'{"name": "b"}'
    assert time.monotonic() - started < 0.3  # did not wait on the paused member again
    assert members.calls == ["a", "b"]

    monotonic.now += 2.0  # suspicion over; the leader is still preferred as the last to serve
    assert await nodes.call(PATH, b"{}") == b'{"name": "b"}'
    assert members.calls == ["a", "b", "b"]


async def test_without_suspicion_the_first_member_is_asked_again_and_again(
    members: Members, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    """What the suspicion prevents: with none (suspect_s=0), the paused member listed first
    costs every request the whole timeout."""
    paused = await members.paused("a")
    leader = await members.leader("b")
    nodes = NodeClient([paused, leader], None, session, timeout_s=0.3, suspect_s=0.0)
    for _ in range(2):
        with pytest.raises(OutcomeUnknown):
            await nodes.call(PATH, b"{}")
    assert members.calls == ["a", "a"]


async def test_a_hint_naming_a_suspect_is_not_followed_until_the_suspicion_ends(
    members: Members, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    """Followers still name the old leader until their election timeout: while it is suspect
    the request goes round the followers and ends in a definite BackendUnavailable (nothing was
    proposed) instead of waiting on it again; once the suspicion ends the hint is followed."""
    leader_a = await members.leader("a")
    follower_b = await members.follower("b")
    follower_c = await members.follower("c")
    members.leader_hint = leader_a
    nodes = client([leader_a, follower_b, follower_c], session, monotonic)
    nodes._suspect(leader_a)  # as after a timeout

    with pytest.raises(NoLeader):
        await nodes.call(PATH, b"{}")
    assert members.calls == ["b", "c", "b", "c", "b", "c"]

    monotonic.now += 2.0
    members.calls.clear()
    assert await nodes.call(PATH, b"{}") == b'{"name": "a"}'
    assert members.calls == ["a"]


async def test_followers_that_know_no_leader_end_in_a_definite_no_leader(
    members: Members, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    """An election with no winner yet: nothing was proposed anywhere, so the caller gets
    NoLeader (a definite failure, and a sign the group is up), not an unknown outcome."""
    follower_b = await members.follower("b")
    follower_c = await members.follower("c")
    nodes = client([follower_b, follower_c], session, monotonic)
    with pytest.raises(NoLeader):
        await nodes.call(PATH, b"{}")
    assert members.calls == ["b", "c", "b", "c", "b", "c"]


async def test_members_that_accept_no_connection_end_in_backend_unavailable(
    members: Members, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    """Not NoLeader: nobody answered, so the group may well be down."""
    nodes = client([members.cut_off(), members.cut_off()], session, monotonic)
    with pytest.raises(BackendUnavailable) as raised:
        await nodes.call(PATH, b"{}")
    assert not isinstance(raised.value, NoLeader)


async def test_a_metadata_read_passes_over_a_member_that_does_not_answer(
    members: Members, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    paused = await members.paused("a")
    leader = await members.leader("b")
    metadata = MetadataClient([paused, leader], None, session, timeout_s=0.3, monotonic=monotonic)
    assert await metadata.get(PATH) == {"name": "b"}
    started = time.monotonic()
    assert await metadata.get(PATH) == {"name": "b"}
    assert time.monotonic() - started < 0.3  # the paused member is suspect: asked last
    assert members.calls == ["a", "b", "b"]

"""The leader's data path with real parts in one process: a frontend's `ChannelBackendClient`,
the channel on a loopback socket, `channel_handler`, a one-member backend (pysyncobj, journal,
RocksDB). The leader logs the command bytes the frontend encoded without validating them (no
command decode on the event loop), apply validates each command once on the Raft thread, a
command that does not decode fails alone, a send still wakes a long poll, and a receive whose
caller gave up (CANCEL) before it committed gives its messages back at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest
from aiohttp import web
from pydantic import SecretStr

from raftq.backend.api import channel_handler
from raftq.backend.node import BackendNode
from raftq.common import codec
from raftq.common.backend_client import ChannelBackendClient
from raftq.common.channel.client import ChannelPool
from raftq.common.channel.server import ChannelServer, FixedSecret
from raftq.common.channel.site import SharedPortSite
from raftq.common.clock import SystemClock
from raftq.common.commands import (
    CreateQueue,
    ListQueues,
    ReceiveMessages,
    SendEntry,
    SendMessages,
)
from raftq.common.credentials import Caller, Credential, Role
from raftq.common.node_api import NodeError, NodeRequest, NodeResponse
from raftq.common.results import Failure, QueueList, ReceiveResult, SendResult
from raftq.common.settings import BackendNodeSettings, Member
from tests.integration.cluster import free_ports

pytestmark = pytest.mark.integration

FRONTEND = Credential(Caller(Role.FRONTEND, "RF" + "S" * 18), b"frontend-secret-for-splice")
MAX_FRAME = 1 << 20


@dataclass
class Decodes:
    """Calls of the codec's decoders, by the thread that made them: `loop` (the event loop,
    where the leader serves requests) or `raft` (pysyncobj's thread, where apply runs)."""

    loop_thread: int
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)

    def wrap(self, name: str, decoder: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            where = "loop" if threading.get_ident() == self.loop_thread else "raft"
            what = name if name != "decode" else f"decode {args[1].__name__}"
            self.calls[(where, what)] += 1
            return decoder(*args, **kwargs)

        return counted

    def on(self, where: str) -> Counter[str]:
        return Counter({what: n for (at, what), n in self.calls.items() if at == where})


@dataclass
class Leader:
    node: BackendNode
    client: ChannelBackendClient
    pool: ChannelPool
    address: str
    proposed: list[bytes]
    server: ChannelServer
    commits: asyncio.Event  # cleared: proposals wait before they reach Raft (a slow commit)

    async def request(self, payload: bytes) -> tuple[bool, bytes]:
        return await self.pool.request(self.address, payload, 5.0)


@pytest.fixture
async def leader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Leader]:
    raft_port, api_port = free_ports(2)
    address = f"127.0.0.1:{api_port}"
    settings = BackendNodeSettings(
        node_id="n1",
        data_dir=tmp_path,
        members=(
            Member(
                node_id="n1",
                zone="a",
                raft_address=f"127.0.0.1:{raft_port}",
                api_address=address,
            ),
        ),
        cluster_secret=SecretStr("cluster-secret-for-splice-tests"),
        raft_secret=SecretStr("raft-secret-for-splice-tests"),
    )
    node = BackendNode(settings, SystemClock())
    proposed: list[bytes] = []
    propose = node.raft.propose
    commits = asyncio.Event()
    commits.set()

    async def held(payload: bytes) -> object:
        await commits.wait()
        return await propose(payload)

    def recording(payload: bytes) -> asyncio.Future[object]:
        proposed.append(payload)
        return propose(payload) if commits.is_set() else asyncio.ensure_future(held(payload))

    monkeypatch.setattr(node.raft, "propose", recording)
    server = ChannelServer(
        FixedSecret(FRONTEND.secret), channel_handler(node), max_frame_bytes=MAX_FRAME
    )
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = SharedPortSite(runner, "127.0.0.1", api_port, server)
    pool = ChannelPool(FRONTEND, max_frame_bytes=MAX_FRAME)
    try:
        await node.start()
        await site.start()
        deadline = time.monotonic() + 15
        while not node.raft.is_leader:  # a one-member group elects itself
            assert time.monotonic() < deadline, "the node did not become leader"
            await asyncio.sleep(0.05)
        client = ChannelBackendClient([address], pool)
        created = await client.execute(CreateQueue(now_ms=0, queue="jobs"))
        assert not isinstance(created, Failure), created
        yield Leader(node, client, pool, address, proposed, server, commits)
    finally:
        await pool.close()
        await server.close()
        await runner.cleanup()
        await node.stop()


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> Decodes:
    decodes = Decodes(threading.get_ident())
    for name in ("decode", "decode_command", "decode_entry", "decode_batch"):
        monkeypatch.setattr(codec, name, decodes.wrap(name, getattr(codec, name)))
    return decodes


def _send(body: bytes, entries: int = 1) -> SendMessages:
    return SendMessages(
        now_ms=0,
        queue="jobs",
        entries=tuple(SendEntry(entry_id=f"e{i}", body=body) for i in range(entries)),
    )


async def test_the_leader_logs_the_frontend_s_bytes_and_only_apply_validates_them(
    leader: Leader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given decoders that count where they run
    decodes = _count_decodes(monkeypatch)
    send = _send(b"x" * 100, entries=16)
    # When a frontend sends 16 messages in one command over the channel
    result = await leader.client.execute(send)
    # Then they are stored
    assert isinstance(result, SendResult) and len(result.sent) == 16
    # And the entry proposed holds the very bytes the frontend encoded, stamped once
    (entry,) = [p for p in leader.proposed if codec.encode(send) in p]
    # (a group of one agrees on its own command level, 3: the entry is v3, [3, now_ms, commands])
    version, _, commands = msgpack.unpackb(entry, use_list=False)
    assert (version, commands) == (3, (codec.encode(send),))
    # And the event loop decoded no command (only the client's answer); apply decoded the
    # entry and validated the command once, on the Raft thread
    assert decodes.on("loop") == Counter({"decode NodeResponse": 1})
    assert decodes.on("raft") == Counter({"decode_entry": 1, "decode_command": 1})


async def test_a_command_that_does_not_decode_fails_alone(leader: Leader) -> None:
    # Given a good send and one whose entry is malformed, routed by kind and queue alone
    bad = msgpack.packb(
        {"kind": "send", "now_ms": 0, "queue": "jobs", "entries": [{"entry_id": "e"}]},
        use_bin_type=True,
    )
    good = codec.encode(_send(b"good"))
    # When both arrive together
    answers = await asyncio.gather(
        leader.request(msgpack.packb([0, good], use_bin_type=True)),
        leader.request(msgpack.packb([0, bad], use_bin_type=True)),
    )
    # Then both were logged; the good one is stored, the bad one failed naming its field
    assert [ok for ok, _ in answers] == [True, True]
    stored, failed = (codec.decode(raw, NodeResponse).result for _, raw in answers)
    assert isinstance(stored, SendResult) and len(stored.sent) == 1
    assert isinstance(failed, Failure)
    assert (failed.code, failed.field) == ("DecodeError", "send.entries.0.body")
    # And the queue holds the one good message
    received = await leader.client.execute(ReceiveMessages(now_ms=0, queue="jobs"))
    assert isinstance(received, ReceiveResult)
    assert [m.body for m in received.messages] == [b"good"]


async def test_a_payload_the_leader_cannot_route_is_refused_and_not_logged(
    leader: Leader,
) -> None:
    before = len(leader.proposed)
    unknown = msgpack.packb({"kind": "format_disk", "queue": "jobs"}, use_bin_type=True)
    ok, raw = await leader.request(msgpack.packb([0, unknown], use_bin_type=True))
    assert not ok
    error = codec.decode(raw, NodeError)
    assert (error.code, error.field) == ("DecodeError", "command.kind")
    assert len(leader.proposed) == before


async def test_a_node_request_from_an_older_frontend_is_still_served(leader: Leader) -> None:
    ok, raw = await leader.request(codec.encode(NodeRequest(command=ListQueues(now_ms=0))))
    assert ok
    assert isinstance(codec.decode(raw, NodeResponse).result, QueueList)


async def test_a_send_over_the_channel_wakes_a_long_poll(leader: Leader) -> None:
    # Given a receive long-polling the empty queue
    receive = ReceiveMessages(now_ms=0, queue="jobs", max_messages=10)
    poll = asyncio.create_task(leader.client.execute(receive, wait_ms=15_000))
    deadline = time.monotonic() + 5
    while leader.node.waiters.waiting != 1:
        assert time.monotonic() < deadline, "the receive did not start waiting"
        await asyncio.sleep(0.01)
    # When a message is sent over the channel
    started = time.monotonic()
    await leader.client.execute(_send(b"wake up"))
    # Then the poll returns it at once, long before its wait ends
    result = await asyncio.wait_for(poll, timeout=5)
    assert isinstance(result, ReceiveResult)
    assert [m.body for m in result.messages] == [b"wake up"]
    assert time.monotonic() - started < 5


async def test_commands_on_the_channel_need_no_time_of_their_own(leader: Leader) -> None:
    # The leader's clock stamps them: a send and a receive that carry no now_ms are served.
    for command in (
        {"kind": "send", "queue": "jobs", "entries": [{"entry_id": "e", "body": b"untimed"}]},
        {"kind": "receive", "queue": "jobs", "max_messages": 10},
    ):
        raw = msgpack.packb([0, msgpack.packb(command, use_bin_type=True)], use_bin_type=True)
        ok, answer = await leader.request(raw)
        assert ok
        result = codec.decode(answer, NodeResponse).result
        assert isinstance(result, SendResult | ReceiveResult), result
    assert isinstance(result, ReceiveResult)
    assert [m.body for m in result.messages] == [b"untimed"]


async def _within(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Whether `condition` holds within `timeout_s` (polled)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def _eventually(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    assert await _within(condition, timeout_s), what


async def test_a_receive_whose_caller_gave_up_before_it_committed_gives_its_messages_back(
    leader: Leader,
) -> None:
    # Given a message, and the leader's commits held back for a moment
    await leader.client.execute(_send(b"for a caller that leaves"))
    leader.commits.clear()
    proposed_before = len(leader.proposed)
    receive = ReceiveMessages(now_ms=0, queue="jobs", max_messages=10, visibility_timeout_ms=60_000)

    def running() -> int:
        return sum(len(c._tasks) for c in leader.server.connections)

    gone = asyncio.create_task(leader.client.execute(receive))
    await _eventually(
        lambda: running() == 1 and len(leader.proposed) > proposed_before,
        "the receive was proposed",
    )
    # When its caller gives up while it is being committed (the frontend's client went away)
    gone.cancel()
    # (the node drops its request at once; waited for 2 s at most, well within the 5 s propose
    # timeout after which the held entry would be given up and the test would prove nothing)
    dropped = await _within(lambda: running() == 0, timeout_s=2)
    leader.commits.set()
    # Then the receive commits, and its message is given back at once: another consumer gets
    # it now, not after the 60 s visibility timeout
    started = time.monotonic()
    again = await leader.client.execute(receive, wait_ms=5_000)
    assert isinstance(again, ReceiveResult)
    assert [m.body for m in again.messages] == [b"for a caller that leaves"]
    assert time.monotonic() - started < 5
    assert gone.cancelled()
    assert dropped, "the node went on serving a caller that was gone"

"""The channel against real sockets on loopback: handshake, pipelining, and hostile peers."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import struct
from pathlib import Path

import aiohttp
import msgpack
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from raftq.common import codec
from raftq.common.channel import frames
from raftq.common.channel.client import ChannelPool, NotSent
from raftq.common.channel.frames import Kind
from raftq.common.channel.server import FixedSecret
from raftq.common.channel.site import SharedPortSite
from raftq.common.credentials import Caller, Credential, Role
from raftq.common.errors import NotLeader, OutcomeUnknown
from raftq.common.node_api import NodeError
from tests.unit.common.channel_peers import (
    CREDENTIAL,
    FRONTEND_ID,
    MAX_FRAME,
    OTHER_ID,
    SECRET,
    Node,
    closed_by_peer,
    raw_connection,
    until,
)


async def test_requests_are_answered_in_any_order_on_one_connection(
    node: Node, pool: ChannelPool
) -> None:
    # Given a request that waits on the node
    slow = asyncio.create_task(pool.request(node.address, b"wait-1", 2.0))
    await until(lambda: node.calls == [b"wait-1"])
    # When another request on the same connection is answered first
    ok, answer = await pool.request(node.address, b"fast", 2.0)
    # Then it does not wait behind the first, which completes later
    assert (ok, answer) == (True, b"echo:fast")
    assert not slow.done()
    node.release.set()
    assert await slow == (True, b"echo:wait-1")
    assert len(node.server.connections) == 1


async def test_a_failure_comes_back_as_the_node_error(node: Node, pool: ChannelPool) -> None:
    ok, raw = await pool.request(node.address, b"not-leader", 2.0)
    assert not ok
    error = codec.decode(raw, NodeError)
    assert (error.code, error.leader) == (NotLeader.code, "10.0.0.2:1")


async def test_a_client_with_the_wrong_secret_is_refused_and_nothing_runs(node: Node) -> None:
    wrong = Credential(CREDENTIAL.caller, b"not-this-frontends-secret!")
    intruder = ChannelPool(wrong, max_frame_bytes=MAX_FRAME)
    try:
        with pytest.raises(NotSent):
            await intruder.request(node.address, b"hello", 1.0)
    finally:
        await intruder.close()
    assert node.calls == []


async def test_an_unknown_or_revoked_frontend_is_refused_and_nothing_runs(node: Node) -> None:
    # Given a credential whose id the node does not know (never issued, or revoked)
    unknown = Credential(Caller(Role.FRONTEND, "RF" + "C" * 18), SECRET)
    stranger = ChannelPool(unknown, max_frame_bytes=MAX_FRAME)
    try:
        # When it opens a channel, then nothing is sent and nothing runs
        with pytest.raises(NotSent):
            await stranger.request(node.address, b"hello", 1.0)
    finally:
        await stranger.close()
    assert node.calls == []


async def test_a_secret_valid_for_another_frontend_does_not_open_this_one(node: Node) -> None:
    # Given the other frontend's secret offered under this frontend's id
    swapped = Credential(CREDENTIAL.caller, node.secrets.live[OTHER_ID])
    impostor = ChannelPool(swapped, max_frame_bytes=MAX_FRAME)
    try:
        with pytest.raises(NotSent):
            await impostor.request(node.address, b"hello", 1.0)
    finally:
        await impostor.close()
    assert node.calls == []


async def test_a_revoked_frontends_open_connections_are_closed_and_others_keep_theirs(
    node: Node, pool: ChannelPool
) -> None:
    # Given two frontends with an open connection each
    other = ChannelPool(
        Credential(Caller(Role.FRONTEND, OTHER_ID), node.secrets.live[OTHER_ID]),
        max_frame_bytes=MAX_FRAME,
    )
    try:
        assert await pool.request(node.address, b"one", 2.0) == (True, b"echo:one")
        assert await other.request(node.address, b"two", 2.0) == (True, b"echo:two")
        # When the first one's credential is revoked and the node rechecks its connections
        del node.secrets.live[FRONTEND_ID]
        assert await node.server.revalidate() == 1
        assert node.secrets.fresh_asked == 2  # one fresh question per connected frontend
        # Then the revoked frontend is cut off and cannot come back; the other one goes on
        with pytest.raises((NotSent, OutcomeUnknown)):
            await pool.request(node.address, b"three", 1.0)
        with pytest.raises(NotSent):
            await pool.request(node.address, b"four", 1.0)
        assert await other.request(node.address, b"five", 2.0) == (True, b"echo:five")
        assert node.calls == [b"one", b"two", b"five"]
    finally:
        await other.close()


async def test_a_node_without_the_secret_gets_no_request(pool: ChannelPool) -> None:
    impostor = Node()
    impostor.server.secrets = FixedSecret(b"an-impostor-node-secret")
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = SharedPortSite(runner, "127.0.0.1", 0, impostor.server)
    await site.start()
    try:
        with pytest.raises(NotSent):
            await pool.request(f"127.0.0.1:{site.port}", b"secret payload", 1.0)
    finally:
        await impostor.server.close()
        await runner.cleanup()
    assert impostor.calls == []


async def test_a_request_before_the_handshake_is_not_acted_upon(node: Node) -> None:
    reader, writer = await raw_connection(node.address)
    writer.write(frames.PREAMBLE + frames.encode(Kind.REQUEST, 1, b"sneaky"))
    await writer.drain()
    assert await closed_by_peer(reader)
    writer.close()
    assert node.calls == []


@pytest.mark.parametrize(
    "garbage",
    [
        frames.PREAMBLE + b"\xff\xff\xff\xff",  # a length far over the cap
        frames.PREAMBLE + struct.pack(">I", 3) + b"abc",  # not msgpack
        frames.PREAMBLE + struct.pack(">I", 2) + msgpack.packb([99]),  # unknown kind
        frames.PREAMBLE + frames.encode(Kind.HELLO, "not bytes"),  # wrong field type
        frames.PREAMBLE + frames.encode(Kind.HELLO, b"n" * 32),  # no frontend id
        frames.PREAMBLE + frames.encode(Kind.HELLO, b"n" * 32, b"RF" + b"A" * 18),  # id as bytes
        frames.PREAMBLE + frames.encode(Kind.HELLO, b"n" * 32, "node"),  # not a frontend id
        frames.PREAMBLE + frames.encode(Kind.HELLO, b"n" * 32, FRONTEND_ID + "\n"),
        frames.PREAMBLE + frames.encode(Kind.HELLO, b"n" * 32, "RF" + "Z" * 5000),
        b"\x00not-the-preamble\n",
    ],
    ids=[
        "oversized",
        "not-msgpack",
        "unknown-kind",
        "wrong-field",
        "no-id",
        "id-as-bytes",
        "not-a-frontend-id",
        "id-with-newline",
        "id-too-long",
        "bad-preamble",
    ],
)
async def test_garbage_is_cut_off_without_harming_other_connections(
    node: Node, pool: ChannelPool, garbage: bytes
) -> None:
    assert await pool.request(node.address, b"before", 2.0) == (True, b"echo:before")
    reader, writer = await raw_connection(node.address)
    writer.write(garbage)
    await writer.drain()
    assert await closed_by_peer(reader)
    writer.close()
    assert await pool.request(node.address, b"after", 2.0) == (True, b"echo:after")
    assert node.calls == [b"before", b"after"]


async def test_a_peer_that_says_nothing_is_cut_off(node: Node) -> None:
    reader, writer = await raw_connection(node.address)
    writer.write(frames.PREAMBLE)  # then silence
    await writer.drain()
    assert await closed_by_peer(reader)  # after the 0.3 s handshake timeout
    writer.close()


async def test_a_connection_lost_mid_request_is_an_unknown_outcome(
    node: Node, pool: ChannelPool
) -> None:
    pending = asyncio.create_task(pool.request(node.address, b"wait-forever", 5.0))
    await until(lambda: node.calls == [b"wait-forever"])
    await node.server.close()  # drops every connection
    with pytest.raises(OutcomeUnknown):
        await pending
    assert node.calls == [b"wait-forever"]


async def test_a_request_that_times_out_is_an_unknown_outcome(
    node: Node, pool: ChannelPool
) -> None:
    with pytest.raises(OutcomeUnknown):
        await pool.request(node.address, b"wait-long", 0.1)
    # the connection stays usable; the late answer is dropped
    node.release.set()
    assert await pool.request(node.address, b"next", 2.0) == (True, b"echo:next")


async def test_the_pool_connects_again_after_a_lost_connection(
    node: Node, pool: ChannelPool
) -> None:
    assert (await pool.request(node.address, b"one", 2.0))[0]
    await node.server.close()
    await until(lambda: not any(c.is_open for c in pool._connections.values()))
    assert await pool.request(node.address, b"two", 2.0) == (True, b"echo:two")


async def test_nothing_listening_is_not_sent(pool: ChannelPool) -> None:
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await runner.cleanup()  # the port is now closed
    with pytest.raises(NotSent):
        await pool.request(f"127.0.0.1:{port}", b"x", 1.0)


async def test_http_still_answers_on_the_shared_port(node: Node, pool: ChannelPool) -> None:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello over http")

    app = web.Application()
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = SharedPortSite(runner, "127.0.0.1", 0, node.server)
    await site.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{site.port}/hello") as answer,
        ):
            assert await answer.text() == "hello over http"
        assert await pool.request(f"127.0.0.1:{site.port}", b"both", 2.0) == (True, b"echo:both")
    finally:
        await runner.cleanup()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "node.pem", directory / "node.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_the_channel_runs_over_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    client_tls.check_hostname = False
    served = Node()
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = SharedPortSite(runner, "127.0.0.1", 0, served.server, ssl_context=server_tls)
    await site.start()
    secure = ChannelPool(CREDENTIAL, max_frame_bytes=MAX_FRAME, ssl_context=client_tls)
    plain = ChannelPool(CREDENTIAL, max_frame_bytes=MAX_FRAME)
    try:
        address = f"127.0.0.1:{site.port}"
        assert await secure.request(address, b"sealed", 2.0) == (True, b"echo:sealed")
        with pytest.raises(NotSent):  # plaintext frames to a TLS port get nowhere
            await plain.request(address, b"open", 0.5)
    finally:
        await secure.close()
        await plain.close()
        await served.server.close()
        await runner.cleanup()
    assert served.calls == [b"sealed"]

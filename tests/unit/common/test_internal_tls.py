"""TLS on a node's API port and in its clients (common/internal_tls.py), over real sockets on
loopback, with a CA made in the test.

A node given a certificate serves its HTTP API and the channel, on one port, over TLS only; a
client given the CA verifies it. A client trusting another CA, or dialling a name the node's
certificate does not carry, is refused with an error that says why; plain HTTP and a plain
channel get nothing from a TLS port, and a TLS client nothing from a plain one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from raftq.common.backend_client import NodeClient
from raftq.common.channel.client import ChannelPool, NotSent
from raftq.common.channel.server import ChannelServer, FixedSecret
from raftq.common.channel.site import SharedPortSite
from raftq.common.credentials import Caller, Credential, Role
from raftq.common.errors import BackendUnavailable, OutcomeUnknown
from raftq.common.internal_tls import InternalTls, TlsFilesError
from raftq.common.settings import Member, NodeSettings
from raftq.frontend.settings import FrontendSettings
from tests.tls_certs import NodeCertificate, TestCa

PATH = "/v1/commands"
CHANNEL_CREDENTIAL = Credential(
    Caller(Role.FRONTEND, "RF" + "T" * 18), b"a-frontend-secret-for-the-tls-tests"
)
MAX_FRAME = 64 * 1024


@dataclass(frozen=True)
class Pki:
    ca: TestCa
    other_ca: TestCa
    node: NodeCertificate  # for 127.0.0.1 and localhost
    elsewhere: NodeCertificate  # for another name only

    def client(self, ca: TestCa | None = None) -> InternalTls:
        return InternalTls(ca_file=(ca or self.ca).cert_file)

    def server(self, certificate: NodeCertificate | None = None) -> InternalTls:
        chosen = certificate or self.node
        return InternalTls(
            cert_file=chosen.cert_file, key_file=chosen.key_file, ca_file=self.ca.cert_file
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = TestCa(directory / "ca")
    return Pki(
        ca=ca,
        other_ca=TestCa(directory / "other", name="another CA"),
        node=ca.issue("127.0.0.1", "localhost"),
        elsewhere=ca.issue("elsewhere.example"),
    )


class Node:
    """A node's API port: HTTP (POST /v1/commands echoes) and the channel (echoes), one port."""

    def __init__(self) -> None:
        self.http_calls: list[bytes] = []
        self.channel_calls: list[bytes] = []
        self.port = 0

    async def echo_http(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.http_calls.append(body)
        return web.Response(body=b"echo:" + body)

    async def echo_channel(self, payload: bytes) -> bytes:
        self.channel_calls.append(payload)
        return b"echo:" + payload


Serve = Callable[[InternalTls], Awaitable[Node]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def start(tls: InternalTls) -> Node:
        node = Node()
        app = web.Application()
        app.router.add_post(PATH, node.echo_http)
        runner = web.AppRunner(app)
        await runner.setup()
        channel = ChannelServer(
            FixedSecret(CHANNEL_CREDENTIAL.secret), node.echo_channel, max_frame_bytes=MAX_FRAME
        )
        site = SharedPortSite(runner, "127.0.0.1", 0, channel, ssl_context=tls.server_context())
        await site.start()
        node.port = site.port
        cleanups.extend([channel.close, runner.cleanup])
        return node

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()


async def http_call(address: str, tls: InternalTls, body: bytes = b"hello") -> bytes:
    async with aiohttp.ClientSession() as session:
        client = NodeClient([address], None, session, tls=tls.client_context(), timeout_s=2)
        return await client.call(PATH, body)


async def channel_call(address: str, tls: InternalTls, body: bytes = b"hello") -> bytes:
    pool = ChannelPool(
        CHANNEL_CREDENTIAL, max_frame_bytes=MAX_FRAME, ssl_context=tls.client_context()
    )
    try:
        ok, answer = await pool.request(address, body, 2.0)
        assert ok
        return answer
    finally:
        await pool.close()


# --- a node with a certificate ----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_node_with_a_certificate_serves_http_and_the_channel_over_tls(
    pki: Pki, serve: Serve, host: str
) -> None:
    # Given a node serving its port with a certificate for 127.0.0.1 and localhost
    node = await serve(pki.server())
    address = f"{host}:{node.port}"
    # When clients that trust the CA call it by either name, over HTTP and over the channel
    # Then both are answered
    assert await http_call(address, pki.client(), b"over https") == b"echo:over https"
    assert await channel_call(address, pki.client(), b"over the channel") == (
        b"echo:over the channel"
    )
    assert node.http_calls == [b"over https"] and node.channel_calls == [b"over the channel"]


async def test_plain_http_and_a_plain_channel_get_nothing_from_a_tls_port(
    pki: Pki, serve: Serve
) -> None:
    # Given a node serving TLS
    node = await serve(pki.server())
    address = f"127.0.0.1:{node.port}"
    # When a plain HTTP client calls it, then it gets no answer (the request may have been sent,
    # so the client cannot say it was not run)
    with pytest.raises(OutcomeUnknown):
        await http_call(address, InternalTls())
    # And a plain channel never gets through the handshake
    with pytest.raises(NotSent):
        await channel_call(address, InternalTls())
    # And the node read nothing from either as a request
    assert node.http_calls == [] and node.channel_calls == []


# --- clients that must refuse the node -----------------------------------------------------------


async def test_a_client_trusting_another_ca_is_refused_and_says_why(
    pki: Pki, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a node whose certificate the client's CA did not issue
    node = await serve(pki.server())
    address = f"127.0.0.1:{node.port}"
    caplog.set_level(logging.WARNING)
    # When the client calls it over HTTP, then nothing is sent and the log says what failed
    with pytest.raises(BackendUnavailable):
        await http_call(address, pki.client(pki.other_ca))
    assert f"no TLS connection to {address}" in caplog.text
    assert "certificate was refused: unable to get local issuer certificate" in caplog.text
    # And over the channel, the error itself says it
    with pytest.raises(NotSent, match="certificate was refused: unable to get local issuer"):
        await channel_call(address, pki.client(pki.other_ca))
    assert node.http_calls == [] and node.channel_calls == []


async def test_a_certificate_for_another_name_is_refused(
    pki: Pki, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a node whose certificate, from the right CA, names another host only
    node = await serve(pki.server(pki.elsewhere))
    caplog.set_level(logging.WARNING)
    for host in ("127.0.0.1", "localhost"):
        address = f"{host}:{node.port}"
        # When a client dials it as 127.0.0.1 or localhost, then it is refused, naming the host
        with pytest.raises(BackendUnavailable):
            await http_call(address, pki.client())
        with pytest.raises(NotSent, match=f"certificate was refused: .*mismatch.*'{host}'"):
            await channel_call(address, pki.client())
    assert "mismatch" in caplog.text
    assert node.http_calls == [] and node.channel_calls == []


async def test_a_tls_client_gets_nothing_from_a_plain_node_and_says_tls(
    pki: Pki, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a node that serves plain HTTP and a plain channel
    node = await serve(InternalTls())
    address = f"127.0.0.1:{node.port}"
    caplog.set_level(logging.WARNING)
    # When a client that requires TLS calls it, then nothing is sent in clear
    with pytest.raises(BackendUnavailable):
        await http_call(address, pki.client())
    with pytest.raises(NotSent, match="TLS: the node does not speak TLS"):
        await channel_call(address, pki.client())
    assert f"no TLS connection to {address}: TLS: the node does not speak TLS" in caplog.text
    assert node.http_calls == [] and node.channel_calls == []


# --- settings ---------------------------------------------------------------------------------


def _node_settings(tls: InternalTls) -> NodeSettings:
    return NodeSettings(
        node_id="n1",
        data_dir=Path("/nonexistent"),
        members=(
            Member(
                node_id="n1", zone="a", raft_address="127.0.0.1:7001", api_address="127.0.0.1:8001"
            ),
        ),
        insecure_development_mode=True,
        tls=tls,
    )


def test_a_certificate_needs_its_key() -> None:
    with pytest.raises(ValidationError, match="both --tls-cert-file and --tls-key-file"):
        InternalTls(cert_file=Path("node.crt"))
    with pytest.raises(ValidationError, match="both --tls-cert-file and --tls-key-file"):
        InternalTls(key_file=Path("node.key"), ca_file=Path("ca.crt"))


def test_a_node_takes_a_certificate_key_and_ca_or_none(pki: Pki) -> None:
    assert _node_settings(InternalTls()).tls.scheme == "http"
    assert _node_settings(pki.server()).tls.scheme == "https"
    serving_only = InternalTls(cert_file=pki.node.cert_file, key_file=pki.node.key_file)
    with pytest.raises(ValidationError, match="also needs --tls-ca-file"):
        _node_settings(serving_only)
    with pytest.raises(ValidationError, match="also needs --tls-cert-file and --tls-key-file"):
        _node_settings(pki.client())


def test_a_frontend_takes_a_ca_only(pki: Pki) -> None:
    fields = {
        "listen": "127.0.0.1:8080",
        "metadata": ("127.0.0.1:8001",),
        "credential": "RF" + "A" * 18 + ":a-frontend-secret-of-16",
        "master_keys": {"k1": "00" * 32},
        "current_master_key": "k1",
    }
    assert FrontendSettings(**fields, internal_tls=pki.client()).internal_tls == pki.client()
    with pytest.raises(ValidationError, match="a frontend serves no internal API"):
        FrontendSettings(**fields, internal_tls=pki.server())


def test_files_that_do_not_load_are_named_by_their_option(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(TlsFilesError, match=re.escape(f"--tls-ca-file {missing}")):
        InternalTls(ca_file=missing).load()
    with pytest.raises(TlsFilesError, match=r"--tls-cert-file .* and key \(--tls-key-file"):
        InternalTls(cert_file=pki.node.cert_file, key_file=pki.elsewhere.key_file).load()
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(TlsFilesError, match="--tls-ca-file"):
        InternalTls(ca_file=not_pem).load()

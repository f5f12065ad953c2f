"""Internal traffic over TLS with real processes: a metadata group and a backend cluster serving
their API ports with certificates from a CA made in the test, a frontend and `raftq admin`
verifying them against it (common/internal_tls.py).

Every internal leg is crossed: backends report to the metadata group, the metadata leader
creates a queue's replicas on the backends, `raftq admin` manages the catalogue, and a message
goes through the frontend (key lookup and placement from the metadata group, send and receive
over the channel). The frontend reaches the metadata leader through a proxy that keeps every
byte: the access key's secret, which `/v1/keys/lookup` returns, is not among them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from raftq.client.sdk import AsyncClient
from raftq.common.internal_tls import InternalTls
from tests.integration.cluster import (
    OPERATOR_SECRET,
    Cluster,
    metadata_and_backend,
    start_frontend_process,
)
from tests.integration.test_admin_cli import admin, admin_json
from tests.integration.up_process import wait_healthy
from tests.tls_certs import TestCa

pytestmark = pytest.mark.integration


class CapturingProxy:
    """Forwards TCP connections to `target` and keeps every byte that crosses, both ways."""

    def __init__(self, target: str) -> None:
        self._host, port = target.rsplit(":", 1)
        self._port = int(port)
        self.to_node = bytearray()
        self.from_node = bytearray()
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        node_reader, node_writer = await asyncio.open_connection(self._host, self._port)
        await asyncio.gather(
            self._pipe(reader, node_writer, self.to_node),
            self._pipe(node_reader, writer, self.from_node),
        )

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kept: bytearray
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                kept.extend(chunk)
                writer.write(chunk)
                await writer.drain()
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def proxies() -> AsyncIterator[list[CapturingProxy]]:
    made: list[CapturingProxy] = []
    yield made
    for proxy in made:
        await proxy.close()


async def test_every_internal_leg_runs_over_tls_and_key_secrets_never_cross_in_clear(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, proxies: list[CapturingProxy]
) -> None:
    # Given a CA and a certificate for 127.0.0.1, and a metadata group and a backend cluster
    # serving their API ports with it (and calling each other through the CA)
    ca = TestCa(tmp_path / "pki")
    certificate = ca.issue("127.0.0.1")
    tls = InternalTls(
        cert_file=certificate.cert_file, key_file=certificate.key_file, ca_file=ca.cert_file
    )
    # Then every backend reports to the metadata group (backend -> metadata over TLS)
    metadata, _ = await metadata_and_backend(cluster_factory, tmp_path, tls=tls)

    # And `raftq admin` with the CA manages the catalogue; creating a queue has the metadata
    # leader create its replicas on the backends (metadata -> backend over TLS)
    env = {
        **os.environ,
        "RAFTQ_METADATA": ",".join(node.api_address for node in metadata.nodes),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
        "RAFTQ_TLS_CA_FILE": str(ca.cert_file),
    }
    admin_json(env, "principals", "create", "app")
    admin_json(env, "grants", "add", "app", "orders", "send", "receive", "delete")
    key = admin_json(env, "keys", "create", "app")
    assert admin_json(env, "queues", "create", "orders")["name"] == "orders"

    # But `raftq admin` trusting another CA is refused, and says why
    other_ca = TestCa(tmp_path / "other", name="another CA")
    refused = admin({**env, "RAFTQ_TLS_CA_FILE": str(other_ca.cert_file)}, "clusters", "list")
    assert refused.returncode == 3
    assert "certificate was refused: unable to get local issuer certificate" in refused.stderr

    # When a frontend with the CA reaches the metadata leader through a capturing proxy, and a
    # message goes through it (key lookup and placement over TLS, send and receive over the
    # channel with TLS)
    leader = metadata.nodes[await metadata.leader()].api_address
    proxy = CapturingProxy(leader)
    proxies.append(proxy)
    credential = admin_json(env, "frontends", "create", "frontend-tls")["credential"]
    process, endpoint = start_frontend_process(
        tmp_path, "frontend", credential, [await proxy.start()], "--tls-ca-file", str(ca.cert_file)
    )
    try:
        await wait_healthy(endpoint)
        async with AsyncClient(endpoint, key["key_id"], key["secret"], retries=5) as client:
            await client.send("orders", "over tls")
            received = await client.receive("orders", max_messages=1, wait_s=5)
        assert [message.body for message in received] == ["over tls"]
    finally:
        process.kill()
        process.wait(timeout=10)

    # Then the frontend's requests to the metadata leader crossed the proxy as TLS records only:
    # neither the key's secret that /v1/keys/lookup returned, nor the path, nor the key id
    assert proxy.connections >= 1 and len(proxy.to_node) > 500 and len(proxy.from_node) > 500
    assert proxy.to_node[:1] == b"\x16"  # a TLS handshake record opens the connection
    wire = bytes(proxy.to_node + proxy.from_node)
    for clear in (key["secret"], key["key_id"], "/v1/keys/lookup", "HTTP/1.1"):
        assert clear.encode() not in wire, clear

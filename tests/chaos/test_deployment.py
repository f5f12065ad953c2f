"""The harness reads a node's `/v1/status` over TLS as the deployment serves it: it dials the
container's address, verifies the certificate against secrets/tls_ca.crt and the service's name,
and signs the request. A loopback server stands in for the node; no Docker."""

from __future__ import annotations

import http.server
import json
import shutil
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from raftq.common import cluster_auth
from tests.chaos import deployment as deployment_module
from tests.chaos.deployment import Deployment
from tests.tls_certs import TestCa

STATUS = {"is_leader": True, "term": 7}


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    signatures: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.signatures.append(self.headers.get(cluster_auth.HEADER))
        body = json.dumps(STATUS).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """A deployment whose node c1-a (certificate for "c1-a" from the deployment's CA) listens
    on loopback; every service's address is 127.0.0.1."""
    ca = TestCa(tmp_path / "pki")
    certificate = ca.issue("c1-a")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "cluster_secret").write_text("a-cluster-secret-of-the-tests\n")
    shutil.copy(ca.cert_file, secrets / "tls_ca.crt")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(deployment_module, "API_PORT", server.server_address[1])
    _StatusHandler.signatures = []
    made = Deployment(tmp_path)
    monkeypatch.setattr(made, "address", lambda service: "127.0.0.1")
    yield made
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_node_status_is_read_over_tls_verified_by_the_services_name(
    deployment: Deployment,
) -> None:
    assert deployment.node_status("c1-a") == STATUS
    (signature,) = _StatusHandler.signatures
    assert signature is not None and signature.startswith("c=node,t=")


def test_a_node_whose_certificate_names_another_service_is_not_believed(
    deployment: Deployment,
) -> None:
    # The node at this address shows c1-a's certificate: as c1-b it is refused
    assert deployment.node_status("c1-b") is None
    assert _StatusHandler.signatures == []


def test_a_node_whose_certificate_another_ca_issued_is_not_believed(
    deployment: Deployment, tmp_path: Path
) -> None:
    other = TestCa(tmp_path / "other", name="another CA")
    shutil.copy(other.cert_file, deployment.compose_dir / "secrets" / "tls_ca.crt")
    assert deployment.node_status("c1-a") is None
    assert _StatusHandler.signatures == []

"""The containers' health check (deploy/docker/healthcheck.py), run as Docker runs it
(`python3 -I -S`), against a real socket on loopback that answers what each test says.

Healthy only on a 200; anything else (another status, a connection refused or closed, an answer
that is not HTTP, a server that never answers, a URL it does not handle) is unhealthy with a
line on stderr naming the URL. An https:// URL is checked over TLS, the node's certificate
verified against RAFTQ_TLS_CA_FILE (a CA made in the test) and its name; `ssl` is imported for
https:// URLs only.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tls_certs import NodeCertificate, TestCa

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "docker" / "healthcheck.py"


class _OneShotServer:
    """Accepts connections on loopback and answers each with `reply` (None: say nothing, hold
    the connection open until the test ends)."""

    def __init__(self, reply: bytes | None, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self._tls = tls
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            if self._tls is not None:
                try:
                    connection = self._tls.wrap_socket(connection, server_side=True)
                except OSError:  # the client refused the certificate
                    connection.close()
                    continue
            self.requests.append(connection.recv(1024))
            if self.reply is None:
                self._held.append(connection)
                continue
            connection.sendall(self.reply)
            connection.close()

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        self._listener.close()
        for connection in self._held:
            connection.close()
        self._thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[list[_OneShotServer]]:
    servers: list[_OneShotServer] = []
    yield servers
    for server in servers:
        server.close()


def _check(
    url: str, ca_file: Path | None = None, *python_options: str
) -> subprocess.CompletedProcess[str]:
    env = {"RAFTQ_HEALTHCHECK_URL": url}
    if ca_file is not None:
        env["RAFTQ_TLS_CA_FILE"] = str(ca_file)
    return subprocess.run(
        [sys.executable, "-I", "-S", *python_options, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def _server(
    serve: list[_OneShotServer], reply: bytes | None, tls: ssl.SSLContext | None = None
) -> _OneShotServer:
    server = _OneShotServer(reply, tls)
    serve.append(server)
    return server


def test_healthy_on_200_and_asks_for_the_path(serve: list[_OneShotServer]) -> None:
    server = _server(serve, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    done = _check(f"http://127.0.0.1:{server.port}/healthz")
    assert done.returncode == 0, done.stderr
    assert server.requests[0].startswith(b"GET /healthz HTTP/1.0\r\n")
    assert f"Host: 127.0.0.1:{server.port}".encode() in server.requests[0]


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 503 Service Unavailable\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 OK 200\r\n\r\n",
        b"",
        b"\xff\xfe\x00garbage",
    ],
)
def test_unhealthy_on_anything_but_a_200(serve: list[_OneShotServer], reply: bytes) -> None:
    server = _server(serve, reply)
    url = f"http://127.0.0.1:{server.port}/healthz"
    done = _check(url)
    assert done.returncode == 1
    assert url in done.stderr


def test_unhealthy_when_nothing_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    done = _check(f"http://127.0.0.1:{port}/healthz")
    assert done.returncode == 1
    assert "refused" in done.stderr.lower()


def test_unhealthy_when_the_server_never_answers(serve: list[_OneShotServer]) -> None:
    server = _server(serve, None)
    done = _check(f"http://127.0.0.1:{server.port}/healthz")
    assert done.returncode == 1
    assert "timed out" in done.stderr


@pytest.mark.parametrize("url", ["ftp://x/", "127.0.0.1:8080/healthz", ""])
def test_refuses_urls_it_does_not_handle(url: str) -> None:
    done = _check(url)
    assert done.returncode == 1
    assert "only http:// and https:// URLs" in done.stderr


def test_an_http_check_does_not_import_ssl(serve: list[_OneShotServer]) -> None:
    server = _server(serve, b"HTTP/1.1 200 OK\r\n\r\n")
    done = _check(f"http://127.0.0.1:{server.port}/healthz", None, "-X", "importtime")
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "socket" in imported and "ssl" not in imported


# --- https:// ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestCa, NodeCertificate, TestCa]:
    directory = tmp_path_factory.mktemp("pki")
    ca = TestCa(directory / "ca")
    return ca, ca.issue("127.0.0.1"), TestCa(directory / "other", name="another CA")


def _tls_server(serve: list[_OneShotServer], certificate: NodeCertificate) -> _OneShotServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    return _server(serve, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", context)


def test_healthy_over_tls_with_the_ca_that_issued_the_certificate(
    serve: list[_OneShotServer], pki: tuple[TestCa, NodeCertificate, TestCa]
) -> None:
    ca, certificate, _ = pki
    server = _tls_server(serve, certificate)
    done = _check(f"https://127.0.0.1:{server.port}/healthz", ca.cert_file)
    assert done.returncode == 0, done.stderr
    assert server.requests[0].startswith(b"GET /healthz HTTP/1.0\r\n")


def test_unhealthy_when_another_ca_issued_the_certificate(
    serve: list[_OneShotServer], pki: tuple[TestCa, NodeCertificate, TestCa]
) -> None:
    _, certificate, other_ca = pki
    server = _tls_server(serve, certificate)
    done = _check(f"https://127.0.0.1:{server.port}/healthz", other_ca.cert_file)
    assert done.returncode == 1
    assert "certificate verify failed" in done.stderr
    assert server.requests == []


def test_unhealthy_when_the_certificate_names_another_host(
    serve: list[_OneShotServer], pki: tuple[TestCa, NodeCertificate, TestCa]
) -> None:
    ca, _, _ = pki
    server = _tls_server(serve, ca.issue("elsewhere.example", file_name="elsewhere"))
    done = _check(f"https://127.0.0.1:{server.port}/healthz", ca.cert_file)
    assert done.returncode == 1
    assert "mismatch" in done.stderr
    assert server.requests == []


def test_an_https_check_without_a_ca_file_fails_and_says_so(
    serve: list[_OneShotServer], pki: tuple[TestCa, NodeCertificate, TestCa]
) -> None:
    server = _tls_server(serve, pki[1])
    done = _check(f"https://127.0.0.1:{server.port}/healthz")
    assert done.returncode == 1
    assert "RAFTQ_TLS_CA_FILE" in done.stderr

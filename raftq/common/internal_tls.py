"""TLS for internal traffic: the API port of each metadata and backend node (its HTTP API and,
on a backend, the data channel that shares the port), and every client of it (frontends,
backends reporting to the metadata group, the metadata leader calling backends, `raftq admin`).

Rules it keeps:
- A node given a certificate and its key (`--tls-cert-file`, `--tls-key-file`) serves its API
  port with TLS only: a plain HTTP request or channel preamble fails the handshake and is never
  read as a request.
- A client given a CA file (`--tls-ca-file`) speaks TLS to every node and verifies the node's
  certificate: a chain to that CA (that CA only, not the system's store), and the host of the
  address it dials, a DNS name or an IP address, in the certificate's subjectAltName. There is
  no fallback to plain HTTP and no way to skip the check.
- A node is a client too (a backend reports to the metadata group, the metadata leader calls
  backends), so a node takes all three options or none: the nodes it calls serve TLS when it does.
- TLS 1.2 or later. No client certificates: internal HTTP requests are signed with the cluster
  secret (cluster_auth.py) and channel peers prove the channel secret (channel/frames.py); TLS
  adds secrecy (access-key secrets travel in answers of /v1/keys/lookup, message bodies in
  commands) and proves the node's identity to the client.
- Without the options everything is plain HTTP, as in `raftq up` on loopback.

Raft traffic is not here: pysyncobj's connections are encrypted under the raft secret
(raft/wire_cipher.py). The frontends' public port has its own options (frontend/settings.py).
"""

from __future__ import annotations

import argparse
import os
import ssl
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, model_validator

CERT_OPTION: Final = "--tls-cert-file"
KEY_OPTION: Final = "--tls-key-file"
CA_OPTION: Final = "--tls-ca-file"
# `raftq admin` (and the containers' health check) read the CA file from here when no option
# names it.
CA_ENV: Final = "RAFTQ_TLS_CA_FILE"


class TlsFilesError(ValueError):
    """Raised when a certificate, key or CA file cannot be loaded (missing, unreadable, not
    PEM, or a key that does not match its certificate): a startup fault of the operator's,
    named by its option."""


class InternalTls(BaseModel):
    """Where a process finds its TLS files for internal traffic; all None: plain HTTP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The node's certificate chain (PEM, its own certificate first) and private key: served on
    # its API port. The certificate names every host its clients dial it by.
    cert_file: Path | None = None
    key_file: Path | None = None
    # The CA (PEM) that issued the nodes' certificates: what this process trusts when it calls a
    # node.
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _certificate_with_its_key(self) -> InternalTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(f"TLS needs both {CERT_OPTION} and {KEY_OPTION}")
        return self

    @property
    def scheme(self) -> str:
        """The scheme of this process's requests to nodes."""
        return "https" if self.ca_file is not None else "http"

    def check_for_node(self) -> None:
        """A node serves TLS exactly when it calls other nodes with TLS (module docstring)."""
        if self.cert_file is not None and self.ca_file is None:
            raise ValueError(
                f"a node that serves TLS ({CERT_OPTION}) also needs {CA_OPTION}: "
                "the nodes it calls serve TLS too"
            )
        if self.ca_file is not None and self.cert_file is None:
            raise ValueError(
                f"a node given {CA_OPTION} also needs {CERT_OPTION} and {KEY_OPTION}: "
                "the nodes that call it speak TLS too"
            )

    def check_client_only(self, role: str) -> None:
        """A process that serves no internal API (a frontend, `raftq admin`) takes a CA only."""
        if self.cert_file is not None:
            raise ValueError(f"{role} serves no internal API: {CERT_OPTION} is for nodes")

    def server_context(self) -> ssl.SSLContext | None:
        """The context the node's API port is served with; None: plain."""
        if self.cert_file is None or self.key_file is None:
            return None
        return server_context(self.cert_file, self.key_file)

    def client_context(self) -> ssl.SSLContext | None:
        """The context of calls to nodes; None: plain HTTP."""
        return None if self.ca_file is None else client_context(self.ca_file)

    def load(self) -> None:
        """Load every file once, so that a bad one stops the process at startup, by name."""
        self.server_context()
        self.client_context()


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as error:
        raise TlsFilesError(
            f"cannot load the TLS certificate ({CERT_OPTION} {cert_file}) "
            f"and key ({KEY_OPTION} {key_file}): {error}"
        ) from None
    return context


def client_context(ca_file: Path) -> ssl.SSLContext:
    """Verifies the server's chain against `ca_file` alone, and its name (check_hostname)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise TlsFilesError(
            f"cannot load the TLS CA file ({CA_OPTION} {ca_file}): {error}"
        ) from None
    return context


def add_tls_options(parser: argparse.ArgumentParser, *, serves: bool) -> None:
    """The options of a node (`serves`) or of a client of nodes."""
    if serves:
        parser.add_argument(
            CERT_OPTION,
            type=Path,
            help="serve the API port (HTTP and channel) with TLS: this certificate chain (PEM), "
            f"naming the host clients dial; with {KEY_OPTION} and {CA_OPTION}",
        )
        parser.add_argument(KEY_OPTION, type=Path, help="the certificate's private key (PEM)")
    parser.add_argument(
        CA_OPTION,
        type=Path,
        help="call metadata and backend nodes over TLS, verifying their certificates against "
        f"this CA (PEM){'' if serves else f' (or {CA_ENV})'}",
    )


def tls_from_args(args: argparse.Namespace, *, environment: bool = False) -> InternalTls:
    """The options `add_tls_options` added; `environment`: CA_ENV when no option names a CA."""
    ca_file: Path | None = args.tls_ca_file
    if ca_file is None and environment and os.environ.get(CA_ENV):
        ca_file = Path(os.environ[CA_ENV])
    return InternalTls(
        cert_file=getattr(args, "tls_cert_file", None),
        key_file=getattr(args, "tls_key_file", None),
        ca_file=ca_file,
    )


def describe_failure(error: BaseException) -> str | None:
    """What failed in a TLS handshake (the certificate check, or a peer that does not speak
    TLS), from a client's error or what it wraps; None when `error` is not about TLS."""
    seen: BaseException | None = error
    for _ in range(4):  # aiohttp wraps the ssl error once
        if seen is None:
            return None
        wrapped = getattr(seen, "certificate_error", None) or getattr(seen, "os_error", None)
        if isinstance(wrapped, BaseException) and wrapped is not seen:
            seen = wrapped
        elif isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS: the node's certificate was refused: {seen.verify_message}"
        elif isinstance(seen, ssl.SSLError) and seen.reason == "WRONG_VERSION_NUMBER":
            return "TLS: the node does not speak TLS (it answered in clear)"
        elif isinstance(seen, ssl.SSLError):
            return f"TLS: {seen.reason or seen}"
        else:
            seen = seen.__cause__
    return None

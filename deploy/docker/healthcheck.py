#!/usr/bin/env python3
"""Docker HEALTHCHECK for a raftq node: exit 0 when RAFTQ_HEALTHCHECK_URL answers 200.

Every raftq node (metadata, backend, frontend) serves GET /healthz: 200 while it serves, 503 once
it refuses to go on (for example, corrupt state). A 2 s timeout.

A node that serves its API port with TLS (--tls-cert-file) is checked at an https:// URL: its
certificate is verified against the CA in RAFTQ_TLS_CA_FILE (the one its clients use) and must
name the URL's host. There is no unverified mode: without the CA file an https:// check fails.

Docker runs this in every container every few seconds, so it must cost next to nothing: the
image runs it as `python3 -I -S` and it imports only `os`, `socket` and `sys`, and `ssl` for an
https:// URL only (about 25 ms of CPU more, and a handshake). (With `urllib.request`, which pulls
in ssl and email, one check took 0.27 s of CPU on a loaded 2-core host: twelve containers every
5 s used a third of the machine.)
"""

import os
import socket
import sys

url = os.environ.get("RAFTQ_HEALTHCHECK_URL", "http://127.0.0.1:8080/healthz")
ca_file = os.environ.get("RAFTQ_TLS_CA_FILE", "")


def status_of(url: str, ca_file: str) -> int:
    """The HTTP status of GET `url` (http:// or https://host[:port]/path only)."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("http", "https"):
        raise OSError(f"only http:// and https:// URLs are checked, not {url!r}")
    if scheme == "https" and not ca_file:
        raise OSError("an https:// URL needs the CA that verifies it in RAFTQ_TLS_CA_FILE")
    authority, slash, path = rest.partition("/")
    host, colon, port = authority.rpartition(":")
    if not colon or not port.isdigit():
        host, port = authority, "443" if scheme == "https" else "80"
    host = host.strip("[]")
    with socket.create_connection((host, int(port)), timeout=2) as plain:
        connection = plain
        if scheme == "https":
            import ssl  # noqa: PLC0415 (only the https checks pay for it)

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
            context.load_verify_locations(cafile=ca_file)
            connection = context.wrap_socket(plain, server_hostname=host)
        with connection:
            request = f"GET {slash}{path} HTTP/1.0\r\nHost: {authority}\r\n\r\n"
            connection.sendall(request.encode("ascii"))
            head = connection.recv(64).decode("ascii", "replace")
    parts = head.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OSError(f"not an HTTP answer: {head!r}")
    return int(parts[1])


try:
    status = status_of(url, ca_file)
except OSError as error:  # ssl.SSLError is an OSError
    print(f"{url}: {error}", file=sys.stderr)
    sys.exit(1)
if status != 200:
    print(f"{url}: {status}", file=sys.stderr)
sys.exit(0 if status == 200 else 1)

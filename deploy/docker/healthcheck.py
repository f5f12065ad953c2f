#!/usr/bin/env python3
"""Docker HEALTHCHECK for a raftq node: exit 0 when RAFTQ_HEALTHCHECK_URL answers 200.

Every raftq node (metadata, backend, frontend) serves GET /healthz: 200 while it serves, 503 once
it refuses to go on (for example, corrupt state). A 2 s timeout.

Docker runs this in every container every few seconds, so it must cost next to nothing: the
image runs it as `python3 -I -S` and it imports only `os`, `socket` and `sys`. (With
`urllib.request`, which pulls in ssl and email, one check took 0.27 s of CPU on a loaded 2-core
host: twelve containers every 5 s used a third of the machine.)
"""

import os
import socket
import sys

url = os.environ.get("RAFTQ_HEALTHCHECK_URL", "http://127.0.0.1:8080/healthz")


def status_of(url: str) -> int:
    """The HTTP status of GET `url` (plain http://host[:port]/path only)."""
    if not url.startswith("http://"):
        raise OSError(f"only http:// URLs are checked, not {url!r}")
    authority, slash, path = url[len("http://") :].partition("/")
    host, colon, port = authority.rpartition(":")
    if not colon or not port.isdigit():
        host, port = authority, "80"
    with socket.create_connection((host.strip("[]"), int(port)), timeout=2) as connection:
        request = f"GET {slash}{path} HTTP/1.0\r\nHost: {authority}\r\n\r\n"
        connection.sendall(request.encode("ascii"))
        head = connection.recv(64).decode("ascii", "replace")
    parts = head.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OSError(f"not an HTTP answer: {head!r}")
    return int(parts[1])


try:
    status = status_of(url)
except OSError as error:
    print(f"{url}: {error}", file=sys.stderr)
    sys.exit(1)
if status != 200:
    print(f"{url}: {status}", file=sys.stderr)
sys.exit(0 if status == 200 else 1)

"""What a compromised frontend can reach with what it holds (the `compromised-frontend` cell).

Runs inside a frontend's container, where an intruder who took the frontend would be, as a
script (`python - ARGUMENTS_JSON` with this file on its standard input; it imports only the
standard library and the raftq installed in the image). It reads every credential the frontend
holds (its own frontend credential, and every file under /run/secrets) and tries each:

- on every Raft port of the deployment, as the first message of a Raft connection (where a peer
  sends its random key), encrypted as a member would encrypt it with that secret: a member that
  answers with a message that decrypts took the secret for the raft secret (accepted);
- on the internal HTTP routes that are not a frontend's: a metadata operator command (create a
  principal), a metadata node command (a load report) and a backend's own command route (a purge
  of the cell's queue), signed as the frontend itself, and as `node` and `operator` with each
  secret. Only 401 and 403 count as refused; anything else means the request got past
  authentication (accepted) or went unanswered (unknown): both fail the cell.

One JSON line per attempt goes to standard output; the exit status is 1 when any attempt was
not refused. With `"control": true` (run in a member's container, with its raft and operator
secrets) it tries the Raft ports with the raft secret, and a backend's status route as an
operator, and exits 1 when either was NOT accepted: the probe can tell.
"""

from __future__ import annotations

import http.client
import json
import os
import pickle
import socket
import ssl
import struct
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftq.common import cluster_auth, codec
from raftq.common.commands import PurgeQueue
from raftq.common.credentials import Caller, Role, frontend_credential
from raftq.common.metadata_api import METADATA_COMMANDS_PATH, MetadataRequest
from raftq.common.metadata_commands import CreatePrincipal, ReportLoad
from raftq.common.node_api import COMMANDS_PATH, NodeRequest
from raftq.raft.wire_cipher import WireCipher

SECRETS = Path("/run/secrets")
CA_FILE = SECRETS / "tls_ca.crt"
TIMEOUT_S = 3.0


def main(arguments: dict[str, Any]) -> int:
    if arguments.get("control"):
        secret = Path(arguments["raft_secret_file"]).read_text().strip()
        answers = [_attempt_raft(address, "raft secret", secret) for address in arguments["raft"]]
        operator = Path(arguments["operator_secret_file"]).read_text().strip()
        status = Forbidden(arguments["backend"], "/v1/status", b"", "read a node's status", "GET")
        answers.append(_attempt_http(status, "operator secret", Caller(Role.OPERATOR), operator))
        return 0 if all(a["outcome"] == "accepted" for a in answers) else 1
    held = _held_secrets(Path(arguments["credential_file"]))
    own = frontend_credential(Path(arguments["credential_file"]).read_text())
    attempts = [
        _attempt_raft(address, name, secret)
        for address in arguments["raft"]
        for name, secret in held.items()
    ]
    now_ms = int(time.time() * 1000)
    requests = _forbidden_requests(arguments, now_ms)
    callers = [("its frontend credential", own.caller, own.secret.decode())]
    callers += [
        (f"{name} as {role.value}", Caller(role), secret)
        for name, secret in held.items()
        for role in (Role.NODE, Role.OPERATOR)
    ]
    for label, caller, secret in callers:
        attempts += [_attempt_http(request, label, caller, secret) for request in requests]
    return 0 if all(a["outcome"] == "refused" for a in attempts) else 1


def _held_secrets(credential_file: Path) -> dict[str, str]:
    """Every secret the frontend holds, by where it found it."""
    whole = credential_file.read_text().strip()
    held = {
        "its frontend credential (whole)": whole,
        "its frontend credential's secret": frontend_credential(whole).secret.decode(),
    }
    for path in sorted(SECRETS.iterdir()) if SECRETS.is_dir() else ():
        if path.is_file():
            held[f"/run/secrets/{path.name}"] = path.read_text(errors="replace").strip()
    return held


@dataclass(frozen=True)
class Forbidden:
    """A request only an operator or a node may make."""

    address: str  # host:port
    path: str
    body: bytes
    what: str
    method: str = "POST"


def _forbidden_requests(arguments: dict[str, Any], now_ms: int) -> list[Forbidden]:
    metadata, backend = arguments["metadata"], arguments["backend"]
    create = MetadataRequest(
        command=CreatePrincipal(now_ms=now_ms, actor="intruder", principal_id="intruder")
    )
    report = MetadataRequest(
        command=ReportLoad(
            now_ms=now_ms, actor="intruder", cluster_id="c1", node_id="c1-a", messages=0, queues=0
        )
    )
    purge = NodeRequest(command=PurgeQueue(now_ms=now_ms, queue=arguments["queue_id"]))
    return [
        Forbidden(metadata, METADATA_COMMANDS_PATH, codec.encode(create), "create a principal"),
        Forbidden(metadata, METADATA_COMMANDS_PATH, codec.encode(report), "report a load"),
        Forbidden(backend, COMMANDS_PATH, codec.encode(purge), "purge the cell's queue"),
    ]


def _attempt_http(request: Forbidden, label: str, caller: Caller, secret: str) -> dict[str, Any]:
    address, path, body, what = request.address, request.path, request.body, request.what
    host, port = address.rsplit(":", 1)
    now_ms = int(time.time() * 1000)
    header = cluster_auth.sign(secret.encode(), request.method, path, now_ms, body, caller=caller)
    context = ssl.create_default_context(cafile=str(CA_FILE)) if CA_FILE.exists() else None
    try:
        connection: http.client.HTTPConnection = (
            http.client.HTTPSConnection(host, int(port), timeout=TIMEOUT_S, context=context)
            if context is not None
            else http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
        )
        headers = {cluster_auth.HEADER: header}
        connection.request(request.method, path, body=body, headers=headers)
        status = connection.getresponse().status
        connection.close()
    except (OSError, http.client.HTTPException) as error:
        return _report(f"http {address}{path}", label, "unknown", f"{what}: {error!r}")
    outcome = "refused" if status in (401, 403) else "accepted"
    return _report(f"http {address}{path}", label, outcome, f"{what}: {status}")


def _attempt_raft(address: str, label: str, secret: str) -> dict[str, Any]:
    cipher = WireCipher(secret)
    message = zlib.compress(pickle.dumps(os.urandom(32)), 3)
    frame = cipher.encrypt_at_time(message, int(time.monotonic()))
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as connection:
            connection.sendall(struct.pack("i", len(frame)) + frame)
            header = _read_exactly(connection, 4)
            data = (
                None if header is None else _read_exactly(connection, *struct.unpack("i", header))
            )
    except TimeoutError:
        return _report(f"raft {address}", label, "refused", "no answer")
    except OSError as error:
        return _report(f"raft {address}", label, "refused", f"{error!r}")
    if data is None:
        return _report(f"raft {address}", label, "refused", "the member hung up")
    try:
        cipher.decrypt(data)
    except Exception as error:  # an answer this secret cannot open: not ours to read
        return _report(f"raft {address}", label, "refused", f"answer unreadable: {error!r}")
    return _report(f"raft {address}", label, "accepted", "the member answered in this secret")


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _report(target: str, credential: str, outcome: str, detail: str) -> dict[str, Any]:
    attempt = {"target": target, "credential": credential, "outcome": outcome, "detail": detail}
    print(json.dumps(attempt), flush=True)
    return attempt


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))

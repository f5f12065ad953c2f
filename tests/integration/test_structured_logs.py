"""Structured logs of real processes (docs/logging.md): a metadata group, a backend cluster and
a frontend, each writing JSON lines to its own log.

- every process says `started` once;
- a request's `X-Request-Id` comes back on its answer, and names the request in the frontend's
  log and in the backend leader's, which served its command (DEBUG lines, on in this test);
- a refused signature, REST or SQS, is one `auth_refused` line (SQS answers with the same id),
  and so is a forged signature on a node's internal API;
- a killed backend leader: its successor says `leader_changed` once;
- a 5xx (the whole backend cluster down) is one `request_failed` line naming the queue."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from raftq.common.cluster_auth import HEADER
from raftq.common.cluster_auth import sign as sign_internal
from raftq.common.sigv4 import HttpRequest, sign
from tests.integration.cluster import (
    OPERATOR_SECRET,
    Cluster,
    eventually,
    metadata_and_backend,
    start_frontend_process,
)

pytestmark = pytest.mark.integration


def _admin(env: dict[str, str], *argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "--json", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _lines(path: Path, after_byte: int = 0) -> list[dict[str, Any]]:
    """The log's JSON lines (from `after_byte` on); any other line fails the test."""
    with path.open("rb") as log:
        log.seek(after_byte)
        text = log.read().decode()
    return [json.loads(line) for line in text.splitlines() if line]


def _with(lines: list[dict[str, Any]], **wanted: object) -> list[dict[str, Any]]:
    return [line for line in lines if all(line.get(k) == v for k, v in wanted.items())]


async def _appears(
    path: Path, timeout_s: float = 10, after_byte: int = 0, **wanted: object
) -> None:
    async def probe() -> bool | None:
        return True if _with(_lines(path, after_byte), **wanted) else None

    await eventually(probe, timeout_s, f"a line with {wanted} in {path.name}")


class Caller:
    """Signed (or badly signed) requests to the frontend, with headers of our choosing."""

    def __init__(self, endpoint: str, key: dict[str, str], session: aiohttp.ClientSession) -> None:
        self.endpoint, self.key, self.session = endpoint, key, session

    async def call(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        secret: str | None = None,
    ) -> tuple[int, CIMultiDict[str]]:
        host = self.endpoint.removeprefix("http://")
        plain = {"Host": host, "Content-Type": "application/json", **(headers or {})}
        signed = sign(
            HttpRequest(method, path, "", plain, body),
            self.key["key_id"],
            secret or self.key["secret"],
            datetime.now(UTC),
        )
        async with self.session.request(
            method,
            self.endpoint + path,
            data=body,
            headers={**plain, **signed},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as answer:
            await answer.read()
            return answer.status, CIMultiDict(answer.headers)


def _key_and_frontend_credential(metadata: list[str]) -> tuple[dict[str, str], str]:
    """An access key that may send to and receive from `orders`, and a frontend's credential."""
    env = {
        "PATH": "/usr/bin:/bin",
        "RAFTQ_METADATA": ",".join(metadata),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
    }
    _admin(env, "principals", "create", "app")
    _admin(env, "grants", "add", "app", "orders", "send", "receive")
    key = _admin(env, "keys", "create", "app")
    _admin(env, "queues", "create", "orders")
    return key, _admin(env, "frontends", "create", "fe")["credential"]


async def _refused_signatures_are_one_line_each(caller: Caller, frontend_log: Path) -> None:
    # When a request's signature is wrong (REST), or missing (SQS)
    status, headers = await caller.call(
        "GET", "/v1/queues/orders", headers={"X-Request-Id": "bad-sig"}, secret="wrong"
    )
    assert (status, headers["X-Request-Id"]) == (401, "bad-sig")
    async with caller.session.post(
        caller.endpoint + "/",
        data="Action=ListQueues",
        headers={"X-Request-Id": "sqs-unsigned"},
    ) as answer:
        assert answer.status == 403
        assert answer.headers["x-amzn-RequestId"] == "sqs-unsigned"
        assert answer.headers["X-Request-Id"] == "sqs-unsigned"
    # Then each is one auth_refused line, naming the request
    for request_id in ("bad-sig", "sqs-unsigned"):
        await _appears(frontend_log, request_id=request_id, event="auth_refused")
        assert len(_with(_lines(frontend_log), request_id=request_id)) == 1


async def _a_node_refusing_a_signature_says_so_once(
    backend: Cluster, session: aiohttp.ClientSession
) -> None:
    # When an internal request to a node is signed with a secret that is not the cluster's
    node = backend.nodes[0]
    now_ms = time.time_ns() // 1_000_000
    forged = {HEADER: sign_internal(b"not-the-cluster-secret", "GET", "/v1/status", now_ms, b"")}
    async with session.get(f"http://{node.api_address}/v1/status", headers=forged) as answer:
        assert answer.status == 401
    # Then the node says so, once
    await _appears(node.log_path, event="auth_refused")
    assert len(_with(_lines(node.log_path), event="auth_refused")) == 1


async def test_request_ids_and_events_reach_each_process_log(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    # Given a deployment whose backends log at DEBUG (a line per command served) and the others
    # at INFO, and a key that may use the queue `orders`
    def factory(*argv: str, kind: str = "backend", **options: Any) -> Cluster:
        level = "DEBUG" if kind == "backend" else "INFO"
        return cluster_factory(*argv, "--log-level", level, kind=kind, **options)

    metadata, backend = await metadata_and_backend(factory, tmp_path)
    addresses = [node.api_address for node in metadata.nodes]
    key, credential = _key_and_frontend_credential(addresses)
    frontend, endpoint = start_frontend_process(
        tmp_path, "fe", credential, addresses, "--log-level", "DEBUG"
    )
    frontend_log = tmp_path / "fe.log"
    try:
        caller = Caller(endpoint, key, session)
        send = json.dumps({"body": "hello"}).encode()

        async def sends() -> bool | None:
            status, _ = await caller.call("POST", "/v1/queues/orders/messages", send)
            return True if status == 201 else None

        await eventually(sends, timeout_s=30, what="a send through the frontend")

        # Then every process said it started, once
        for path in [frontend_log, *(n.log_path for c in (metadata, backend) for n in c.nodes)]:
            assert len(_with(_lines(path), event="started")) == 1, path

        # When a request carries X-Request-Id: abc-123
        status, headers = await caller.call(
            "POST", "/v1/queues/orders/messages", send, {"X-Request-Id": "abc-123"}
        )
        # Then the answer carries it, the frontend's log names it, and so does the log of
        # the backend leader that served its command
        assert (status, headers["X-Request-Id"]) == (201, "abc-123")
        await _appears(frontend_log, request_id="abc-123", queue="orders")
        leader = await backend.leader()
        await _appears(backend.nodes[leader].log_path, request_id="abc-123", event="command_served")

        await _refused_signatures_are_one_line_each(caller, frontend_log)
        await _a_node_refusing_a_signature_says_so_once(backend, session)

        # When the backend leader is killed
        log_sizes = [node.log_path.stat().st_size for node in backend.nodes]
        backend.kill(leader)
        others = [i for i in range(3) if i != leader]
        successor = await backend.leader(timeout_s=30, among=others)
        # Then its successor says it leads, once
        successor_log = backend.nodes[successor].log_path
        await _appears(successor_log, after_byte=log_sizes[successor], event="leader_changed")
        changes = _with(_lines(successor_log, log_sizes[successor]), event="leader_changed")
        assert len([c for c in changes if c["message"].endswith(" is this member")]) == 1
        assert _with(_lines(successor_log, log_sizes[successor]), event="election_started")

        # When no backend can serve (the whole cluster is down)
        for i in others:
            backend.kill(i)
        status, headers = await caller.call(
            "GET", "/v1/queues/orders/messages", headers={"X-Request-Id": "down-1"}
        )
        # Then the 5xx is one request_failed line with the request, the queue and the error
        assert (status, headers["X-Request-Id"]) == (503, "down-1")
        await _appears(frontend_log, request_id="down-1", event="request_failed")
        (failed,) = _with(_lines(frontend_log), request_id="down-1", level="error")
        assert failed["queue"] == "orders" and failed["error"]["type"], failed
        assert len(_with(_lines(frontend_log), event="request_failed", request_id="down-1")) == 1
    finally:
        frontend.kill()
        frontend.wait(timeout=10)

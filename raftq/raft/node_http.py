"""HTTP pieces shared by every Raft node's internal API (backend and metadata).

One table maps raftq errors to HTTP statuses; requests are verified against the cluster secret
before anything in them is read as a command; health and readiness mean the same on every node.
"""

from __future__ import annotations

import json

from aiohttp import web
from pydantic import SecretStr

from raftq.common import cluster_auth, codec
from raftq.common.clock import Clock
from raftq.common.errors import (
    ClientError,
    DecodeError,
    NotLeader,
    Overloaded,
    PeerError,
    QueueMoved,
    QueueNotFound,
    RaftqError,
    Unauthenticated,
)
from raftq.common.node_api import CONTENT_TYPE, NodeError
from raftq.raft.node import RaftNode

_STATUS: tuple[tuple[type[RaftqError], int], ...] = (
    (Unauthenticated, 401),
    (DecodeError, 400),
    (QueueNotFound, 404),
    (ClientError, 400),
    (NotLeader, 421),
    (QueueMoved, 409),
    (Overloaded, 503),
    (PeerError, 503),
)


def status_of(error: RaftqError) -> int:
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 500)


def error_response(error: RaftqError) -> web.Response:
    leader = error.leader_hint if isinstance(error, NotLeader) else None
    body = NodeError(code=error.code, message=error.message, field=error.field, leader=leader)
    headers = {"Retry-After": "1"} if isinstance(error, Overloaded) else None
    return web.Response(
        status=status_of(error),
        body=codec.encode(body),
        content_type=CONTENT_TYPE,
        headers=headers,
    )


# This process's memory of the signed requests it accepted: each is accepted once.
_REPLAYS = cluster_auth.ReplayGuard()


async def authenticated_body(request: web.Request, secret: SecretStr | None, clock: Clock) -> bytes:
    """The request body, once its signature checks out and it was not seen before (any
    secret-less node accepts all)."""
    body = await request.read()
    if secret is not None:
        cluster_auth.verify(
            secret.get_secret_value().encode(),
            request.headers.get(cluster_auth.HEADER),
            request.method,
            request.path_qs,
            body,
            now_ms=clock.now_ms(),
            replays=_REPLAYS,
        )
    return body


def health(raft: RaftNode) -> web.Response:
    if raft.failure is not None:
        return web.json_response({"ok": False, "failure": raft.failure}, status=503)
    return web.json_response({"ok": True})


def readiness(raft: RaftNode) -> web.Response:
    status = raft.status()
    ready = (
        status["failure"] is None
        and status["leader"] is not None
        and status["last_applied"] is not None
        and status["last_applied"] >= (status["commit_index"] or 0)
    )
    return web.Response(
        status=200 if ready else 503,
        text=json.dumps({"ready": ready, "leader": status["leader"]}),
        content_type="application/json",
    )

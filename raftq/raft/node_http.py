"""HTTP pieces shared by every Raft node's internal API (backend and metadata).

One table maps raftq errors to HTTP statuses; a request is verified before anything in it is
read as a command: first whether its caller's plane may call the route at all (403 if not,
before any secret is looked up), then its signature under that caller's own secret (401);
health and readiness mean the same on every node.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from pydantic import SecretStr

from raftq.common import cluster_auth, codec
from raftq.common.clock import Clock
from raftq.common.credentials import NODE, OPERATOR_SECRET_OPTION, Caller, Role
from raftq.common.errors import (
    ClientError,
    CredentialNotAllowed,
    DecodeError,
    FrontendNotFound,
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

log = logging.getLogger(__name__)
_STATUS: tuple[tuple[type[RaftqError], int], ...] = (
    (Unauthenticated, 401),
    (CredentialNotAllowed, 403),
    (FrontendNotFound, 404),
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

# Which planes a route serves. Nodes hold the Raft secret, so they are trusted on every route.
NODES_ONLY: Final = frozenset({Role.NODE})
OPERATORS: Final = frozenset({Role.NODE, Role.OPERATOR})
FRONTENDS: Final = frozenset({Role.NODE, Role.FRONTEND})
EVERY_PLANE: Final = frozenset(Role)

_ARTICLE: Final = {Role.NODE: "a", Role.OPERATOR: "an", Role.FRONTEND: "a"}

# A frontend's secret by its id; None: unknown or revoked.
FrontendSecrets = Callable[[str], Awaitable[bytes | None]]


@dataclass(frozen=True)
class CallerSecrets:
    """The secrets a node checks signatures with. Without a cluster secret (the insecure
    development mode) nothing is checked."""

    cluster: SecretStr | None
    operator: SecretStr | None = None
    frontend: FrontendSecrets | None = None


@dataclass(frozen=True)
class AuthenticatedCall:
    body: bytes
    caller: Caller


def refuse_caller(caller: Caller, what: str, allowed: frozenset[Role]) -> CredentialNotAllowed:
    planes = ", ".join(role.value for role in Role if role in allowed)
    return CredentialNotAllowed(
        f"{_ARTICLE[caller.role]} {caller.role.value} credential may not call {what} "
        f"(it serves: {planes})",
        field=cluster_auth.HEADER,
    )


async def _secret_of(caller: Caller, secrets: CallerSecrets) -> bytes:
    if caller.role is Role.NODE and secrets.cluster is not None:
        return secrets.cluster.get_secret_value().encode()
    if caller.role is Role.OPERATOR:
        if secrets.operator is None:
            raise Unauthenticated(
                f"this node accepts no operator credential (started without "
                f"{OPERATOR_SECRET_OPTION})",
                field=cluster_auth.HEADER,
            )
        return secrets.operator.get_secret_value().encode()
    found = None
    if secrets.frontend is not None and caller.frontend_id is not None:
        found = await secrets.frontend(caller.frontend_id)
    if found is None:
        raise Unauthenticated(
            "the frontend credential is unknown or revoked", field=cluster_auth.HEADER
        )
    return found


async def authenticated_call(
    request: web.Request, secrets: CallerSecrets, clock: Clock, allowed: frozenset[Role]
) -> AuthenticatedCall:
    """The request body and its caller, once the caller's plane may call this route, its
    signature checks out and it was not seen before (a node without a cluster secret accepts
    all, as a node)."""
    body = await request.read()
    if secrets.cluster is None:
        return AuthenticatedCall(body, NODE)
    try:
        signed = cluster_auth.parse(request.headers.get(cluster_auth.HEADER))
        if signed.caller.role not in allowed:
            raise refuse_caller(signed.caller, f"{request.method} {request.path}", allowed)
        cluster_auth.verify(
            await _secret_of(signed.caller, secrets),
            signed,
            request.method,
            request.path_qs,
            body,
            now_ms=clock.now_ms(),
            replays=_REPLAYS,
        )
    except (Unauthenticated, CredentialNotAllowed) as error:
        log.warning(
            "%s %s from %s refused: %s",
            request.method,
            request.path,
            request.remote,
            error.message,
            extra={"event": "auth_refused", "error": error},
        )
        raise
    return AuthenticatedCall(body, signed.caller)


async def authenticated_body(
    request: web.Request, secrets: CallerSecrets, clock: Clock, allowed: frozenset[Role]
) -> bytes:
    return (await authenticated_call(request, secrets, clock, allowed)).body


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

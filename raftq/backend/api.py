"""The internal HTTP API of a backend node (for frontends, tools and tests).

    POST /v1/commands   nodes only (the cluster secret: the metadata group, moves, dead-letter
                        forwarding); msgpack NodeRequest -> NodeResponse | NodeError
    channel             [wait_ms, command bytes] frames on the same port (common/channel/,
                        channel_request.py): the frontends' data path, authenticated once per
                        connection; commands are logged as encoded, validated in apply
    POST /v1/export     nodes only; leader only; msgpack ExportRequest -> ExportChunk (a move)
    /v1/backup/…, /v1/restore/records   operators and nodes (backup_api.py)
    GET  /v1/status     every plane; JSON Raft status of this node (term, role, indexes: no
                        queue data), which frontends show on their dashboard
    POST /v1/raft/members, /v1/raft/step-down
                        operators; membership changes and hand-over (raft/member_routes.py)
    GET  /healthz       200 while the process serves; 503 once it stopped applying (corruption)
    GET  /readyz        200 when a leader is known and this node applied all it knows committed
    GET  /metrics       Prometheus text

Errors become HTTP statuses here and nowhere else (`_STATUS`). Bodies over the configured limit
get 413 before they are read; a credential of a plane the route does not serve 403 (a
frontend's on every route but `/v1/status`: frontends use the channel for data); bad signatures
401; bodies that do not decode 400. None of these reach the state machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from raftq.backend.backup_api import add_backup_routes
from raftq.backend.metrics import node_registry, queue_ids, render
from raftq.backend.node import BackendNode
from raftq.backend.queue_names import LOOKUP_TIMEOUT_S, Catalogue, QueueNames
from raftq.backend.reporter import report_forever
from raftq.common import call_context, channel_request, codec
from raftq.common.channel.server import Handler, SecretSource
from raftq.common.credentials import Role
from raftq.common.errors import InternalError, NotLeader, RaftqError
from raftq.common.metadata_api import MetadataClient
from raftq.common.node_api import (
    COMMANDS_PATH,
    CONTENT_TYPE,
    EXPORT_PATH,
    ExportRequest,
    NodeRequest,
    NodeResponse,
)
from raftq.raft.member_routes import add_member_routes
from raftq.raft.node_http import (
    EVERY_PLANE,
    NODES_ONLY,
    CallerSecrets,
    authenticated_body,
    error_response,
    health,
    readiness,
)

NODE = web.AppKey("node", BackendNode)
# Who may read `/v1/status` with a frontend credential (the data channel's source of frontends'
# secrets); None: no frontend may.
_FRONTENDS = web.AppKey("frontends", SecretSource)
_REGISTRY = web.AppKey("registry", CollectorRegistry)
log = logging.getLogger(__name__)
_NAMES = web.AppKey("queue_names", QueueNames)
CATALOGUE_PATH = "/v1/catalogue"


async def _authenticated_body(request: web.Request, allowed: frozenset[Role] = NODES_ONLY) -> bytes:
    node = request.app[NODE]
    settings = node.settings
    frontends = request.app.get(_FRONTENDS)
    secrets = CallerSecrets(
        settings.cluster_secret,
        settings.operator_secret,
        None if frontends is None else frontends.secret_of,
    )
    return await authenticated_body(request, secrets, node.clock, allowed)


async def commands(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        body = await _authenticated_body(request)
        call = codec.decode(body, NodeRequest)
        result = await node.execute(call.command, call.wait_ms)
    except RaftqError as error:
        return error_response(error)
    return web.Response(body=codec.encode(NodeResponse(result=result)), content_type=CONTENT_TYPE)


def channel_handler(node: BackendNode) -> Handler:
    """Commands from frontends over the channel, answered as `POST /v1/commands` answers,
    without HTTP (the channel authenticated the peer once). A command arrives as the bytes the
    frontend encoded and is spliced into the log without being validated here (apply does);
    only a payload `channel_request.decode` refuses is a `DecodeError`, for its request alone."""

    async def handle(payload: bytes) -> bytes:
        call = channel_request.decode(payload)
        if isinstance(call, NodeRequest):  # a frontend from before the encoded form
            result = await node.execute(call.command, call.wait_ms)
        else:
            with call_context.bound(call.context):  # log lines below name the request
                try:
                    result = await node.execute_encoded(call.command, call.wait_ms)
                except RaftqError:
                    raise
                except Exception as error:  # a bug: said here, where the request id is known
                    log.exception(
                        "a command failed unexpectedly", extra={"event": "command_failed"}
                    )
                    raise InternalError("the node failed to serve the request") from error
                if log.isEnabledFor(logging.DEBUG):  # one line a command: never at INFO
                    log.debug("served a command", extra={"event": "command_served"})
        return codec.encode(NodeResponse(result=result))

    return handle


async def export(request: web.Request) -> web.Response:
    """A chunk of a fenced queue, for a move. The leader answers: it has applied the fence that
    the mover saw commit."""
    node = request.app[NODE]
    try:
        call = codec.decode(await _authenticated_body(request), ExportRequest)
        if not node.raft.is_leader:
            raise NotLeader("this node is not the leader", leader_hint=node.leader_api_address)
        chunk = await asyncio.to_thread(node.machine.export, call)
    except RaftqError as error:
        return error_response(error)
    return web.Response(body=codec.encode(chunk), content_type=CONTENT_TYPE)


async def status(request: web.Request) -> web.Response:
    try:
        await _authenticated_body(request, EVERY_PLANE)
    except RaftqError as error:
        return error_response(error)
    node = request.app[NODE]
    payload = {
        **node.raft.status(),
        "node_id": node.settings.node_id,
        "zone": node.settings.me.zone,
        "leader_api": node.leader_api_address,
        # Entries this process proposed as leader, by format version (docs/upgrades.md).
        "entries_proposed_by_format": {
            str(version): count
            for version, count in node.committer.stats.proposals_by_format.items()
        },
    }
    return web.json_response(payload)


async def healthz(request: web.Request) -> web.Response:
    return health(request.app[NODE].raft)


async def readyz(request: web.Request) -> web.Response:
    return readiness(request.app[NODE].raft)


async def metrics(request: web.Request) -> web.Response:
    await request.app[_NAMES].learn(queue_ids(request.app[NODE]))
    registry = request.app[_REGISTRY]
    return web.Response(body=render(registry), content_type="text/plain", charset="utf-8")


def _catalogue_names(node: BackendNode, session: aiohttp.ClientSession) -> Catalogue | None:
    """{queue id: name} from the metadata catalogue, asked with the cluster secret; None
    without a metadata group or a secret to ask it with."""
    settings = node.settings
    if not settings.metadata or settings.cluster_secret is None:
        return None
    client = MetadataClient(
        list(settings.metadata),
        settings.cluster_secret.get_secret_value(),
        session,
        tls=settings.tls.client_context(),
        timeout_s=LOOKUP_TIMEOUT_S,
    )

    async def names() -> dict[str, str]:
        catalogue = await client.get(CATALOGUE_PATH) or {}
        return {queue["queue_id"]: queue["name"] for queue in catalogue.get("queues", [])}

    return names


def create_app(node: BackendNode, frontends: SecretSource | None = None) -> web.Application:
    app = web.Application(client_max_size=node.settings.max_request_bytes)
    app[NODE] = node
    if frontends is not None:
        app[_FRONTENDS] = frontends
    names = QueueNames(None, node.clock)
    app[_NAMES] = names
    app[_REGISTRY] = node_registry(node, names)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await node.start()
        async with aiohttp.ClientSession() as session:
            names.catalogue = _catalogue_names(node, session)
            reporting = asyncio.create_task(report_forever(node, session))
            yield
            reporting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporting
        await node.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(COMMANDS_PATH, commands)
    app.router.add_post(EXPORT_PATH, export)
    app.router.add_get("/v1/status", status)
    add_member_routes(app, lambda: node.raft, _authenticated_body)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    add_backup_routes(app, node, _authenticated_body)
    return app

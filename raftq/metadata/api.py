"""The internal HTTP API of a metadata node.

Every route but the last three is signed, and says which planes may call it (node_http.py:
nodes may call every route; `operators` adds operators, `frontends` adds frontends, `every
plane` both; common/credentials.py):

POST /v1/commands        every plane; msgpack MetadataRequest -> MetadataResponse | NodeError;
                         load reports and cluster registration from nodes only, and from
                         frontends only the commands they make for a user (`FRONTEND_COMMANDS`)
POST /v1/queues/create  every plane; msgpack CreateQueueRequest -> MetadataResponse (leader)
POST /v1/queues/set     every plane; msgpack SetQueueRequest -> MetadataResponse (leader)
POST /v1/queues/delete  every plane; msgpack DeleteQueueRequest -> MetadataResponse (leader)
POST /v1/queues/move    operators; msgpack MoveQueueRequest -> MetadataResponse: the move started
GET  /v1/moves          operators; JSON progress of the leader's moves
POST /v1/keys/create    operators; msgpack CreateKeyRequest -> CreatedKey (the only sight of it)
POST /v1/keys/lookup    frontends; leader; msgpack LookupKeyRequest -> KeyCredentials
POST /v1/frontends/create  operators; msgpack CreateFrontendRequest -> CreatedFrontend (once)
POST /v1/frontends/lookup  nodes only; leader; msgpack LookupFrontendRequest -> FrontendSecret
GET  /v1/audit           operators; JSON audit trail
GET  /v1/queues/{name}   every plane; JSON {queue, cluster, freshness}: served by any member
                         that has caught up since it started (else 503), saying whether it is the
                         leader and which index it applied; 404 only from a leader that has
                         applied its term's first entry (a follower says NotLeader)
GET  /v1/catalogue       every plane; JSON of clusters, queues, principals, keys and frontends
                         (no secrets), grants, message move tasks, schedules (without their
                         sealed bodies), with freshness; caught-up members only
GET  /v1/status          every plane; JSON Raft status
POST /v1/raft/members, /v1/raft/step-down
                         operators; membership changes and hand-over (raft/member_routes.py)
GET  /healthz, /readyz, /metrics
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from raftq.common import codec
from raftq.common.credentials import Caller, Role
from raftq.common.errors import (
    BackendUnavailable,
    FrontendNotFound,
    NotLeader,
    QueueNotFound,
    RaftqError,
)
from raftq.common.metadata_api import (
    CREATE_FRONTEND_PATH,
    CREATE_KEY_PATH,
    CREATE_QUEUE_PATH,
    DELETE_QUEUE_PATH,
    LOOKUP_FRONTEND_PATH,
    LOOKUP_KEY_PATH,
    METADATA_COMMANDS_PATH,
    MOVE_QUEUE_PATH,
    MOVES_PATH,
    SET_QUEUE_PATH,
    CreateFrontendRequest,
    CreateKeyRequest,
    CreateQueueRequest,
    DeleteQueueRequest,
    LookupFrontendRequest,
    LookupKeyRequest,
    MetadataRequest,
    MetadataResponse,
    MoveQueueRequest,
    SetQueueRequest,
)
from raftq.common.metadata_commands import (
    ReportLoad,
)
from raftq.common.metadata_models import Queue
from raftq.common.metadata_results import MetadataResult, QueueResult
from raftq.common.node_api import CONTENT_TYPE
from raftq.common.results import Done
from raftq.common.schedule_models import Schedule
from raftq.metadata.access_keys import create_access_key, key_credentials
from raftq.metadata.backends import Backends
from raftq.metadata.callers import caller_secrets, check_command
from raftq.metadata.catalogue_metrics import CatalogueCollector
from raftq.metadata.dead_letter_forwarder import DeadLetterForwarder
from raftq.metadata.frontends import frontend_secret, issue_frontend
from raftq.metadata.node import MetadataNode
from raftq.metadata.queue_lifecycle import QueueLifecycle
from raftq.metadata.queue_move import QueueMover
from raftq.metadata.queue_restore import QueueRestorer
from raftq.metadata.restore_api import RESTORER, add_restore_routes
from raftq.metadata.schedule_firing import ScheduleFirer
from raftq.raft.member_routes import add_member_routes
from raftq.raft.node_http import (
    EVERY_PLANE,
    FRONTENDS,
    NODES_ONLY,
    OPERATORS,
    CallerSecrets,
    authenticated_call,
    error_response,
    health,
    readiness,
)
from raftq.raft.raft_metrics import RaftCollector

NODE = web.AppKey("metadata_node", MetadataNode)
_REGISTRY = web.AppKey("metadata_registry", CollectorRegistry)
METRICS_GROUP = "metadata"
SECRETS = web.AppKey("caller_secrets", CallerSecrets)
LIFECYCLE = web.AppKey("queue_lifecycle", QueueLifecycle)
MOVER = web.AppKey("queue_mover", QueueMover)


async def _call(request: web.Request, allowed: frozenset[Role]) -> tuple[bytes, Caller]:
    node = request.app[NODE]
    call = await authenticated_call(request, request.app[SECRETS], node.clock, allowed)
    return call.body, call.caller


async def _body(request: web.Request, allowed: frozenset[Role]) -> bytes:
    return (await _call(request, allowed))[0]


def _require_caught_up(node: MetadataNode) -> None:
    """Reads come from a member's memory: refuse them (503, the client asks another member)
    while this member is replaying its log or has not heard from a leader since it started."""
    if not node.raft.caught_up:
        raise BackendUnavailable("this metadata member is catching up with its group")


def _require_current_leader(node: MetadataNode) -> None:
    """Only a leader that applied everything committed may say a key or a queue does not exist:
    a follower, or a leader elected a moment ago, may not have applied its creation yet."""
    if not node.raft.leads_current_state:
        hint = None if node.raft.is_leader else node.leader_api_address
        raise NotLeader("this node is not a leader with current state", leader_hint=hint)


def _answer(result: MetadataResult) -> web.Response:
    return web.Response(
        body=codec.encode(MetadataResponse(result=result)), content_type=CONTENT_TYPE
    )


async def commands(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        body, caller = await _call(request, EVERY_PLANE)
        call = codec.decode(body, MetadataRequest)
        check_command(caller, call.command)
        if isinstance(call.command, ReportLoad):
            result = await node.report_load(call.command)
        else:
            result = await node.execute(call.command)
    except RaftqError as error:
        return error_response(error)
    return _answer(result)


async def create_queue(request: web.Request) -> web.Response:
    try:
        call = codec.decode(await _body(request, EVERY_PLANE), CreateQueueRequest)
        queue = await request.app[LIFECYCLE].create(
            call.name, call.fifo, call.attributes, call.actor, call.tags
        )
    except RaftqError as error:
        return error_response(error)
    return _answer(QueueResult(queue=queue, changed=True))


async def delete_queue(request: web.Request) -> web.Response:
    try:
        call = codec.decode(await _body(request, EVERY_PLANE), DeleteQueueRequest)
        await request.app[LIFECYCLE].delete(call.name, call.actor)
    except RaftqError as error:
        return error_response(error)
    return _answer(Done())


async def set_queue(request: web.Request) -> web.Response:
    try:
        call = codec.decode(await _body(request, EVERY_PLANE), SetQueueRequest)
        queue = await request.app[LIFECYCLE].set_attributes(call.name, call.changes, call.actor)
    except RaftqError as error:
        return error_response(error)
    return _answer(QueueResult(queue=queue, changed=True))


async def move_queue(request: web.Request) -> web.Response:
    try:
        call = codec.decode(await _body(request, OPERATORS), MoveQueueRequest)
        queue = await request.app[MOVER].start(call.name, call.target, call.actor)
    except RaftqError as error:
        return error_response(error)
    return _answer(QueueResult(queue=queue, changed=True))


async def moves(request: web.Request) -> web.Response:
    """The leader's moves in progress or done since it leads, for progress display."""
    node = request.app[NODE]
    try:
        await _body(request, OPERATORS)
        if not node.raft.is_leader:
            raise NotLeader("this node is not the leader", leader_hint=node.leader_api_address)
    except RaftqError as error:
        return error_response(error)
    progress = {name: p.as_json() for name, p in request.app[MOVER].progress.items()}
    return web.json_response({"moves": progress, **node.freshness()})


async def create_key(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        call = codec.decode(await _body(request, OPERATORS), CreateKeyRequest)
        created = await create_access_key(node, call.principal_id, call.actor)
    except RaftqError as error:
        return error_response(error)
    return web.Response(body=codec.encode(created), content_type=CONTENT_TYPE)


async def lookup_key(request: web.Request) -> web.Response:
    """For frontends: a key's secret and grants. The leader answers, so a revocation counts at
    once (frontends cache answers briefly, docs/internal-api.md)."""
    node = request.app[NODE]
    try:
        call = codec.decode(await _body(request, FRONTENDS), LookupKeyRequest)
        _require_current_leader(node)
        credentials = key_credentials(node, call.key_id)
    except RaftqError as error:
        return error_response(error)
    return web.Response(body=codec.encode(credentials), content_type=CONTENT_TYPE)


async def create_frontend(request: web.Request) -> web.Response:
    try:
        call = codec.decode(await _body(request, OPERATORS), CreateFrontendRequest)
        created = await issue_frontend(request.app[NODE], call.name, call.actor)
    except RaftqError as error:
        return error_response(error)
    return web.Response(body=codec.encode(created), content_type=CONTENT_TYPE)


async def lookup_frontend(request: web.Request) -> web.Response:
    """For backends verifying a frontend on the data channel. The leader answers, so a
    revocation counts at once (backends cache answers briefly, docs/internal-api.md)."""
    node = request.app[NODE]
    try:
        call = codec.decode(await _body(request, NODES_ONLY), LookupFrontendRequest)
        _require_current_leader(node)
        found = frontend_secret(node, call.frontend_id)
        if found is None:
            raise FrontendNotFound("the frontend credential is unknown or revoked")
    except RaftqError as error:
        return error_response(error)
    return web.Response(body=codec.encode(found), content_type=CONTENT_TYPE)


async def audit(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        await _body(request, OPERATORS)
        _require_caught_up(node)
    except RaftqError as error:
        return error_response(error)
    with node.machine.lock:
        entries = [e.model_dump(mode="json") for e in node.machine.machine.state.audit]
    return web.json_response({"audit": entries, **node.freshness()})


async def queue(request: web.Request) -> web.Response:
    node = request.app[NODE]
    name = request.match_info["name"]
    try:
        await _body(request, EVERY_PLANE)
        _require_caught_up(node)
        found = node.queue(name)
        if found is None:
            _require_current_leader(node)
            raise QueueNotFound(f"queue {name!r} does not exist", field="name")
    except RaftqError as error:
        return error_response(error)
    cluster = node.cluster(found.placement.cluster_id)
    return web.json_response(
        {
            "queue": found.model_dump(mode="json"),
            "cluster": None if cluster is None else cluster.model_dump(mode="json"),
            **node.freshness(),
        }
    )


async def catalogue(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        await _body(request, EVERY_PLANE)
        _require_caught_up(node)
    except RaftqError as error:
        return error_response(error)
    return web.json_response({**node.snapshot_of_state(), **node.freshness()})


async def status(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        await _body(request, EVERY_PLANE)
    except RaftqError as error:
        return error_response(error)
    return web.json_response(
        {
            **node.raft.status(),
            "node_id": node.settings.node_id,
            "zone": node.settings.me.zone,
            "leader_api": node.leader_api_address,
        }
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[_REGISTRY]
    return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")


def _schedule_firer(node: MetadataNode, backends: Backends) -> ScheduleFirer:
    def catalogue() -> tuple[list[Schedule], dict[str, Queue]]:
        with node.machine.lock:
            state = node.machine.machine.state
            return list(state.schedules.values()), dict(state.queues)

    return ScheduleFirer(
        # A leader elected a moment ago may not have applied the latest ticks yet.
        leading=lambda: node.raft.leads_current_state,
        catalogue=catalogue,
        backends=backends,
        propose=node.execute,
        now_ms=node.leader_clock.now_ms,
        monotonic_ms=node.clock.monotonic_ms,
    )


def create_app(node: MetadataNode) -> web.Application:
    app = web.Application(client_max_size=node.settings.max_request_bytes)
    app[NODE] = node
    app[SECRETS] = caller_secrets(node)
    registry = CollectorRegistry()
    # The Raft metrics, as a backend node's, with group="metadata" (raft/raft_metrics.py).
    registry.register(RaftCollector(node.raft, METRICS_GROUP, node.settings.node_id))
    registry.register(CatalogueCollector(node))
    app[_REGISTRY] = registry

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            backends = Backends(node, session)
            app[LIFECYCLE] = QueueLifecycle(node, backends)
            app[MOVER] = QueueMover(node, backends)
            app[RESTORER] = QueueRestorer(node, backends, app[LIFECYCLE])
            reconciler = asyncio.create_task(app[LIFECYCLE].run_reconciler(app[MOVER]))
            forwarder = asyncio.create_task(DeadLetterForwarder.of(node, backends).run())
            firer = asyncio.create_task(_schedule_firer(node, backends).run())
            yield
            for task in (reconciler, forwarder, firer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app[MOVER].stop()
        node.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(METADATA_COMMANDS_PATH, commands)
    add_restore_routes(app, _body)
    app.router.add_post(CREATE_QUEUE_PATH, create_queue)
    app.router.add_post(DELETE_QUEUE_PATH, delete_queue)
    app.router.add_post(CREATE_KEY_PATH, create_key)
    app.router.add_post(LOOKUP_KEY_PATH, lookup_key)
    app.router.add_post(CREATE_FRONTEND_PATH, create_frontend)
    app.router.add_post(LOOKUP_FRONTEND_PATH, lookup_frontend)
    app.router.add_post(SET_QUEUE_PATH, set_queue)
    app.router.add_post(MOVE_QUEUE_PATH, move_queue)
    app.router.add_get(MOVES_PATH, moves)
    app.router.add_get("/v1/audit", audit)
    app.router.add_get("/v1/queues/{name}", queue)
    app.router.add_get("/v1/catalogue", catalogue)
    app.router.add_get("/v1/status", status)
    add_member_routes(app, lambda: node.raft, _body)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/readyz", _ready)
    app.router.add_get("/metrics", metrics)
    return app


async def _health(request: web.Request) -> web.Response:
    return health(request.app[NODE].raft)


async def _ready(request: web.Request) -> web.Response:
    return readiness(request.app[NODE].raft)

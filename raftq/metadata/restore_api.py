"""Restore routes of the metadata API (queue_restore.py), for operators and nodes:

POST /v1/restore/begin   RestoreBeginRequest -> RestoreBegun
POST /v1/restore/finish  RestoreFinishRequest -> MetadataResponse(QueueResult)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from raftq.common import codec
from raftq.common.backup_api import (
    RESTORE_BEGIN_PATH,
    RESTORE_FINISH_PATH,
    RestoreBeginRequest,
    RestoreFinishRequest,
)
from raftq.common.credentials import Role
from raftq.common.errors import RaftqError
from raftq.common.metadata_api import MetadataResponse
from raftq.common.metadata_results import QueueResult
from raftq.common.node_api import CONTENT_TYPE
from raftq.metadata.queue_restore import QueueRestorer
from raftq.raft.node_http import OPERATORS, error_response

RESTORER = web.AppKey("queue_restorer", QueueRestorer)
Authenticate = Callable[[web.Request, frozenset[Role]], Awaitable[bytes]]


def add_restore_routes(app: web.Application, authenticate: Authenticate) -> None:
    async def begin(request: web.Request) -> web.Response:
        try:
            call = codec.decode(await authenticate(request, OPERATORS), RestoreBeginRequest)
            begun = await request.app[RESTORER].begin(call)
        except RaftqError as error:
            return error_response(error)
        return web.Response(body=codec.encode(begun), content_type=CONTENT_TYPE)

    async def finish(request: web.Request) -> web.Response:
        try:
            call = codec.decode(await authenticate(request, OPERATORS), RestoreFinishRequest)
            queue = await request.app[RESTORER].finish(call)
        except RaftqError as error:
            return error_response(error)
        answer = MetadataResponse(result=QueueResult(queue=queue, changed=True))
        return web.Response(body=codec.encode(answer), content_type=CONTENT_TYPE)

    app.router.add_post(RESTORE_BEGIN_PATH, begin)
    app.router.add_post(RESTORE_FINISH_PATH, finish)

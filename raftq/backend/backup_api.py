"""Backup and restore routes of a backend node's internal API (docs/backup.md), for operators
(`raftq admin backup|restore`) and nodes; a frontend's credential is refused (403).

    POST /v1/backup/open     leader only; BackupOpenRequest -> BackupOpened (a checkpoint)
    POST /v1/backup/chunk    the node that opened the session; -> BackupChunk
    POST /v1/backup/close    -> BackupClosed
    POST /v1/restore/records leader only; an ImportRecords -> NodeResponse: it files records
                             only into a replica being restored under that session (ops_move.py)

Reading a backup fences nothing: the live queues go on serving while it is read out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel

from raftq.backend.backup_sessions import BackupSessions
from raftq.backend.node import BackendNode
from raftq.common import codec
from raftq.common.backup_api import (
    BACKUP_CHUNK_PATH,
    BACKUP_CLOSE_PATH,
    BACKUP_OPEN_PATH,
    RESTORE_RECORDS_PATH,
    BackupChunkRequest,
    BackupClosed,
    BackupCloseRequest,
    BackupOpenRequest,
)
from raftq.common.commands import ImportRecords
from raftq.common.credentials import Role
from raftq.common.errors import NotLeader, RaftqError
from raftq.common.node_api import CONTENT_TYPE, NodeResponse
from raftq.raft.node_http import OPERATORS, error_response

Authenticate = Callable[[web.Request, frozenset[Role]], Awaitable[bytes]]
_SESSIONS = web.AppKey("backup_sessions", BackupSessions)


def add_backup_routes(app: web.Application, node: BackendNode, authenticate: Authenticate) -> None:
    sessions = BackupSessions(node.machine)
    app[_SESSIONS] = sessions

    async def closing(app: web.Application) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(sessions.close_all)

    def require_leader() -> None:
        if not node.raft.is_leader:
            raise NotLeader("this node is not the leader", leader_hint=node.leader_api_address)

    async def open_backup(request: web.Request) -> web.Response:
        try:
            call = codec.decode(await authenticate(request, OPERATORS), BackupOpenRequest)
            require_leader()
            return _answer(await asyncio.to_thread(sessions.open, call))
        except RaftqError as error:
            return error_response(error)

    async def chunk(request: web.Request) -> web.Response:
        try:
            call = codec.decode(await authenticate(request, OPERATORS), BackupChunkRequest)
            return _answer(await asyncio.to_thread(sessions.chunk, call))
        except RaftqError as error:
            return error_response(error)

    async def close(request: web.Request) -> web.Response:
        try:
            call = codec.decode(await authenticate(request, OPERATORS), BackupCloseRequest)
            closed = await asyncio.to_thread(sessions.close, call.session)
            return _answer(BackupClosed(closed=closed))
        except RaftqError as error:
            return error_response(error)

    async def restore_records(request: web.Request) -> web.Response:
        try:
            command = codec.decode(await authenticate(request, OPERATORS), ImportRecords)
            require_leader()
            result = await node.execute(command, 0)
        except RaftqError as error:
            return error_response(error)
        return _answer(NodeResponse(result=result))

    app.cleanup_ctx.append(closing)
    app.router.add_post(BACKUP_OPEN_PATH, open_backup)
    app.router.add_post(BACKUP_CHUNK_PATH, chunk)
    app.router.add_post(BACKUP_CLOSE_PATH, close)
    app.router.add_post(RESTORE_RECORDS_PATH, restore_records)


def _answer(model: BaseModel) -> web.Response:
    return web.Response(body=codec.encode(model), content_type=CONTENT_TYPE)

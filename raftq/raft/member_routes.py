"""The operators' routes for a Raft group's membership, served by every metadata and backend
node (`raftq admin members …`, `raftq admin raft step-down`):

    POST /v1/raft/members    operators and nodes; leader only (421 with a hint elsewhere);
                             JSON {"action": "add", "member": {node_id, zone, raft_address,
                             api_address}} or {"action": "remove", "node_id": …}; answers once
                             the change is committed: {"members": [...]}
    POST /v1/raft/step-down  operators and nodes; any member: a leader hands leadership to
                             the follower with its whole log and answers once it no longer
                             leads; a follower answers at once. {"was_leader", "moved",
                             "leader"} (the API address of the leader now, when known)

Bodies are JSON (operators type them); every refusal names its field and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from raftq.common.errors import InvalidParameter, OutcomeUnknown, RaftqError
from raftq.common.settings import Member
from raftq.raft.membership import MemberChange
from raftq.raft.node import RaftNode
from raftq.raft.node_http import OPERATORS, error_response

MEMBERS_PATH = "/v1/raft/members"
STEP_DOWN_PATH = "/v1/raft/step-down"
# A change commits within a few heartbeats; past this its outcome is unknown (it may still
# commit: `raftq admin members list` tells).
CHANGE_TIMEOUT_S = 15.0

# The caller's request body, once its caller may call operator routes (node_http).
Authenticate = Callable[[web.Request, frozenset[Any]], Awaitable[bytes]]


class _Add(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Literal["add"]
    member: Member


class _Remove(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Literal["remove"]
    node_id: str


def add_member_routes(
    app: web.Application, raft: Callable[[], RaftNode], authenticate: Authenticate
) -> None:
    async def change(request: web.Request) -> web.Response:
        node = raft()
        try:
            body = await authenticate(request, OPERATORS)
            if not node.is_leader:
                raise node.not_leader()
            planned = _change_of(body, node)
            await asyncio.wait_for(node.change_members(planned), CHANGE_TIMEOUT_S)
        except TimeoutError:
            return error_response(
                OutcomeUnknown("the change did not commit in time; it may still take effect")
            )
        except RaftqError as error:
            return error_response(error)
        return web.json_response({"members": node.members()})

    async def step_down(request: web.Request) -> web.Response:
        node = raft()
        try:
            await authenticate(request, OPERATORS)
        except RaftqError as error:
            return error_response(error)
        was_leader = node.is_leader
        moved = await node.step_down()
        return web.json_response(
            {
                "was_leader": was_leader,
                "moved": moved,
                "leader": node.api_address_of(node.leader),
            }
        )

    app.router.add_post(MEMBERS_PATH, change)
    app.router.add_post(STEP_DOWN_PATH, step_down)


def _change_of(body: bytes, node: RaftNode) -> MemberChange:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter("the body is not JSON", field="body") from None
    action = data.get("action") if isinstance(data, dict) else None
    try:
        if action == "add":
            return MemberChange("add", _Add.model_validate(data).member)
        if action == "remove":
            node_id = _Remove.model_validate(data).node_id
            member = node.membership.directory.by_node_id(node_id)
            configured = {row["raft_address"] for row in node.members()}
            if member is None or member.raft_address not in configured:
                raise InvalidParameter(
                    f"{node_id!r} is not a member of this group", field="node_id"
                )
            return MemberChange("remove", member)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidParameter(f"{where}: {first['msg']}", field=where) from None
    raise InvalidParameter('action must be "add" or "remove"', field="action")

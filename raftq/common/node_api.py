"""Wire models of the internal node API (`POST /v1/commands` on a backend node).

Bodies are msgpack (`codec.encode` / `codec.decode`), signed with the cluster secret
(`cluster_auth`). See docs/internal-api.md.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from raftq.common import limits
from raftq.common.commands import AnyCommand
from raftq.common.results import CommandResult
from raftq.common.wire import WireModel

COMMANDS_PATH = "/v1/commands"
CONTENT_TYPE = "application/x-msgpack"


class NodeRequest(WireModel):
    command: AnyCommand
    # Long poll: a receive that finds nothing waits up to this long for a message.
    wait_ms: Annotated[int, Field(ge=0, le=limits.RECEIVE_WAIT_MAX_MS)] = 0


class NodeResponse(WireModel):
    result: CommandResult


class NodeError(WireModel):
    code: str
    message: str
    field: str | None = None
    # For NotLeader: the API address of the leader, when known.
    leader: str | None = None

"""Wire models of the internal node API (`POST /v1/commands` on a backend node).

Bodies are msgpack (`codec.encode` / `codec.decode`), signed with the cluster secret
(`cluster_auth`). See docs/internal-api.md.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from raftq.common import limits
from raftq.common.commands import AnyCommand
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import CommandResult
from raftq.common.wire import WireModel

COMMANDS_PATH = "/v1/commands"
EXPORT_PATH = "/v1/export"
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


class ExportRequest(WireModel):
    """Ask a backend leader for the next chunk of a fenced queue (a move)."""

    queue: str
    epoch: int
    after: bytes | None = None  # the cursor of the previous chunk


class ExportChunk(WireModel):
    fifo: bool
    attributes: QueueAttributes
    created_at_ms: int
    created_index: int
    last_purge_at_ms: int | None
    records: tuple[tuple[bytes, bytes], ...]  # portable keys
    after: bytes | None  # the cursor to ask with next; None after the last chunk

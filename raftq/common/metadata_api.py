"""Wire models of the metadata node API and its client. See docs/internal-api.md."""

from __future__ import annotations

from typing import Annotated, Any

import aiohttp
from pydantic import Field

from raftq.common import codec
from raftq.common.backend_client import NodeClient
from raftq.common.errors import BackendUnavailable
from raftq.common.metadata_commands import AnyMetadataCommand
from raftq.common.metadata_models import (
    FrontendId,
    FrontendName,
    Grant,
    Identifier,
    QueueName,
    Tags,
)
from raftq.common.metadata_results import MetadataResult
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes
from raftq.common.wire import WireModel

# A GET (catalogue, placement, status) is read from one member's memory.
READ_TIMEOUT_S = 3.0
METADATA_COMMANDS_PATH = "/v1/commands"
CREATE_QUEUE_PATH = "/v1/queues/create"
DELETE_QUEUE_PATH = "/v1/queues/delete"
CREATE_KEY_PATH = "/v1/keys/create"
SET_QUEUE_PATH = "/v1/queues/set"
MOVE_QUEUE_PATH = "/v1/queues/move"
MOVES_PATH = "/v1/moves"
LOOKUP_KEY_PATH = "/v1/keys/lookup"
CREATE_FRONTEND_PATH = "/v1/frontends/create"
LOOKUP_FRONTEND_PATH = "/v1/frontends/lookup"


class MetadataRequest(WireModel):
    command: AnyMetadataCommand


class MetadataResponse(WireModel):
    result: MetadataResult


class CreateQueueRequest(WireModel):
    """Create a queue end to end: catalogue, placement, replica (queue_lifecycle.py)."""

    actor: Identifier
    name: QueueName
    fifo: bool = False
    attributes: QueueAttributes = QueueAttributes()
    # Set on a new queue; a creation that finds the queue (same attributes) leaves its tags.
    tags: Tags = Field(default_factory=dict)


class DeleteQueueRequest(WireModel):
    actor: Identifier
    name: QueueName


class SetQueueRequest(WireModel):
    """Change some attributes (the others stay): catalogue first, then the replica."""

    actor: Identifier
    name: QueueName
    changes: QueueAttributeChanges


class MoveQueueRequest(WireModel):
    """Start moving a queue (queue_move.py); `target` None lets the leader choose."""

    actor: Identifier
    name: QueueName
    target: Identifier | None = None


class CreateKeyRequest(WireModel):
    actor: Identifier
    principal_id: Identifier


class LookupKeyRequest(WireModel):
    key_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9]+$")]


class KeyCredentials(WireModel):
    """What a frontend needs to authenticate and authorize a request signed with a key: the
    secret (sent only over the signed internal API) and its principal's grants."""

    key_id: str
    principal_id: str
    secret: str
    grants: tuple[Grant, ...]


class CreatedKey(WireModel):
    """The only time a secret is shown: keep it, it cannot be read back."""

    key_id: str
    secret: str


class CreateFrontendRequest(WireModel):
    actor: Identifier
    name: FrontendName


class CreatedFrontend(WireModel):
    """The only time a frontend's secret is shown: give `credential` to that frontend."""

    frontend_id: str
    name: str
    secret: str

    @property
    def credential(self) -> str:
        return f"{self.frontend_id}:{self.secret}"


class LookupFrontendRequest(WireModel):
    frontend_id: FrontendId


class FrontendSecret(WireModel):
    """For backends verifying a frontend on the data channel (sent to nodes only)."""

    frontend_id: str
    name: str
    secret: str


class MetadataClient(NodeClient):
    """Client of the metadata group: commands go to the leader."""

    async def execute(self, command: AnyMetadataCommand) -> Any:
        raw = await self.call(
            METADATA_COMMANDS_PATH, codec.encode(MetadataRequest(command=command))
        )
        return codec.decode(raw, MetadataResponse).result

    async def create_queue(self, request: CreateQueueRequest) -> Any:
        raw = await self.call(CREATE_QUEUE_PATH, codec.encode(request))
        return codec.decode(raw, MetadataResponse).result

    async def delete_queue(self, request: DeleteQueueRequest) -> Any:
        raw = await self.call(DELETE_QUEUE_PATH, codec.encode(request))
        return codec.decode(raw, MetadataResponse).result

    async def set_queue(self, request: SetQueueRequest) -> Any:
        raw = await self.call(SET_QUEUE_PATH, codec.encode(request))
        return codec.decode(raw, MetadataResponse).result

    async def move_queue(self, request: MoveQueueRequest) -> Any:
        raw = await self.call(MOVE_QUEUE_PATH, codec.encode(request))
        return codec.decode(raw, MetadataResponse).result

    async def get(self, path: str) -> dict[str, Any] | None:
        """A signed GET answered by the first member that can (the leader first, when known;
        suspects last); None for 404. A read is cheap, so a member gets at most
        `READ_TIMEOUT_S` to answer before it is suspect and the next one is asked."""
        timeout = aiohttp.ClientTimeout(
            total=min(self._timeout_s, READ_TIMEOUT_S), sock_connect=self._connect_timeout_s
        )
        for address in self._candidates():
            try:
                async with self._session.get(
                    self.url(address, path),
                    headers=self.headers_for("GET", path, b""),
                    timeout=timeout,
                    ssl=self.ssl_argument,
                ) as response:
                    if response.status == 404:
                        return None
                    if response.status == 200:
                        payload: dict[str, Any] = await response.json()
                        return payload
            except (aiohttp.ClientError, TimeoutError) as error:
                self.tls_refused(address, error)
                self._suspect(address)
                continue
        raise BackendUnavailable(f"no metadata member answered {path}")

    async def lookup_key(self, key_id: str) -> KeyCredentials:
        """The credentials of a live key (the leader answers); `AccessKeyNotFound` for an
        unknown or revoked one."""
        raw = await self.call(LOOKUP_KEY_PATH, codec.encode(LookupKeyRequest(key_id=key_id)))
        return codec.decode(raw, KeyCredentials)

    async def create_key(self, request: CreateKeyRequest) -> CreatedKey:
        raw = await self.call(CREATE_KEY_PATH, codec.encode(request))
        return codec.decode(raw, CreatedKey)

    async def create_frontend(self, request: CreateFrontendRequest) -> CreatedFrontend:
        raw = await self.call(CREATE_FRONTEND_PATH, codec.encode(request))
        return codec.decode(raw, CreatedFrontend)

    async def lookup_frontend(self, frontend_id: str) -> FrontendSecret:
        """The secret of a live frontend credential (the leader answers); `FrontendNotFound`
        for an unknown or revoked one."""
        request = LookupFrontendRequest(frontend_id=frontend_id)
        raw = await self.call(LOOKUP_FRONTEND_PATH, codec.encode(request))
        return codec.decode(raw, FrontendSecret)

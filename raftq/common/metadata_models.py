"""The metadata service's records, as its clients (frontends, backends, the admin CLI) see them.

Times are milliseconds of state time (stamped by the metadata leader into each command).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from raftq.common import limits
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.wire import TimestampMs, WireModel

# SQS queue names: 1-80 of [A-Za-z0-9_-], FIFO queues end in `.fifo` (counted in the 80).
QueueName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.QUEUE_NAME_MAX_CHARS,
        pattern=r"^[A-Za-z0-9_-]+(\.fifo)?$",
    ),
]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Address = Annotated[str, Field(pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")]
Action = Literal["send", "receive", "delete", "admin"]
Lifecycle = Literal["creating", "active", "moving", "deleting"]


class ClusterMember(WireModel):
    node_id: Identifier
    zone: Identifier
    raft_address: Address
    api_address: Address


class NodeReport(WireModel):
    reported_at_ms: TimestampMs
    messages: Annotated[int, Field(ge=0)]
    queues: Annotated[int, Field(ge=0)]


class Cluster(WireModel):
    cluster_id: Identifier
    members: tuple[ClusterMember, ...]
    draining: bool = False
    reports: dict[str, NodeReport] = Field(default_factory=dict)


class Placement(WireModel):
    cluster_id: Identifier
    # Raised by every move: a backend refuses requests stamped with an older epoch.
    epoch: Annotated[int, Field(ge=1)]


class DataKey(WireModel):
    """A queue's data key as frontends stored it: wrapped by their master key `master_key_id`
    (raftq/frontend/envelope.py). The metadata service cannot open it. In JSON, `wrapped` is
    base64."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, ser_json_bytes="base64", val_json_bytes="base64"
    )

    version: Annotated[int, Field(ge=1, le=2**31)]
    master_key_id: Identifier
    wrapped: Annotated[bytes, Field(min_length=1, max_length=256)]


class Queue(WireModel):
    queue_id: Identifier
    name: QueueName
    owner: Identifier
    fifo: bool
    attributes: QueueAttributes
    placement: Placement
    lifecycle: Lifecycle
    move_target: Identifier | None = None
    created_at_ms: TimestampMs
    data_keys: tuple[DataKey, ...] = ()


class AccessKey(WireModel):
    key_id: Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")]
    principal_id: Identifier
    # The secret, encrypted by the service under its master key: never stored or shown in clear.
    secret_ciphertext: Annotated[bytes, Field(min_length=1, max_length=1024)]
    created_at_ms: TimestampMs
    revoked_at_ms: TimestampMs | None = None


class Grant(WireModel):
    principal_id: Identifier
    # A queue name, or a prefix ending in `*` (`orders-*`); `*` alone means every queue.
    queues: Annotated[str, Field(min_length=1, max_length=81, pattern=r"^[A-Za-z0-9_.-]*\*?$")]
    actions: Annotated[tuple[Action, ...], Field(min_length=1)]

    def covers(self, queue_name: str, action: Action) -> bool:
        if action not in self.actions:
            return False
        if self.queues.endswith("*"):
            return queue_name.startswith(self.queues[:-1])
        return queue_name == self.queues


class Principal(WireModel):
    principal_id: Identifier
    created_at_ms: TimestampMs


class AuditEntry(WireModel):
    index: int
    at_ms: TimestampMs
    actor: Identifier
    action: str
    target: str

"""The metadata service's records, as its clients (frontends, backends, the admin CLI) see them.

Times are milliseconds of state time (stamped by the metadata leader into each command).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from raftq.common import limits
from raftq.common.credentials import FRONTEND_ID_PATTERN, FRONTEND_NAME_PATTERN
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


def _not_reserved(key: str) -> str:
    # AWS reserves the prefix in any case (`aws:`, `AWS:`, `Aws:`).
    if key.lower().startswith(limits.TAG_KEY_RESERVED_PREFIX):
        raise ValueError(f"tag keys starting with {limits.TAG_KEY_RESERVED_PREFIX!r} are reserved")
    return key


def _sorted_by_key(tags: dict[str, str]) -> dict[str, str]:
    # Canonical order, so equal tag sets give equal snapshot bytes whatever order they came in.
    return dict(sorted(tags.items()))


TagKey = Annotated[
    str,
    Field(min_length=1, max_length=limits.TAG_KEY_MAX_CHARS),
    AfterValidator(_not_reserved),
]
TagValue = Annotated[str, Field(max_length=limits.TAG_VALUE_MAX_CHARS)]
Tags = Annotated[
    dict[TagKey, TagValue],
    Field(max_length=limits.TAGS_PER_QUEUE_MAX),
    AfterValidator(_sorted_by_key),
]
# SQS AddPermission labels: 1-80 of [A-Za-z0-9_-].
GrantLabel = Annotated[
    str, Field(min_length=1, max_length=limits.GRANT_LABEL_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$")
]
MoveTaskHandle = Annotated[
    str,
    Field(min_length=1, max_length=limits.MOVE_TASK_HANDLE_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$"),
]
MoveTaskStatus = Literal["RUNNING", "CANCELLING", "CANCELLED", "COMPLETED", "FAILED"]
MOVE_TASK_FINISHED: Final = frozenset({"CANCELLED", "COMPLETED", "FAILED"})
MoveTaskFailureReason = Annotated[str, Field(max_length=limits.MOVE_TASK_FAILURE_REASON_MAX_CHARS)]


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
    (raftq/common/envelope.py). The metadata service cannot open it. In JSON, `wrapped` is
    base64."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, ser_json_bytes="base64", val_json_bytes="base64"
    )

    version: Annotated[int, Field(ge=1, le=2**31)]
    master_key_id: Identifier
    wrapped: Annotated[bytes, Field(min_length=1, max_length=256)]


class RedriveAllowPolicy(WireModel):
    """Which queues may name this one as their dead-letter queue (SQS RedriveAllowPolicy). It is
    checked when a source sets its redrive policy; sources already pointing here keep it."""

    permission: Literal["allowAll", "denyAll", "byQueue"]
    source_queues: Annotated[
        tuple[QueueName, ...], Field(max_length=limits.REDRIVE_ALLOW_SOURCE_QUEUES_MAX)
    ] = ()

    @model_validator(mode="after")
    def _sources_only_by_queue(self) -> RedriveAllowPolicy:
        if (self.permission == "byQueue") != bool(self.source_queues):
            raise ValueError(
                f"byQueue names 1-{limits.REDRIVE_ALLOW_SOURCE_QUEUES_MAX} source queues; "
                "allowAll and denyAll name none"
            )
        return self

    def allows(self, source_name: str) -> bool:
        if self.permission == "byQueue":
            return source_name in self.source_queues
        return self.permission == "allowAll"


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
    tags: Tags = Field(default_factory=dict)
    redrive_allow: RedriveAllowPolicy | None = None  # None allows every source, as allowAll
    # When its attributes (or redrive-allow policy) last changed; None until they first do, so
    # records written before this field existed read as unchanged since creation.
    modified_at_ms: TimestampMs | None = None
    # The queue id its messages and data keys are sealed under, when not its own: a queue
    # restored from a backup keeps its source's (docs/backup.md), so its messages still open.
    # Left out of its encodings while None, so they read as before for every other queue.
    sealing_id: Identifier | None = Field(default=None, exclude_if=lambda value: value is None)

    @property
    def sealing_identity(self) -> str:
        """The queue id bound into its seals (common/envelope.py)."""
        return self.sealing_id or self.queue_id

    @property
    def attributes_changed_at_ms(self) -> int:
        return self.created_at_ms if self.modified_at_ms is None else self.modified_at_ms

    def allows_dead_letters_from(self, source_name: str) -> bool:
        return self.redrive_allow is None or self.redrive_allow.allows(source_name)


class RetiredQueue(WireModel):
    """What is kept of a deleted queue: its data keys, so that messages it sealed and that were
    dead-lettered into another queue still open. Kept for the longest retention after the
    deletion, past which no such message can remain."""

    queue_id: Identifier
    name: QueueName
    data_keys: tuple[DataKey, ...]
    retired_at_ms: TimestampMs
    sealing_id: Identifier | None = Field(default=None, exclude_if=lambda value: value is None)

    @property
    def sealing_identity(self) -> str:
        return self.sealing_id or self.queue_id


class AccessKey(WireModel):
    key_id: Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")]
    principal_id: Identifier
    # The secret, encrypted by the service under its master key: never stored or shown in clear.
    secret_ciphertext: Annotated[bytes, Field(min_length=1, max_length=1024)]
    created_at_ms: TimestampMs
    revoked_at_ms: TimestampMs | None = None


FrontendId = Annotated[str, Field(pattern=rf"^{FRONTEND_ID_PATTERN}$")]
FrontendName = Annotated[str, Field(pattern=rf"^{FRONTEND_NAME_PATTERN}$")]


class FrontendRecord(WireModel):
    """One frontend's credential (common/credentials.py): its secret sealed under the master key
    (metadata/sealing.py) as access keys' are; once revoked, refused on every route."""

    frontend_id: FrontendId
    name: FrontendName
    secret_ciphertext: Annotated[bytes, Field(min_length=1, max_length=1024)]
    created_at_ms: TimestampMs
    revoked_at_ms: TimestampMs | None = None


class Grant(WireModel):
    principal_id: Identifier
    # A queue name, or a prefix ending in `*` (`orders-*`); `*` alone means every queue.
    queues: Annotated[str, Field(min_length=1, max_length=81, pattern=r"^[A-Za-z0-9_.-]*\*?$")]
    actions: Annotated[tuple[Action, ...], Field(min_length=1)]
    # Set on grants made by SQS AddPermission (one label names them all, on one queue), so that
    # RemovePermission removes them together and deleting the queue removes them. Admin grants
    # have none.
    label: GrantLabel | None = None

    def covers(self, queue_name: str, action: Action) -> bool:
        if action not in self.actions:
            return False
        if self.queues.endswith("*"):
            return queue_name.startswith(self.queues[:-1])
        return queue_name == self.queues


class Principal(WireModel):
    principal_id: Identifier
    created_at_ms: TimestampMs


class MessageMoveTask(WireModel):
    """An SQS message move task (StartMessageMoveTask): moves the messages of `source_queue` to
    `destination_queue`, or each to its original source queue when that is None. The catalogue
    keeps its record; a mover reports progress into it."""

    task_handle: MoveTaskHandle
    source_queue: QueueName
    destination_queue: QueueName | None = None
    max_per_second: Annotated[int, Field(ge=1, le=limits.MOVE_TASK_RATE_MAX_PER_S)] | None = None
    status: MoveTaskStatus
    moved: Annotated[int, Field(ge=0)] = 0
    to_move: Annotated[int, Field(ge=0)]
    started_at_ms: TimestampMs
    updated_at_ms: TimestampMs
    failure_reason: MoveTaskFailureReason | None = None
    actor: Identifier

    @property
    def finished(self) -> bool:
        return self.status in MOVE_TASK_FINISHED


class AuditEntry(WireModel):
    index: int
    at_ms: TimestampMs
    actor: Identifier
    action: str
    target: str

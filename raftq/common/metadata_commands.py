"""Commands of the metadata state machine: versioned, frozen, typed values (as for backends).

Every command names its `actor` (the principal on whose behalf it is made) for the audit trail,
and carries the leader's `now_ms`. Choices that need the world outside the log (which cluster a
new queue goes to, a queue's id, a key's encrypted secret) are made by the leader and carried in
the command, so apply stays deterministic.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from raftq.common import limits
from raftq.common.metadata_models import (
    Action,
    ClusterMember,
    DataKey,
    FrontendId,
    FrontendName,
    Grant,
    GrantLabel,
    Identifier,
    MoveTaskFailureReason,
    MoveTaskHandle,
    Placement,
    QueueName,
    RedriveAllowPolicy,
    TagKey,
    Tags,
)
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.schedule_models import ScheduleDefinition, ScheduleId, ScheduleName
from raftq.common.wire import QueueId, TimestampMs, WireModel

METADATA_COMMAND_VERSION = 1


class MetadataCommand(WireModel):
    now_ms: TimestampMs
    actor: Identifier


class RegisterCluster(MetadataCommand):
    kind: Literal["register_cluster"] = "register_cluster"
    cluster_id: Identifier
    members: Annotated[tuple[ClusterMember, ...], Field(min_length=1, max_length=7)]


class SetClusterMembers(MetadataCommand):
    """An operator's record of a cluster's members after a membership change of its Raft group
    (`raftq admin members`): frontends find the cluster's nodes by it."""

    kind: Literal["set_cluster_members"] = "set_cluster_members"
    cluster_id: Identifier
    members: Annotated[tuple[ClusterMember, ...], Field(min_length=1, max_length=7)]


class ReportLoad(MetadataCommand):
    kind: Literal["report_load"] = "report_load"
    cluster_id: Identifier
    node_id: Identifier
    messages: Annotated[int, Field(ge=0)]
    queues: Annotated[int, Field(ge=0)]
    # From the cluster's leader: the queues (by id) holding dead letters that wait for a
    # dead-letter queue elsewhere. The metadata leader keeps them in memory for its forwarder
    # (metadata/dead_letter_reports.py) and never writes them to its log.
    dead_letter_queues: Annotated[
        tuple[QueueId, ...], Field(max_length=limits.DEAD_LETTER_REPORT_MAX_QUEUES)
    ] = ()


class DrainCluster(MetadataCommand):
    kind: Literal["drain_cluster"] = "drain_cluster"
    cluster_id: Identifier
    draining: bool = True


class CreateQueue(MetadataCommand):
    """Catalogue a new queue as `creating` on the placement the leader chose."""

    kind: Literal["create_queue"] = "create_queue"
    queue_id: Identifier
    name: QueueName
    fifo: bool = False
    attributes: QueueAttributes = QueueAttributes()
    placement: Placement
    # Set on the new queue only: like SQS, a creation that finds the queue ignores them.
    tags: Tags = Field(default_factory=dict)
    # A queue restored from a backup: its source's data keys and sealing identity
    # (metadata/queue_restore.py); a new queue has neither, and its command is encoded as before.
    data_keys: tuple[DataKey, ...] = Field(default=(), exclude_if=lambda value: not value)
    sealing_id: Identifier | None = Field(default=None, exclude_if=lambda value: value is None)


class ActivateQueue(MetadataCommand):
    """The queue's backend replica exists: the queue serves."""

    kind: Literal["activate_queue"] = "activate_queue"
    name: QueueName
    queue_id: Identifier


class SetQueueAttributes(MetadataCommand):
    kind: Literal["set_queue_attributes"] = "set_queue_attributes"
    name: QueueName
    attributes: QueueAttributes


class BeginDeleteQueue(MetadataCommand):
    kind: Literal["begin_delete_queue"] = "begin_delete_queue"
    name: QueueName


class ForgetQueue(MetadataCommand):
    """The backend dropped the queue's data: forget the queue."""

    kind: Literal["forget_queue"] = "forget_queue"
    name: QueueName
    queue_id: Identifier


class BeginMove(MetadataCommand):
    kind: Literal["begin_move"] = "begin_move"
    name: QueueName
    target_cluster: Identifier


class SwitchPlacement(MetadataCommand):
    """The target holds the queue's state: serve it there, with a new epoch that fences the
    source."""

    kind: Literal["switch_placement"] = "switch_placement"
    name: QueueName
    queue_id: Identifier


class AddDataKey(MetadataCommand):
    """Store a data key version for a queue unless it has one already: the first frontend to
    add a version wins, and every frontend then uses the stored one."""

    kind: Literal["add_data_key"] = "add_data_key"
    name: QueueName
    queue_id: Identifier
    key: DataKey


class RewrapDataKey(MetadataCommand):
    """Store an existing data key version wrapped by another master key (a master-key
    rotation): the key itself is unchanged, so every message sealed with it still opens."""

    kind: Literal["rewrap_data_key"] = "rewrap_data_key"
    name: QueueName
    queue_id: Identifier
    key: DataKey


class CreatePrincipal(MetadataCommand):
    kind: Literal["create_principal"] = "create_principal"
    principal_id: Identifier


class DeletePrincipal(MetadataCommand):
    kind: Literal["delete_principal"] = "delete_principal"
    principal_id: Identifier


class CreateAccessKey(MetadataCommand):
    kind: Literal["create_access_key"] = "create_access_key"
    principal_id: Identifier
    key_id: Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")]
    secret_ciphertext: Annotated[bytes, Field(min_length=1, max_length=1024)]


class RevokeAccessKey(MetadataCommand):
    kind: Literal["revoke_access_key"] = "revoke_access_key"
    key_id: Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")]


class CreateFrontend(MetadataCommand):
    kind: Literal["create_frontend"] = "create_frontend"
    frontend_id: FrontendId
    name: FrontendName
    secret_ciphertext: Annotated[bytes, Field(min_length=1, max_length=1024)]


class RevokeFrontend(MetadataCommand):
    kind: Literal["revoke_frontend"] = "revoke_frontend"
    name: FrontendName


class AddGrant(MetadataCommand):
    kind: Literal["add_grant"] = "add_grant"
    grant: Grant


class RemoveGrant(MetadataCommand):
    kind: Literal["remove_grant"] = "remove_grant"
    principal_id: Identifier
    queues: str
    actions: tuple[Action, ...] | None = None  # None removes the grant whatever its actions


class TagQueue(MetadataCommand):
    """Add tags to a queue; a key it has already gets the new value."""

    kind: Literal["tag_queue"] = "tag_queue"
    name: QueueName
    tags: Annotated[Tags, Field(min_length=1)]


class UntagQueue(MetadataCommand):
    """Remove tags from a queue by key; keys it does not have are ignored."""

    kind: Literal["untag_queue"] = "untag_queue"
    name: QueueName
    keys: Annotated[tuple[TagKey, ...], Field(min_length=1, max_length=limits.TAGS_PER_QUEUE_MAX)]


class SetRedriveAllowPolicy(MetadataCommand):
    """Say which queues may use this one as their dead-letter queue; None allows all."""

    kind: Literal["set_redrive_allow_policy"] = "set_redrive_allow_policy"
    name: QueueName
    policy: RedriveAllowPolicy | None


class AddLabelledGrants(MetadataCommand):
    """SQS AddPermission: grants on one queue, all carrying `label`, added together. The label
    must be new on that queue."""

    kind: Literal["add_labelled_grants"] = "add_labelled_grants"
    queue: QueueName
    label: GrantLabel
    grants: Annotated[tuple[Grant, ...], Field(min_length=1, max_length=limits.LABELLED_GRANTS_MAX)]


class RemoveLabelledGrants(MetadataCommand):
    """SQS RemovePermission: remove every grant on `queue` that carries `label`."""

    kind: Literal["remove_labelled_grants"] = "remove_labelled_grants"
    queue: QueueName
    label: GrantLabel


class StartMessageMoveTask(MetadataCommand):
    """Record a new message move task, RUNNING, of `to_move` messages (the source's count when
    it starts). The handle is chosen by the caller."""

    kind: Literal["start_message_move_task"] = "start_message_move_task"
    task_handle: MoveTaskHandle
    source_queue: QueueName
    destination_queue: QueueName | None = None  # None: each message's original source queue
    max_per_second: Annotated[int, Field(ge=1, le=limits.MOVE_TASK_RATE_MAX_PER_S)] | None = None
    to_move: Annotated[int, Field(ge=0)]


class ReportMessageMoveTask(MetadataCommand):
    """The mover's progress: `moved` so far, and the status it reached. A FAILED report says why,
    and only a FAILED one."""

    kind: Literal["report_message_move_task"] = "report_message_move_task"
    task_handle: MoveTaskHandle
    moved: Annotated[int, Field(ge=0)]
    status: Literal["RUNNING", "CANCELLED", "COMPLETED", "FAILED"]
    failure_reason: MoveTaskFailureReason | None = None

    @model_validator(mode="after")
    def _reason_iff_failed(self) -> ReportMessageMoveTask:
        if (self.status == "FAILED") != (self.failure_reason is not None):
            raise ValueError("a FAILED report carries a failure_reason, and only a FAILED one")
        return self


class CancelMessageMoveTask(MetadataCommand):
    """Ask the mover to stop a RUNNING task: it becomes CANCELLING until the mover reports."""

    kind: Literal["cancel_message_move_task"] = "cancel_message_move_task"
    task_handle: MoveTaskHandle


class AddSchedule(MetadataCommand):
    """Add a schedule on a live standard queue. The metadata leader fills `next_tick_ms` in
    (metadata/schedule_ticks.py: its clock, the schedule's cron), so apply evaluates no cron;
    the sender leaves it 0. The same schedule id again is answered with the stored schedule (a
    retried creation)."""

    kind: Literal["add_schedule"] = "add_schedule"
    schedule: ScheduleDefinition
    next_tick_ms: TimestampMs = 0


class PauseSchedule(MetadataCommand):
    """Stop firing. `queue` is the queue the caller was authorized on: a schedule of another
    queue (one made again under this name meanwhile) is not found."""

    kind: Literal["pause_schedule"] = "pause_schedule"
    name: ScheduleName
    queue: QueueName


class ResumeSchedule(MetadataCommand):
    """Fire again from the first tick after now (the leader fills `next_tick_ms` in): the
    ticks that fell while paused are not fired."""

    kind: Literal["resume_schedule"] = "resume_schedule"
    name: ScheduleName
    queue: QueueName
    next_tick_ms: TimestampMs = 0


class RemoveSchedule(MetadataCommand):
    kind: Literal["remove_schedule"] = "remove_schedule"
    name: ScheduleName
    queue: QueueName


class RecordTick(MetadataCommand):
    """The leader sent the task of `tick_ms` to the queue (metadata/schedule_firing.py): the
    tick is fired, the next one to fire is `next_tick_ms`."""

    kind: Literal["record_tick"] = "record_tick"
    schedule_id: ScheduleId
    tick_ms: TimestampMs
    next_tick_ms: TimestampMs

    @model_validator(mode="after")
    def _next_is_later(self) -> RecordTick:
        if self.next_tick_ms <= self.tick_ms:
            raise ValueError("the next tick comes after the one fired")
        return self


AnyMetadataCommand = Annotated[
    RegisterCluster
    | ReportLoad
    | DrainCluster
    | SetClusterMembers
    | CreateQueue
    | ActivateQueue
    | SetQueueAttributes
    | BeginDeleteQueue
    | ForgetQueue
    | BeginMove
    | SwitchPlacement
    | AddDataKey
    | RewrapDataKey
    | CreatePrincipal
    | DeletePrincipal
    | CreateAccessKey
    | RevokeAccessKey
    | CreateFrontend
    | RevokeFrontend
    | AddGrant
    | RemoveGrant
    | TagQueue
    | UntagQueue
    | SetRedriveAllowPolicy
    | AddLabelledGrants
    | RemoveLabelledGrants
    | StartMessageMoveTask
    | ReportMessageMoveTask
    | CancelMessageMoveTask
    | AddSchedule
    | PauseSchedule
    | ResumeSchedule
    | RemoveSchedule
    | RecordTick,
    Field(discriminator="kind"),
]


class MetadataCommandBatch(WireModel):
    v: Literal[1] = 1
    commands: Annotated[tuple[AnyMetadataCommand, ...], Field(min_length=1)]

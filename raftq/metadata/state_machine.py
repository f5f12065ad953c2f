"""The metadata state machine: `apply(index, payload) -> results` (pure, like the queue one).

Same rules as raftq/backend/state_machine.py: no clock, randomness or I/O; a command that fails
changes nothing and yields a `Failure`; entries at or below the applied index are skipped; state
time is the largest `now_ms` applied; a chained digest of (index, payload) lets replicas be
compared. The state is small (catalogue, not messages), so it lives in memory and a snapshot is
its canonical bytes (`MetadataState.to_bytes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from raftq.common import codec
from raftq.common.errors import ApplyFailed, RaftqError
from raftq.common.metadata_commands import (
    ActivateQueue,
    AddDataKey,
    AddGrant,
    AddLabelledGrants,
    AddSchedule,
    BeginDeleteQueue,
    BeginMove,
    CancelMessageMoveTask,
    CreateAccessKey,
    CreateFrontend,
    CreatePrincipal,
    CreateQueue,
    DeletePrincipal,
    DrainCluster,
    ForgetQueue,
    MetadataCommand,
    MetadataCommandBatch,
    PauseSchedule,
    RecordTick,
    RegisterCluster,
    RemoveGrant,
    RemoveLabelledGrants,
    RemoveSchedule,
    ReportLoad,
    ReportMessageMoveTask,
    ResumeSchedule,
    RevokeAccessKey,
    RevokeFrontend,
    RewrapDataKey,
    SetClusterMembers,
    SetQueueAttributes,
    SetRedriveAllowPolicy,
    StartMessageMoveTask,
    SwitchPlacement,
    TagQueue,
    UntagQueue,
)
from raftq.common.metadata_models import AuditEntry
from raftq.common.results import Failure
from raftq.metadata import (
    data_keys,
    frontend_records,
    handlers,
    message_move_tasks,
    schedules,
)
from raftq.metadata.state import MetadataState

_HANDLERS: dict[type[MetadataCommand], Callable[[MetadataState, Any], Any]] = {
    RegisterCluster: handlers.register_cluster,
    SetClusterMembers: handlers.set_cluster_members,
    ReportLoad: handlers.report_load,
    DrainCluster: handlers.drain_cluster,
    CreateQueue: handlers.create_queue,
    ActivateQueue: handlers.activate_queue,
    SetQueueAttributes: handlers.set_queue_attributes,
    BeginDeleteQueue: handlers.begin_delete_queue,
    ForgetQueue: handlers.forget_queue,
    BeginMove: handlers.begin_move,
    SwitchPlacement: handlers.switch_placement,
    AddDataKey: data_keys.add_data_key,
    RewrapDataKey: data_keys.rewrap_data_key,
    CreatePrincipal: handlers.create_principal,
    DeletePrincipal: handlers.delete_principal,
    CreateAccessKey: handlers.create_access_key,
    RevokeAccessKey: handlers.revoke_access_key,
    CreateFrontend: frontend_records.create_frontend,
    RevokeFrontend: frontend_records.revoke_frontend,
    AddGrant: handlers.add_grant,
    RemoveGrant: handlers.remove_grant,
    TagQueue: handlers.tag_queue,
    UntagQueue: handlers.untag_queue,
    SetRedriveAllowPolicy: handlers.set_redrive_allow_policy,
    AddLabelledGrants: handlers.add_labelled_grants,
    RemoveLabelledGrants: handlers.remove_labelled_grants,
    StartMessageMoveTask: message_move_tasks.start_message_move_task,
    ReportMessageMoveTask: message_move_tasks.report_message_move_task,
    CancelMessageMoveTask: message_move_tasks.cancel_message_move_task,
    AddSchedule: schedules.add_schedule,
    PauseSchedule: schedules.pause_schedule,
    ResumeSchedule: schedules.resume_schedule,
    RemoveSchedule: schedules.remove_schedule,
    RecordTick: schedules.record_tick,
}

# Load reports arrive every few seconds from every backend, and a message move task's mover
# reports its progress as often: they are not administrative changes (starting and cancelling a
# task are, and are audited). A schedule's ticks are recorded as often as it fires.
_NOT_AUDITED = (ReportLoad, ReportMessageMoveTask, RecordTick)

GENESIS_DIGEST = bytes(32)


def _target(command: MetadataCommand) -> str:
    for name in ("name", "cluster_id", "principal_id", "key_id", "task_handle"):
        value = getattr(command, name, None)
        if isinstance(value, str):
            return value
    schedule = getattr(command, "schedule", None)
    if schedule is not None:
        return str(schedule.name)
    queue, label = getattr(command, "queue", None), getattr(command, "label", None)
    if isinstance(queue, str):
        return f"{queue}:{label}"
    grant = getattr(command, "grant", None)
    return f"{grant.principal_id}:{grant.queues}" if grant is not None else ""


class MetadataStateMachine:
    def __init__(self, state: MetadataState | None = None) -> None:
        self.state = state if state is not None else MetadataState()
        self.applied_index = 0
        self.clock_ms = 0
        self.digest = GENESIS_DIGEST

    def apply(self, index: int, payload: bytes) -> list[Any] | None:
        if index <= self.applied_index:
            return None
        results: list[Any] = []
        try:
            batch = codec.decode(payload, MetadataCommandBatch)
        except RaftqError as error:
            results.append(Failure.of(error))
        else:
            for command in batch.commands:
                self.clock_ms = max(self.clock_ms, command.now_ms)
                stamped = command.model_copy(update={"now_ms": self.clock_ms})
                results.append(self._apply_command(index, stamped))
        self.digest = hashlib.sha256(self.digest + index.to_bytes(8, "big") + payload).digest()
        self.applied_index = index
        return results

    def _apply_command(self, index: int, command: MetadataCommand) -> Any:
        try:
            result = _HANDLERS[type(command)](self.state, command)
        except RaftqError as error:
            return Failure.of(error)
        except Exception as error:  # a bug: this replica must not go on without the command
            raise ApplyFailed(
                f"applying {type(command).__name__} at index {index} raised "
                f"{type(error).__name__}: {error}"
            ) from error
        if not isinstance(command, _NOT_AUDITED):
            kind: str = getattr(command, "kind", type(command).__name__)
            self.state.audit.append(
                AuditEntry(
                    index=index,
                    at_ms=command.now_ms,
                    actor=command.actor,
                    action=kind,
                    target=_target(command),
                )
            )
        return result

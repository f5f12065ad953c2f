"""Which planes may make which metadata commands, and the secrets a metadata node checks
callers with (raft/node_http.py; docs/internal-api.md, "Signing")."""

from __future__ import annotations

from typing import Final

from raftq.common.credentials import Caller, Role
from raftq.common.metadata_commands import (
    AddDataKey,
    AddLabelledGrants,
    AddSchedule,
    CancelMessageMoveTask,
    PauseSchedule,
    RecordTick,
    RegisterCluster,
    RemoveLabelledGrants,
    RemoveSchedule,
    ReportLoad,
    ReportMessageMoveTask,
    ResumeSchedule,
    SetRedriveAllowPolicy,
    StartMessageMoveTask,
    TagQueue,
    UntagQueue,
)
from raftq.metadata.frontends import frontend_secret
from raftq.metadata.node import MetadataNode
from raftq.raft.node_http import NODES_ONLY, OPERATORS, CallerSecrets, refuse_caller

# What a frontend does in the catalogue on a user's behalf (the SQS and REST APIs, the data key of
# a new queue, a message move task's progress, a user's schedules, whose bodies only a frontend
# can seal); every other command is an operator's or a node's.
FRONTEND_COMMANDS: Final = (
    AddDataKey,
    TagQueue,
    UntagQueue,
    SetRedriveAllowPolicy,
    AddLabelledGrants,
    RemoveLabelledGrants,
    StartMessageMoveTask,
    ReportMessageMoveTask,
    CancelMessageMoveTask,
    AddSchedule,
    PauseSchedule,
    ResumeSchedule,
    RemoveSchedule,
)
# Node to node: the backends' registration and load reports. A tick is recorded by the metadata
# leader itself (schedule_firing.py), never through the API.
NODE_COMMANDS: Final = (RegisterCluster, ReportLoad, RecordTick)


def caller_secrets(node: MetadataNode) -> CallerSecrets:
    """A frontend is checked against this member's own state: a revocation counts here as soon
    as this member applied it."""

    async def frontend(frontend_id: str) -> bytes | None:
        found = frontend_secret(node, frontend_id)
        return None if found is None else found.secret.encode()

    settings = node.settings
    return CallerSecrets(settings.cluster_secret, settings.operator_secret, frontend)


def check_command(caller: Caller, command: object) -> None:
    what = f"the {getattr(command, 'kind', 'unknown')} command"
    if caller.role is Role.FRONTEND and not isinstance(command, FRONTEND_COMMANDS):
        raise refuse_caller(caller, what, OPERATORS)
    if caller.role is not Role.NODE and isinstance(command, NODE_COMMANDS):
        raise refuse_caller(caller, what, NODES_ONLY)

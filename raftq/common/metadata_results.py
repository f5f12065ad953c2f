"""Results of metadata commands; `apply` returns these (or `Failure`) and never raises."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from raftq.common.metadata_models import Cluster, MessageMoveTask, Queue
from raftq.common.results import Done, Failure
from raftq.common.schedule_models import Schedule
from raftq.common.wire import WireModel


class QueueResult(WireModel):
    kind: Literal["queue"] = "queue"
    queue: Queue
    changed: bool  # False when the command found the queue already as asked (idempotent)


class ClusterResult(WireModel):
    kind: Literal["cluster"] = "cluster"
    cluster: Cluster


class MoveTaskResult(WireModel):
    kind: Literal["move_task"] = "move_task"
    task: MessageMoveTask


class ScheduleResult(WireModel):
    kind: Literal["schedule"] = "schedule"
    schedule: Schedule


MetadataResult = Annotated[
    Failure | Done | QueueResult | ClusterResult | MoveTaskResult | ScheduleResult,
    Field(discriminator="kind"),
]

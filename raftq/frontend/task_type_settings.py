"""Task types of a queue, as the REST API sets and reads them: the rate limits of each type,
and the types the queue's workers declared (a task of another type is then refused at
submission). Both are replicated state of the queue (backend task_gate.py).
"""

from __future__ import annotations

from raftq.common import commands as backend
from raftq.common.errors import InvalidParameter
from raftq.common.metadata_api import KeyCredentials
from raftq.common.tasks_wire import TaskLimits, TaskTypeLimits, TaskTypes
from raftq.frontend import task_models as t
from raftq.frontend import task_sealing
from raftq.frontend.caches import QueueRoute
from raftq.frontend.tasks import _TASK_TYPE, TaskService


class TaskTypeSettings(TaskService):
    async def set_limits(
        self, caller: KeyCredentials, name: str, task_type: str, body: t.TaskLimitsBody
    ) -> t.TaskLimitsView:
        self.f.authorize(caller, name, "admin")
        if not _TASK_TYPE.fullmatch(task_type):
            raise InvalidParameter(f"not a task type (queue {name!r})", field="type")
        route = await self.f.forwarder.route(name)
        rate_milli = None if body.starts_per_s is None else round(body.starts_per_s * 1000)
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.SetTaskLimits(
                now_ms=0,
                queue=queue_id,
                task_type=task_type,
                rate_milli=rate_milli,
                max_running=body.max_running,
            ),
        )
        if isinstance(forwarded.result, TaskLimits):
            found = [x for x in forwarded.result.limits if x.task_type == task_type]
        else:  # a bare acknowledgement: read them back
            found = [x for x in await self._limits(name, route) if x.task_type == task_type]
        if found:
            return task_sealing.limits_view(found[0])
        return t.TaskLimitsView(type=task_type, starts_per_s=None, max_running=None)

    async def get_limits(self, caller: KeyCredentials, name: str) -> t.TaskLimitsList:
        self.f.authorize(caller, name, "receive")
        route = await self.f.forwarder.route(name)
        return t.TaskLimitsList(
            limits=[task_sealing.limits_view(x) for x in await self._limits(name, route)]
        )

    async def _limits(self, name: str, route: QueueRoute) -> tuple[TaskTypeLimits, ...]:
        forwarded = await self._execute(
            name, route, lambda queue_id: backend.GetTaskLimits(now_ms=0, queue=queue_id)
        )
        assert isinstance(forwarded.result, TaskLimits), forwarded.result
        return forwarded.result.limits

    # --- declared types -----------------------------------------------------------------------

    async def set_types(
        self, caller: KeyCredentials, name: str, body: t.TaskTypesBody
    ) -> t.TaskTypesView:
        """Declaring is a worker's (a "receive" grant); forgetting a type is an operator's."""
        self.f.authorize(caller, name, "admin" if body.remove else "receive")
        route = await self.f.forwarder.route(name)
        forwarded = await self._execute(
            name,
            route,
            lambda queue_id: backend.SetTaskTypes(
                now_ms=0, queue=queue_id, add=tuple(body.add), remove=tuple(body.remove)
            ),
        )
        assert isinstance(forwarded.result, TaskTypes), forwarded.result
        return t.TaskTypesView(types=list(forwarded.result.types))

    async def get_types(self, caller: KeyCredentials, name: str) -> t.TaskTypesView:
        self.f.authorize(caller, name, "receive")
        route = await self.f.forwarder.route(name)
        forwarded = await self._execute(
            name, route, lambda queue_id: backend.GetTaskTypes(now_ms=0, queue=queue_id)
        )
        assert isinstance(forwarded.result, TaskTypes), forwarded.result
        return t.TaskTypesView(types=list(forwarded.result.types))

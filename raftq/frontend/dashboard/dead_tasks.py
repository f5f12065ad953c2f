"""Retrying a dead task from the dashboard: the task is submitted again, as a new task with the
same type, payload, attempts and time limit, and its dead letter is deleted.

A dead task's envelope waits in its queue's dead-letter queue as a plain message with the
task's id (docs/tasks.md); a task status does not keep the payload, so the retry finds that
message: it receives from the dead-letter queue, at most `SEARCH_BATCHES` batches, puts back
(visibility 0) every other message it took, and stops at the first match. The new task's
submission carries the idempotency key `retry-<task id>`, so a second click within the dedup
window submits nothing twice. Each step acts as the signed-in key: it needs receive on the
queue (to read the task), receive and delete on the dead-letter queue, send on the queue.
"""

from __future__ import annotations

import json
from typing import Final

from raftq.common.errors import InvalidParameter, TaskNotFound
from raftq.common.metadata_api import KeyCredentials
from raftq.frontend import rest_models as m
from raftq.frontend import task_models as t
from raftq.frontend.received import OpenedMessage
from raftq.frontend.service import Frontend
from raftq.frontend.tasks import TaskService

# 10 batches of 10: a retry looks at the 100 oldest dead letters, no further.
SEARCH_BATCHES: Final = 10
_HOLD_S: Final = 30  # long enough to finish the retry; a crash mid-way releases them then


async def retry_dead_task(f: Frontend, caller: KeyCredentials, queue: str, task_id: str) -> str:
    """The new task's id; errors name the task and why it cannot be retried."""
    tasks = TaskService(f)
    status = await tasks.get(caller, queue, task_id)
    if status.state != "dead":
        raise InvalidParameter(
            f"task {task_id} of queue {queue!r} is {status.state}, not dead", field="task_id"
        )
    route = await f.forwarder.route(queue)
    redrive = route.queue.attributes.redrive
    if redrive is None:
        raise InvalidParameter(f"queue {queue!r} has no dead-letter queue", field="task_id")
    dead_letter_queue = redrive.dead_letter_queue
    found = await _take(f, caller, dead_letter_queue, task_id)
    envelope = json.loads(found.body)
    body = t.SubmitBody.model_validate(
        {
            "type": envelope["type"],
            "payload": envelope.get("payload"),
            "max_attempts": envelope.get("max_attempts"),
            "timeout_s": envelope.get("timeout_s"),
            "idempotency_key": f"retry-{task_id}",
        }
    )
    submitted = await tasks.submit(caller, queue, [("retry", body)], field_prefix="")
    if submitted.failed:
        failure = submitted.failed[0]
        raise InvalidParameter(failure.message, field=failure.field)
    await f.delete(
        caller,
        dead_letter_queue,
        [m.DeleteEntry(id="dead", receipt_handle=found.message.receipt_handle)],
    )
    return submitted.sent[0].message_id


async def _take(
    f: Frontend, caller: KeyCredentials, dead_letter_queue: str, task_id: str
) -> OpenedMessage:
    """The dead letter of `task_id`, received (held `_HOLD_S`); the others looked at are put
    back once the search ends, found or not (held meanwhile, so no batch is read twice)."""
    looked_at: list[OpenedMessage] = []
    try:
        for _ in range(SEARCH_BATCHES):
            query = m.ReceiveQuery(max=10, wait_s=0, visibility_timeout_s=_HOLD_S)
            received = await f.receive_messages(caller, dead_letter_queue, query)
            if not received.opened:
                break
            for opened in received.opened:
                if opened.message.message_id == task_id:
                    looked_at += [o for o in received.opened if o is not opened]
                    return opened
            looked_at += received.opened
    finally:
        for start in range(0, len(looked_at), 10):
            batch = looked_at[start : start + 10]
            await f.change_visibility(
                caller,
                dead_letter_queue,
                [
                    m.VisibilityEntry(
                        id=f"back{i}",
                        receipt_handle=o.message.receipt_handle,
                        visibility_timeout_s=0,
                    )
                    for i, o in enumerate(batch)
                ],
            )
    raise TaskNotFound(
        f"task {task_id}'s dead letter is not among the first "
        f"{SEARCH_BATCHES * 10} of queue {dead_letter_queue!r}",
        field="task_id",
    )

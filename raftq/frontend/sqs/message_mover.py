"""Runs one message move task (StartMessageMoveTask): receive from the source (a dead-letter
queue), send to the destination or back to each message's original source, then delete.

Rules it keeps:
- A message is deleted from the source only after its send was acknowledged, and the send
  carries the dedup id `move-<message id>`, so a move repeated after a crash stores it once
  (within the destination's dedup window).
- The task runs on the frontend that started it. It reports progress to the metadata service at
  most every `REPORT_EVERY_MS`; the answer says whether it was cancelled. A task whose report is
  older than `STALE_AFTER_MS` lost its frontend: listings show it FAILED and a new task on the
  same source may start.
- `max_per_second` paces the moves; without it the task moves batches of 10 as fast as the
  queues take them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Final

from raftq.common.errors import RaftqError
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_commands import ReportMessageMoveTask
from raftq.common.metadata_models import MessageMoveTask
from raftq.common.metadata_results import MoveTaskResult
from raftq.common.results import Failure
from raftq.frontend import rest_models as m
from raftq.frontend.received import OpenedMessage, Undeliverable
from raftq.frontend.service import Frontend

REPORT_EVERY_MS: Final = 1_000
STALE_AFTER_MS: Final = 60_000
BATCH: Final = 10
# Long enough to send and delete a batch; a mover that dies leaves the messages in the source.
MOVE_VISIBILITY_S: Final = 60

log = logging.getLogger(__name__)


class MoveFailed(Exception):
    """Raised when a message cannot be moved; the task ends FAILED with this reason."""


class MessageMover:
    def __init__(self, frontend: Frontend, caller: KeyCredentials, task: MessageMoveTask) -> None:
        self.frontend = frontend
        self.caller = caller
        self.task = task
        self.moved = 0
        self._reported_at_ms = frontend.clock.now_ms()

    async def run(self) -> None:
        try:
            status = await self._move_all()
        except MoveFailed as error:
            await self._report("FAILED", str(error)[:256])
        except RaftqError as error:
            await self._report("FAILED", f"{error.code}: {error.message}"[:256])
        except asyncio.CancelledError:
            await self._report("FAILED", "the frontend running the task stopped")
            raise
        else:
            await self._report(status, None)

    async def _move_all(self) -> str:
        query = m.ReceiveQuery(max=BATCH, wait_s=0, visibility_timeout_s=MOVE_VISIBILITY_S)
        skipped: list[Undeliverable] = []
        while True:
            started_ms = self.frontend.clock.now_ms()
            received = await self.frontend.receive_messages(
                self.caller, self.task.source_queue, query
            )
            batch = received.opened
            skipped.extend(received.undeliverable)  # left in flight: received.py
            if not batch and not received.undeliverable:
                if skipped:
                    raise MoveFailed(
                        f"{len(skipped)} message(s) could not be opened and stay in "
                        f"{self.task.source_queue}: {skipped[0].reason}"
                    )
                return "COMPLETED"
            await self._move(batch)
            due = self.frontend.clock.now_ms() - self._reported_at_ms >= REPORT_EVERY_MS
            if due and await self._report("RUNNING", None) == "CANCELLING":
                return "CANCELLED"
            if self.task.max_per_second is not None:
                spent_s = (self.frontend.clock.now_ms() - started_ms) / 1000
                await asyncio.sleep(max(0.0, len(batch) / self.task.max_per_second - spent_s))

    async def _move(self, batch: list[OpenedMessage]) -> None:
        by_destination: dict[str, list[OpenedMessage]] = {}
        for message in batch:
            destination = self.task.destination_queue or message.dead_letter_source
            if destination is None:
                raise MoveFailed(
                    f"message {message.message.message_id} was not dead-lettered from a queue; "
                    "give a DestinationArn to move it"
                )
            by_destination.setdefault(destination, []).append(message)
        for destination, messages in by_destination.items():
            entries = [
                m.SendBatchEntry(
                    id=f"m{i}",
                    body_base64=base64.b64encode(o.body).decode(),
                    attributes=o.attributes,
                    dedup_id=f"move-{o.message.message_id}",
                    group_id=o.message.group_id,
                    trace_header=o.trace_header,
                )
                for i, o in enumerate(messages)
            ]
            result, _ = await self.frontend.send(self.caller, destination, entries, None)
            if result.failed:
                failure = result.failed[0]
                raise MoveFailed(f"{destination} refused a message: {failure.message}")
            deleted = await self.frontend.delete(
                self.caller,
                self.task.source_queue,
                [
                    m.DeleteEntry(id=f"m{i}", receipt_handle=o.message.receipt_handle)
                    for i, o in enumerate(messages)
                ],
            )
            self.moved += len(deleted.succeeded)

    async def _report(self, status: str, reason: str | None) -> str | None:
        """Tell the metadata service; the task's status as it now stands there."""
        self._reported_at_ms = self.frontend.clock.now_ms()
        try:
            result = await self.frontend.metadata.execute(
                ReportMessageMoveTask.model_validate(
                    {
                        "now_ms": 0,
                        "actor": self.caller.principal_id,
                        "task_handle": self.task.task_handle,
                        "moved": self.moved,
                        "status": status,
                        "failure_reason": reason,
                    }
                )
            )
        except RaftqError as error:
            log.warning(
                "move task %s: report failed: %s",
                self.task.task_handle,
                error,
                extra={"event": "move_task_report_failed", "error": error},
            )
            return None
        if isinstance(result, Failure) or not isinstance(result, MoveTaskResult):
            return None
        return result.task.status

"""Concurrent `submit_task()` calls of one client joined into `…/tasks:batch` requests, by the
rules of send_coalescer.py (each caller gets its own task id or its own error; a lone caller
pays no linger; every entry carries its idempotency key, so retries store nothing twice)."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from raftq.client.send_coalescer import SendCoalescer
from raftq.client.task_models import SubmittedTask
from raftq.client.transport import Operation


class Call(Protocol):
    async def __call__(
        self,
        operation: Operation,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        extra_timeout_s: float = 0,
    ) -> dict[str, Any]: ...


class TaskSubmitter:
    def __init__(
        self, call: Call, *, linger_s: float, max_entries: int, max_request_bytes: int
    ) -> None:
        """`linger_s` 0: every submission is a request of its own."""
        self._call = call
        self._joiner = (
            SendCoalescer(
                self._post_batch,
                self._post_one,
                linger_s=linger_s,
                max_entries=max_entries,
                max_request_bytes=max_request_bytes,
                key_field="idempotency_key",
            )
            if linger_s > 0
            else None
        )

    async def submit(self, queue: str, body: dict[str, Any]) -> SubmittedTask:
        """Submit one task (`body` as the REST API takes it, with its idempotency key)."""
        if self._joiner is None:
            answer = await self._post_one(queue, body)
        else:
            answer = await self._joiner.send(queue, body)
        return SubmittedTask(answer["message_id"], answer["duplicate"])

    async def close(self) -> None:
        if self._joiner is not None:
            await self._joiner.close()

    async def _post_one(self, queue: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self._call(
            Operation(
                f"task submission to queue {queue!r}",
                idempotent=True,
                keys=(body["idempotency_key"],),
            ),
            "POST",
            f"/v1/queues/{quote(queue)}/tasks",
            body,
        )
        return {"message_id": answer["task_id"], "sequence_number": 0, **answer}

    async def _post_batch(self, queue: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """The batch's answer in the shape of a message batch's, which the joiner reads."""
        keys = tuple(entry["idempotency_key"] for entry in entries)
        answer = await self._call(
            Operation(
                f"submission of {len(entries)} tasks to queue {queue!r}",
                idempotent=True,
                keys=keys,
            ),
            "POST",
            f"/v1/queues/{quote(queue)}/tasks:batch",
            {"tasks": entries},
        )
        sent = {
            str(x["id"]): {
                "message_id": x["task_id"],
                "sequence_number": 0,
                "duplicate": x["duplicate"],
            }
            for x in answer.get("submitted", [])
        }
        return {"sent": sent, "failed": answer.get("failed", [])}

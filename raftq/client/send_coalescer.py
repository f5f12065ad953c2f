"""Joining concurrent `send()` calls (and `submit_task()` calls: task_submitter.py) of one client
for one queue into batch requests.

The rules it keeps:
- Each caller gets its own outcome: the message id of its own entry, or its own entry's error;
  a whole request that fails raises for every caller in it (each gets its own exception).
- A send waits at most `linger_s` for company, and only while another request to the same queue
  is in flight from this client; on an idle queue it goes out at the end of the current event
  loop iteration (joined by sends made in that same iteration), so a lone sender pays no linger.
  A batch goes out as soon as it holds `max_entries` or the next entry would take its JSON over
  `max_request_bytes`.
- Every entry carries its dedup id, so the transport's retries of a batch after an unknown
  outcome store nothing twice. A batch whose outcome stays unknown raises `OutcomeUnknown` for
  each caller naming that caller's own dedup id, the one to send again with.
- Entries are in call order, and a batch is committed in entry order (the backend applies a
  SendMessages command entry by entry, allocating sequence numbers as it goes). On a FIFO queue
  (its name ends in `.fifo`) batches also go out one after the other, the next only once the one
  before it was answered, so concurrent sends are committed in the order `send()` was called.
- A refusal of a whole batch that may be one entry's fault (413, or a 400 naming an entry) is
  followed by sending each entry alone, so one bad message fails only its own caller.
- A caller cancelled before its batch goes out is left out of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from raftq.client.batch_entries import (
    BATCH_FRAMING_BYTES,
    encoded_size,
    is_entry_fault,
    sent_outcomes,
)
from raftq.client.errors import OutcomeUnknown, RaftqApiError

# (queue, entries each with an "id") -> the SentBatchView JSON of POST .../messages:batch
PostBatch = Callable[[str, list[dict[str, Any]]], Awaitable[dict[str, Any]]]
# (queue, one entry) -> the SentView JSON of POST .../messages
PostOne = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class _Waiting:
    payload: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]


@dataclass
class _Batch:
    queue: str
    waiting: list[_Waiting] = field(default_factory=list)
    size_bytes: int = BATCH_FRAMING_BYTES
    timer: asyncio.TimerHandle | None = None
    closed: bool = False


class SendCoalescer:
    def __init__(
        self,
        post_batch: PostBatch,
        post_one: PostOne,
        *,
        linger_s: float,
        max_entries: int,
        max_request_bytes: int,
        key_field: str = "dedup_id",
    ) -> None:
        """`key_field`: the payload's field holding its idempotency key (named in the error
        of an unknown outcome)."""
        self._key_field = key_field
        self._post_batch = post_batch
        self._post_one = post_one
        self._linger_s = linger_s
        self._max_entries = max_entries
        self._max_request_bytes = max_request_bytes
        self._open: dict[str, _Batch] = {}
        self._in_flight: dict[str, int] = {}
        self._last: dict[str, asyncio.Task[None]] = {}  # FIFO queues: the batch to go after
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, queue: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one message (`payload` with its dedup id) in the next batch for `queue`."""
        loop = asyncio.get_running_loop()
        size = encoded_size(payload)
        batch = self._open.get(queue)
        if batch is not None and batch.size_bytes + size > self._max_request_bytes:
            self._flush(batch)
            batch = None
        if batch is None:
            batch = self._open[queue] = _Batch(queue)
            linger_s = self._linger_s if self._in_flight.get(queue) else 0.0
            batch.timer = loop.call_later(linger_s, self._flush, batch)
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        batch.waiting.append(_Waiting(payload, future))
        batch.size_bytes += size
        if len(batch.waiting) >= self._max_entries:
            self._flush(batch)
        return await future

    async def close(self) -> None:
        """Send what waits now and wait for every request in flight."""
        for batch in list(self._open.values()):
            self._flush(batch)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _flush(self, batch: _Batch) -> None:
        if batch.closed:
            return
        batch.closed = True
        if batch.timer is not None:
            batch.timer.cancel()
        if self._open.get(batch.queue) is batch:
            del self._open[batch.queue]
        waiting = [w for w in batch.waiting if not w.future.done()]  # done: cancelled caller
        if not waiting:
            return
        queue = batch.queue
        self._in_flight[queue] = self._in_flight.get(queue, 0) + 1
        after = self._last.get(queue) if queue.endswith(".fifo") else None
        task = asyncio.get_running_loop().create_task(self._deliver(queue, waiting, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if queue.endswith(".fifo"):
            self._last[queue] = task
            task.add_done_callback(lambda done: self._forget(queue, done))

    def _forget(self, queue: str, task: asyncio.Task[None]) -> None:
        if self._last.get(queue) is task:
            del self._last[queue]

    async def _deliver(
        self, queue: str, waiting: list[_Waiting], after: asyncio.Task[None] | None
    ) -> None:
        try:
            if after is not None:
                await asyncio.wait([after])  # its outcome is its callers'; only its end matters
            if len(waiting) == 1:
                await self._alone(queue, waiting[0])
            else:
                await self._together(queue, waiting)
        except BaseException as error:  # cancelled, or a bug: no caller may wait for ever
            for one in waiting:
                _settle(one, RaftqApiError(0, "NotSent", repr(error)))
            raise
        finally:
            self._in_flight[queue] -= 1
            if not self._in_flight[queue]:
                del self._in_flight[queue]

    async def _together(self, queue: str, waiting: list[_Waiting]) -> None:
        entries = [{"id": str(position), **w.payload} for position, w in enumerate(waiting)]
        try:
            answer = await self._post_batch(queue, entries)
        except RaftqApiError as error:
            if not is_entry_fault(error):
                for one in waiting:
                    _settle(one, _share_of(error, one.payload[self._key_field]))
                return
            if queue.endswith(".fifo"):  # keep call order
                for one in waiting:
                    await self._alone(queue, one)
            else:
                await asyncio.gather(*(self._alone(queue, one) for one in waiting))
            return
        for one, outcome in zip(waiting, sent_outcomes(answer, len(waiting)), strict=True):
            _settle(one, outcome)

    async def _alone(self, queue: str, one: _Waiting) -> None:
        try:
            _settle(one, await self._post_one(queue, one.payload))
        except RaftqApiError as error:
            _settle(one, error)


def _share_of(error: RaftqApiError, key: str) -> RaftqApiError:
    """`error` as one caller of a failed batch is told it: its own object, and its own key."""
    if isinstance(error, OutcomeUnknown):
        return error.with_keys([key])
    return error.copy()


def _settle(one: _Waiting, outcome: dict[str, Any] | RaftqApiError) -> None:
    if one.future.done():  # its caller was cancelled while the request was out
        return
    if isinstance(outcome, RaftqApiError):
        one.future.set_exception(outcome)
    else:
        one.future.set_result(outcome)

"""The blocking client of the raftq SDK: every call of `AsyncClient`, run on a private event
loop thread, so sends made at the same time from several threads share batch requests as they
would there. Each call's keywords and answer are `AsyncClient`'s (async_client.py)."""

from __future__ import annotations

import asyncio
import threading
import warnings
import weakref
from collections.abc import Coroutine, Generator, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar, Unpack

from raftq.client.async_client import AsyncClient, env_credentials
from raftq.client.batch_entries import EntryResult, SendEntry
from raftq.client.blocking_task_calls import BlockingTaskCalls
from raftq.client.queue_attributes import QueueAttributes
from raftq.client.received import Message

T = TypeVar("T")

# How long a forgotten client's finalizer waits for its pending sends and connections.
_FORGOTTEN_CLOSE_S = 5.0


class Client(BlockingTaskCalls):
    """Use it as `with Client(...) as client:` or call `close()` once done. A client dropped
    unclosed (garbage-collected, or still open at interpreter exit) warns `ResourceWarning`, as
    an unclosed aiohttp session does, and is closed then: its waiting sends are sent, its
    connections closed and its thread stopped."""

    def __init__(
        self, endpoint: str, access_key_id: str, secret_access_key: str, **options: Any
    ) -> None:
        # Built first: a bad argument raises before a thread is started.
        self._client: AsyncClient = AsyncClient(
            endpoint, access_key_id, secret_access_key, **options
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="raftq-sdk"
        )
        self._thread.start()
        # Holds no reference to self, so a dropped client is collected and this runs.
        self._finalizer = weakref.finalize(
            self, _close_forgotten, self._loop, self._thread, self._client
        )

    @classmethod
    def from_env(cls) -> Client:
        """A client for RAFTQ_ENDPOINT, RAFTQ_ACCESS_KEY_ID, RAFTQ_SECRET_ACCESS_KEY."""
        return cls(*env_credentials())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        """Send the sends that wait for company, close the connections, stop the thread.
        Calling it again does nothing."""
        if self._finalizer.detach() is None:
            return
        try:
            self._run(self._client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    # --- queues (AsyncClient's, blocking) -------------------------------------------------------

    def create_queue(
        self, name: str, *, fifo: bool = False, **attributes: Unpack[QueueAttributes]
    ) -> dict[str, Any]:
        return self._run(self._client.create_queue(name, fifo=fifo, **attributes))

    def get_queue(self, name: str) -> dict[str, Any]:
        return self._run(self._client.get_queue(name))

    def list_queues(self, prefix: str = "") -> list[dict[str, Any]]:
        return self._run(self._client.list_queues(prefix))

    def update_queue(self, name: str, **attributes: Unpack[QueueAttributes]) -> dict[str, Any]:
        return self._run(self._client.update_queue(name, **attributes))

    def delete_queue(self, name: str) -> None:
        self._run(self._client.delete_queue(name))

    def purge(self, name: str) -> None:
        self._run(self._client.purge(name))

    # --- messages -------------------------------------------------------------------------------

    def send(
        self,
        queue: str,
        body: str | bytes,
        *,
        idempotency_key: str | None = None,
        attributes: dict[str, dict[str, str]] | None = None,
        delay_s: int | None = None,
        group_id: str | None = None,
        priority: int = 0,
        trace_context: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._run(
            self._client.send(
                queue,
                body,
                idempotency_key=idempotency_key,
                attributes=attributes,
                delay_s=delay_s,
                group_id=group_id,
                priority=priority,
                trace_context=trace_context,
            )
        )

    def send_batch(
        self, queue: str, entries: Sequence[str | bytes | SendEntry]
    ) -> list[EntryResult]:
        return self._run(self._client.send_batch(queue, entries))

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        wait_s: int | None = None,
        visibility_timeout_s: int | None = None,
        attempt_id: str | None = None,
    ) -> list[Message]:
        return self._run(
            self._client.receive(
                queue,
                max_messages=max_messages,
                wait_s=wait_s,
                visibility_timeout_s=visibility_timeout_s,
                attempt_id=attempt_id,
            )
        )

    def messages(
        self,
        queue: str,
        *,
        wait_s: int = 20,
        max_messages: int = 10,
        visibility_timeout_s: int | None = None,
    ) -> Generator[Message, None, None]:
        """Long-poll the queue for ever, yielding each message as it comes (delete it when
        done: this only receives); stop by leaving the loop. `wait_s` (int, 0 to 20),
        `max_messages` (int, 1 to 10) and `visibility_timeout_s` (int or None: the queue's)
        are each receive's."""
        while True:
            yield from self.receive(
                queue,
                max_messages=max_messages,
                wait_s=wait_s,
                visibility_timeout_s=visibility_timeout_s,
            )

    def delete(self, queue: str, receipt_handle: str) -> None:
        self._run(self._client.delete(queue, receipt_handle))

    def delete_batch(self, queue: str, receipt_handles: Sequence[str]) -> dict[str, Any]:
        return self._run(self._client.delete_batch(queue, receipt_handles))

    def change_visibility(self, queue: str, receipt_handle: str, timeout_s: int) -> dict[str, Any]:
        return self._run(self._client.change_visibility(queue, receipt_handle, timeout_s))


def _close_forgotten(
    loop: asyncio.AbstractEventLoop, thread: threading.Thread, client: AsyncClient
) -> None:
    """`Client.close()` for a client nobody closed: warn, then close it as well as can be
    done without its owner (bounded in time: this may run at interpreter exit)."""
    warnings.warn(
        "unclosed raftq Client: use `with Client(...)` or call close()",
        ResourceWarning,
        stacklevel=2,
    )
    if loop.is_closed() or not thread.is_alive():
        return
    try:
        asyncio.run_coroutine_threadsafe(client.close(), loop).result(_FORGOTTEN_CLOSE_S)
    except (FutureTimeout, RuntimeError, OSError):
        pass  # the connections go with the process; nothing more can be done here
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_FORGOTTEN_CLOSE_S)


# `help(Client.send)` tells what `help(AsyncClient.send)` does: each call's keywords, their
# types and ranges are written once, on the asyncio client.
for _name, _call in vars(Client).items():
    _documented = getattr(AsyncClient, _name, None)
    if callable(_call) and _call.__doc__ is None and _documented is not None:
        _call.__doc__ = _documented.__doc__

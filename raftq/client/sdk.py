"""The raftq Python SDK: `AsyncClient` (asyncio) and `Client` (blocking), over the REST API.

    client = Client.from_env()  # RAFTQ_ENDPOINT, RAFTQ_ACCESS_KEY_ID, RAFTQ_SECRET_ACCESS_KEY
    client.create_queue("orders")
    client.send("orders", "hello")
    for message in client.receive("orders", wait_s=20):
        handle(message.body)
        client.delete("orders", message.receipt_handle)

Requests are signed with SigV4 (raftq.common.sigv4). A send always carries an idempotency key
(the caller's, or one drawn for it), and every retry of it reuses that key, so a send retried
after a timeout or a 503 is stored once; so does every entry of a batch. Receives retry with the
same attempt id for the same reason. Calls that are not safe to repeat (purge, update and delete
of a queue) are retried only when the service refused them before doing anything; see
`AsyncClient` for each call. Errors come back as `RaftqApiError` with the service's code,
message and field, and as `OutcomeUnknown`, naming the idempotency keys to call again with,
when a call may or may not have been done.

Concurrent `send()` calls of one client to one queue are joined into batch requests
(send_coalescer.py): each still returns its own message's id once it is committed, or raises its
own error. `send_linger_ms=0` turns that off.
"""

from __future__ import annotations

from raftq.client.async_client import AsyncClient
from raftq.client.batch_entries import EntryResult, SendEntry
from raftq.client.blocking import Client
from raftq.client.errors import (
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    RaftqApiError,
    TaskBatchFailed,
)
from raftq.client.received import Message

__all__ = [
    "AsyncClient",
    "Client",
    "EntryResult",
    "InvalidRequest",
    "Message",
    "NotFound",
    "OutcomeUnknown",
    "RaftqApiError",
    "SendEntry",
    "TaskBatchFailed",
]

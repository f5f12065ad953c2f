"""`QueueApi` over the raftq SDK, for a workload against a real deployment.

One HTTP attempt per operation (the SDK's retries are off: a retry would hide an unknown outcome
from the history) with the workload's timeout. A 4xx is a `DefiniteFailure` (the service
guarantees it applied nothing); every other error propagates and is recorded as unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

from raftq.client.sdk import AsyncClient, RaftqApiError
from tests.chaos.history import Delivery
from tests.chaos.workload import DefiniteFailure


class SdkQueueApi:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls, endpoint: str, access_key_id: str, secret_access_key: str, *, timeout_s: float = 5.0
    ) -> SdkQueueApi:
        client = AsyncClient(
            endpoint, access_key_id, secret_access_key, timeout_s=timeout_s, retries=0
        )
        return cls(client)

    @property
    def client(self) -> AsyncClient:
        return self._client

    async def close(self) -> None:
        await self._client.close()

    async def send(
        self, queue: str, body: str, *, dedup_id: str | None = None, group: str | None = None
    ) -> str:
        try:
            answer = await self._client.send(queue, body, idempotency_key=dedup_id, group_id=group)
        except RaftqApiError as error:
            raise _classified(error) from None
        return str(answer["message_id"])

    async def receive(
        self, queue: str, *, max_messages: int, wait_s: int, visibility_timeout_s: int
    ) -> Sequence[Delivery]:
        try:
            messages = await self._client.receive(
                queue,
                max_messages=max_messages,
                wait_s=wait_s,
                visibility_timeout_s=visibility_timeout_s,
            )
        except RaftqApiError as error:
            raise _classified(error) from None
        return [
            Delivery(
                value=message.body if message.body is not None else message.body_bytes.hex(),
                message_id=message.message_id,
                receipt_handle=message.receipt_handle,
                receive_count=message.receive_count,
                group=message.group_id,
            )
            for message in messages
        ]

    async def delete(self, queue: str, receipt_handle: str) -> None:
        try:
            await self._client.delete(queue, receipt_handle)
        except RaftqApiError as error:
            raise _classified(error) from None


def _classified(error: RaftqApiError) -> Exception:
    return DefiniteFailure(str(error)) if 400 <= error.status < 500 else error

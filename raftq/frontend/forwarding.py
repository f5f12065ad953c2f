"""Forwarding a queue's commands to the backend cluster that holds it, with its messages sealed.

Where a queue lives comes from the placement cache; a cluster that answers `QueueMoved` or
`QueueDoesNotExist` makes the frontend ask for a newer placement and try there. Each cluster
has its own client (it remembers the leader and follows `NotLeader` hints) and its own circuit
breaker; a request that cannot reach its cluster fails fast as unavailable (503). A backend
names the queue by its id; what `execute` raises or returns names it by its name
(common/queue_names.py).

Dependencies are kept apart: each backend cluster has its own channel connections (one
multiplexed connection per member, common/channel/) and circuit breaker, and the metadata group
its own HTTP pool (main.py).

A queue's first message makes its data key: this frontend draws one, wraps it with its current
master key and offers it to the metadata service, which keeps the first offer of each version.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from raftq.common.backend_client import ChannelBackendClient
from raftq.common.channel.client import ChannelPool
from raftq.common.clock import Clock
from raftq.common.commands import AnyCommand
from raftq.common.credentials import Credential
from raftq.common.envelope import Keyring, KeyUnavailable, QueueCipher, WrappedKey
from raftq.common.errors import (
    BackendUnavailable,
    NoLeader,
    OutcomeUnknown,
    QueueMoved,
    QueueNotFound,
    RaftqError,
)
from raftq.common.metadata_api import MetadataClient
from raftq.common.metadata_commands import AddDataKey
from raftq.common.metadata_models import DataKey, Queue, RetiredQueue
from raftq.common.metadata_results import QueueResult
from raftq.common.queue_names import named_error, named_result
from raftq.common.results import CommandResult, Failure
from raftq.frontend.caches import PlacementCache, QueueRoute
from raftq.frontend.circuit_breaker import CircuitBreaker
from raftq.frontend.coalescing import Coalescer

MAX_REROUTES = 3


@dataclass(frozen=True, slots=True)
class Forwarded:
    result: CommandResult
    route: QueueRoute


class Forwarder:
    def __init__(
        self,
        placements: PlacementCache,
        metadata: MetadataClient,
        *,
        keyring: Keyring,
        credential: Credential,
        max_frame_bytes: int,
        clock: Clock,
        backend_timeout_s: float = 3.0,
        on_join: Callable[[int], None] = lambda requests: None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._on_join = on_join
        self._tls = tls  # verifies the backends' certificates (common/internal_tls.py)
        self._placements = placements
        self._backend_timeout_s = backend_timeout_s
        self._metadata = metadata
        self._keyring = keyring
        self._credential = credential
        self._max_frame_bytes = max_frame_bytes
        # One set of channel connections per backend cluster: a slow cluster cannot hold up
        # the connections that requests to the others use.
        self._pools: dict[str, ChannelPool] = {}
        self._clock = clock
        self._clients: dict[tuple[str, tuple[str, ...]], ChannelBackendClient] = {}
        self._coalescers: dict[tuple[str, tuple[str, ...]], Coalescer] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._ciphers: dict[tuple[str, int], QueueCipher] = {}
        self._key_lock = asyncio.Lock()
        self._names_by_id: dict[str, str] = {}
        self._retired: dict[str, RetiredQueue] = {}  # deleted queues' keys, by queue id

    async def route(self, name: str) -> QueueRoute:
        found = await self._placements.get(name)
        if found is None or found.queue.lifecycle in ("creating", "deleting"):
            raise QueueNotFound(f"queue {name!r} does not exist", field="name")
        return found

    async def execute(
        self, name: str, make: Callable[[str], AnyCommand], wait_ms: int = 0
    ) -> Forwarded:
        """Run `make(queue_id)` on the queue's cluster; a failure result is raised as its error.
        Errors, and the failed entries of a batch, name the queue, not its id."""
        route = await self.route(name)
        for _ in range(MAX_REROUTES):
            queue_id = route.queue.queue_id
            try:
                result = await self._call(route, make(queue_id), wait_ms)
            except RaftqError as error:
                named_error(error, queue_id, name)
                raise
            if isinstance(result, Failure) and result.code in (QueueMoved.code, QueueNotFound.code):
                newer = await self._placements.refresh(name, newer_than=route.epoch)
                if newer is None:
                    raise QueueNotFound(f"queue {name!r} does not exist", field="name")
                route = newer
                continue
            if isinstance(result, Failure):
                raise named_error(result.to_error(), queue_id, name)
            return Forwarded(named_result(result, queue_id, name), route)
        raise BackendUnavailable(f"queue {name!r} is moving; try again shortly")

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()

    async def cipher_of_message(self, route: QueueRoute, sealed_by: str | None) -> QueueCipher:
        """The cipher that opens a message of `route`'s queue: the queue's own, or for a message
        moved in from a dead-letter source, the source queue's (found by its id)."""
        if sealed_by is None or sealed_by == route.queue.queue_id:
            return await self.cipher(route)
        name = self._names_by_id.get(sealed_by)
        if name is None and sealed_by not in self._retired:
            catalogue = await self._metadata.get("/v1/catalogue") or {}
            for queue in catalogue.get("queues", []):
                self._names_by_id[queue["queue_id"]] = queue["name"]
            for raw in catalogue.get("retired_queues", []):
                gone = RetiredQueue.model_validate_json(json.dumps(raw))
                self._retired[gone.queue_id] = gone
                self._names_by_id.setdefault(gone.queue_id, gone.name)
            name = self._names_by_id.get(sealed_by)
        source = None if name is None else await self._placements.get(name)
        if source is not None and source.queue.queue_id == sealed_by:
            return await self.cipher(source)
        retired = self._retired.get(sealed_by)
        if retired is None:  # deleted longer ago than any message is kept
            raise KeyUnavailable(
                f"a dead-lettered message of {route.queue.name} was sealed by a queue that "
                "no longer exists"
            )
        return self._cipher_of(retired.sealing_identity, retired.name, retired.data_keys)

    def forget(self, name: str) -> None:
        """This frontend created, changed or deleted the queue: look it up afresh."""
        self._placements.forget(name)

    def name_of(self, queue_id: str) -> str | None:
        """The name of a queue whose id `cipher_of_message` has seen."""
        return self._names_by_id.get(queue_id)

    async def cipher(self, route: QueueRoute) -> QueueCipher:
        """The queue's cipher, making its first data key if it has none."""
        queue = route.queue
        if not queue.data_keys:
            queue = await self._add_data_key(route)
        return self._cipher_of(queue.sealing_identity, queue.name, queue.data_keys)

    def _cipher_of(self, queue_id: str, name: str, data_keys: tuple[DataKey, ...]) -> QueueCipher:
        """`queue_id`: the identity the queue seals under (a restored queue keeps its source's)."""
        newest = max(key.version for key in data_keys)
        cached = self._ciphers.get((queue_id, newest))
        if cached is None:
            try:
                keys = {
                    key.version: self._keyring.unwrap(queue_id, key.version, _wrapped(key))
                    for key in data_keys
                }
            except RaftqError as error:
                named_error(error, queue_id, f"queue {name!r}")
                raise
            cached = QueueCipher(queue_id, keys, current=newest, name=name)
            self._ciphers[(queue_id, newest)] = cached
        return cached

    async def _add_data_key(self, route: QueueRoute) -> Queue:
        async with self._key_lock:
            queue = route.queue
            _, wrapped = self._keyring.new_data_key(queue.queue_id, 1)
            key = DataKey(version=1, master_key_id=wrapped.master_key_id, wrapped=wrapped.blob)
            result = await self._metadata.execute(
                AddDataKey(
                    now_ms=0, actor="frontend", name=queue.name, queue_id=queue.queue_id, key=key
                )
            )
            if isinstance(result, Failure):
                raise result.to_error()
            assert isinstance(result, QueueResult), result
            await self._placements.refresh(queue.name, newer_than=0)
            return result.queue

    async def _call(self, route: QueueRoute, command: AnyCommand, wait_ms: int) -> CommandResult:
        cluster_id = route.cluster.cluster_id
        breaker = self._breakers.get(cluster_id)
        if breaker is None:
            breaker = self._breakers[cluster_id] = CircuitBreaker(cluster_id, self._clock)
        breaker.before_call()
        try:
            if wait_ms:
                result = await self._client(route).execute(command, wait_ms)
            else:
                result = await self._coalescer(route).execute(command)
        except (OutcomeUnknown, NoLeader):
            # The cluster answered: the entry may still commit, or an election is running.
            # Neither means it is down, so the breaker does not open and delay its recovery.
            breaker.succeeded()
            raise
        except asyncio.CancelledError:  # the client went away (the handler was cancelled)
            breaker.abandoned()
            raise
        except (BackendUnavailable, aiohttp.ClientError, TimeoutError) as error:
            breaker.failed()
            if isinstance(error, RaftqError):
                raise
            raise BackendUnavailable(f"cluster {cluster_id} did not answer") from None
        breaker.succeeded()
        return result

    def _coalescer(self, route: QueueRoute) -> Coalescer:
        key = (route.cluster.cluster_id, tuple(route.members))
        coalescer = self._coalescers.get(key)
        if coalescer is None:
            client = self._client(route)
            coalescer = self._coalescers[key] = Coalescer(client.execute, on_join=self._on_join)
        return coalescer

    def _client(self, route: QueueRoute) -> ChannelBackendClient:
        key = (route.cluster.cluster_id, tuple(route.members))
        client = self._clients.get(key)
        if client is None:
            pool = self._pools.get(route.cluster.cluster_id)
            if pool is None:
                pool = ChannelPool(
                    self._credential,
                    max_frame_bytes=self._max_frame_bytes,
                    ssl_context=self._tls,
                )
                self._pools[route.cluster.cluster_id] = pool
            client = ChannelBackendClient(route.members, pool, timeout_s=self._backend_timeout_s)
            self._clients[key] = client
        return client


def _wrapped(key: DataKey) -> WrappedKey:
    return WrappedKey(key.master_key_id, key.wrapped)

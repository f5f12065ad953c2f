"""Clients of a Raft group's internal API: sign requests, find and follow the leader.

Retries only where it is safe: a connection that was refused or not accepted within
`connect_timeout_s` (nothing was sent) moves on to the next member, and `NotLeader` (nothing was
proposed) moves to the hinted leader. A request that was sent and then timed out or lost its
connection has an unknown outcome: `OutcomeUnknown` is raised, and only the caller, who knows
the idempotency key, may retry.

A member that did not connect or answer in time (killed, paused, cut off) is *suspect* for
`suspect_s`: later requests try it last and ignore hints naming it, so they go to the members
that can elect a new leader instead of each waiting out the same timeout on the old one. The
followers keep naming the old leader until their election timeout (up to 2.5 s), so a hint is
not evidence that the suspect is alive; while no other leader is known the request ends in a
definite `NoLeader` after a few hops (nothing was proposed), and the caller retries. Suspicion
lasts about one maximal election timeout (2 s by default, `suspect_s`): a dead leader has been
replaced by then, and a leader that was only slow is asked again soon.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from raftq.common import call_context, channel_request, cluster_auth, codec, internal_tls
from raftq.common.channel.client import ChannelPool, NotSent
from raftq.common.commands import AnyCommand
from raftq.common.credentials import NODE, Credential
from raftq.common.errors import (
    BackendUnavailable,
    CredentialNotAllowed,
    CredentialRefused,
    DecodeError,
    NoLeader,
    NotLeader,
    OutcomeUnknown,
    RaftqError,
    Unauthenticated,
    error_from_code,
)
from raftq.common.node_api import (
    COMMANDS_PATH,
    CONTENT_TYPE,
    EXPORT_PATH,
    ExportChunk,
    ExportRequest,
    NodeError,
    NodeRequest,
    NodeResponse,
)
from raftq.common.results import CommandResult

log = logging.getLogger(__name__)


class LeaderFollowingClient(ABC):
    """Requests to the leader of a Raft group, following redirects; the transport is a
    subclass's `_request`."""

    def __init__(
        self,
        members: Sequence[str],
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 1.0,
        suspect_s: float = 2.0,
        max_hops: int = 6,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not members:
            raise ValueError("a backend client needs at least one member address")
        self._members = list(members)
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._suspect_s = suspect_s
        self._max_hops = max_hops
        self._monotonic = monotonic
        self._leader: str | None = None
        self._suspect_until: dict[str, float] = {}

    @property
    def members(self) -> list[str]:
        return list(self._members)

    @property
    def leader(self) -> str | None:
        return self._leader

    async def call(self, path: str, body: bytes, extra_timeout_s: float = 0.0) -> bytes:
        """`body` for `path` on the leader; its answer's bytes."""
        candidates = self._candidates()
        hops = 0
        answered = False
        unreachable = "no member was tried"
        while candidates and hops < self._max_hops:
            address = candidates.pop(0)
            hops += 1
            try:
                raw = await self._request(address, path, body, extra_timeout_s)
            except NotLeader as error:
                answered = True
                hint = error.leader_hint
                # A member answered, so the group is up and will elect a leader if it has none:
                # the suspects are left out of this request.
                candidates = [c for c in candidates if not self._is_suspect(c)]
                if hint and hint != address and not self._is_suspect(hint):
                    candidates = [hint, *[c for c in candidates if c != hint]]
                else:
                    await asyncio.sleep(0.2)  # an election is running: give it a moment
                    if not candidates:
                        others = [m for m in self._candidates() if m != address]
                        candidates = [m for m in others if not self._is_suspect(m)] + [address]
                continue
            except NotSent as error:
                self._suspect(address)
                unreachable = str(error)
                continue  # nothing was sent: another member may serve
            self._suspect_until.pop(address, None)
            self._leader = address
            return raw
        if answered:
            raise NoLeader("no leader yet (an election is running); nothing was proposed")
        log.info(
            "no member of %s could serve: %s",
            self._members,
            unreachable,
            extra={"event": "backend_unavailable"},
        )
        raise BackendUnavailable("no member of the group could serve the request")

    def _candidates(self) -> list[str]:
        """The known leader first, then the other members; suspects last."""
        first = [self._leader] if self._leader else []
        ordered = first + [m for m in self._members if m != self._leader]
        return sorted(ordered, key=self._is_suspect)  # stable: keeps the order within each

    def _suspect(self, address: str) -> None:
        self._suspect_until[address] = self._monotonic() + self._suspect_s
        if self._leader == address:
            self._leader = None

    def _is_suspect(self, address: str) -> bool:
        until = self._suspect_until.get(address)
        return until is not None and self._monotonic() < until

    @abstractmethod
    async def _request(self, address: str, path: str, body: bytes, extra_timeout_s: float) -> bytes:
        """The answer of `address` to `body`; `NotSent` when nothing reached it."""

    @staticmethod
    def _error(raw: bytes, status: int) -> RaftqError:
        try:
            error = codec.decode(raw, NodeError)
        except DecodeError:
            return OutcomeUnknown(f"backend answered HTTP {status} without an error body")
        if error.code == NotLeader.code:
            return NotLeader(error.message, leader_hint=error.leader)
        if error.code in (Unauthenticated.code, CredentialNotAllowed.code):
            # This process's own credential was refused: its configuration is at fault (or it
            # was revoked), never the request it serves for someone else.
            return CredentialRefused(f"a node refused this process's credential: {error.message}")
        return error_from_code(error.code, error.message, field=error.field)


class NodeClient(LeaderFollowingClient):
    """Signed HTTP requests to the leader of a Raft group's internal API; over TLS when given
    `tls`, a client context that verifies the nodes' certificates (common/internal_tls.py).
    `credential` signs them: a string is the cluster secret (a node's own requests); None
    signs nothing (the insecure development mode)."""

    def __init__(
        self,
        members: Sequence[str],
        credential: str | Credential | None,
        session: aiohttp.ClientSession,
        *,
        tls: ssl.SSLContext | None = None,
        **options: Any,
    ) -> None:
        super().__init__(members, **options)
        if isinstance(credential, str):
            credential = Credential(NODE, credential.encode())
        self._credential = credential
        self._session = session
        self._tls = tls

    def url(self, address: str, path: str) -> str:
        return f"{'http' if self._tls is None else 'https'}://{address}{path}"

    @property
    def ssl_argument(self) -> ssl.SSLContext | bool:
        """aiohttp's `ssl` argument: the context, or its default (unused for http://)."""
        return True if self._tls is None else self._tls

    def headers_for(self, method: str, path: str, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": CONTENT_TYPE}
        if self._credential is not None:
            now_ms = time.time_ns() // 1_000_000
            headers[cluster_auth.HEADER] = cluster_auth.sign(
                self._credential.secret, method, path, now_ms, body, caller=self._credential.caller
            )
        return headers

    async def node_status(self, address: str, timeout_s: float = 1.0) -> dict[str, Any] | None:
        """`GET /v1/status` of the node at `address` (a member of any group that accepts this
        client's credential there), or None when it does not answer 200 within `timeout_s`."""
        path = "/v1/status"
        try:
            async with self._session.get(
                self.url(address, path),
                headers=self.headers_for("GET", path, b""),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                ssl=self.ssl_argument,
            ) as response:
                if response.status != 200:
                    return None
                status: dict[str, Any] = await response.json()
                return status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    def tls_refused(self, address: str, error: BaseException) -> str | None:
        """Logs a failed TLS handshake, a configuration fault rather than a passing one: the
        CA, the node's certificate or the address it is dialled by is wrong (or one side does
        not speak TLS). Its description, or None if `error` is not about TLS."""
        described = internal_tls.describe_failure(error)
        if described is not None:
            log.warning(
                "no TLS connection to %s: %s (check %s and the names in the node's certificate)",
                address,
                described,
                internal_tls.CA_OPTION,
                extra={"event": "tls_failed"},
            )
        return described

    async def _request(self, address: str, path: str, body: bytes, extra_timeout_s: float) -> bytes:
        timeout = aiohttp.ClientTimeout(
            total=self._timeout_s + extra_timeout_s, sock_connect=self._connect_timeout_s
        )
        try:
            async with self._session.post(
                self.url(address, path),
                data=body,
                headers=self.headers_for("POST", path, body),
                timeout=timeout,
                ssl=self.ssl_argument,
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            described = self.tls_refused(address, error)
            raise NotSent(f"{address}: {described or error}") from None
        except (TimeoutError, aiohttp.ClientError) as error:
            self._suspect(address)
            raise OutcomeUnknown(f"request to {address} failed after sending: {error!r}") from None
        if status == 200:
            return raw
        raise self._error(raw, status)


async def _execute(client: LeaderFollowingClient, body: bytes, wait_ms: int) -> CommandResult:
    raw = await client.call(COMMANDS_PATH, body, extra_timeout_s=wait_ms / 1000)
    return codec.decode(raw, NodeResponse).result


class BackendClient(NodeClient):
    """Client of a backend cluster's internal HTTP API (tools, the metadata group, moves)."""

    async def execute(self, command: AnyCommand, wait_ms: int = 0) -> CommandResult:
        body = codec.encode(NodeRequest(command=command, wait_ms=wait_ms))
        return await _execute(self, body, wait_ms)

    async def export(self, request: ExportRequest) -> ExportChunk:
        """The next chunk of a fenced queue, from the leader (a move)."""
        return codec.decode(await self.call(EXPORT_PATH, codec.encode(request)), ExportChunk)


class ChannelBackendClient(LeaderFollowingClient):
    """Client of a backend cluster's data path: commands over the channel (common/channel/),
    one authenticated, multiplexed connection per member, shared through `pool`."""

    def __init__(self, members: Sequence[str], pool: ChannelPool, **options: Any) -> None:
        super().__init__(members, **options)
        self._pool = pool

    async def execute(self, command: AnyCommand, wait_ms: int = 0) -> CommandResult:
        """The command goes as `[wait_ms, codec.encode(command), context]` (channel_request.py):
        the leader logs the command's bytes as they are, so they are encoded here once and only
        here. The context is the caller's current one (call_context.py)."""
        body = channel_request.encode(command, wait_ms, call_context.current())
        return await _execute(self, body, wait_ms)

    async def _request(self, address: str, path: str, body: bytes, extra_timeout_s: float) -> bytes:
        try:
            ok, raw = await self._pool.request(address, body, self._timeout_s + extra_timeout_s)
        except OutcomeUnknown:
            self._suspect(address)
            raise
        if ok:
            return raw
        raise self._error(raw, 0)

"""The calling side of the channel: one long-lived, multiplexed connection per node.

Rules it keeps:
- A request is written only on a connection whose server has proven it knows this frontend's
  secret (frames.py). A connection that cannot be made or authenticated raises `NotSent`:
  nothing reached the node, so the caller may try another one.
- Requests are pipelined: each gets an id and a future; answers resolve them in any order.
- Once a request is written, a timeout or a lost connection is `OutcomeUnknown`: the node may
  have acted on it. Only the caller, who holds the idempotency key, may retry.
- A caller that gives up on a request still unanswered (its task cancelled, or its timeout
  fired) makes the connection send CANCEL for it (frames.py), so the node stops working for
  nobody: a long poll ends, a command not yet proposed is dropped, a receive that commits anyway
  gives its messages back. Its late answer, if one comes, is dropped.
- A lost connection is made again by the next request (`ChannelPool`); there is no backoff
  here, because the caller's leader-following already marks a node that failed as suspect.
- Versions (frames.py): a connection offers the newest channel version first; a node that drops
  it before its CHALLENGE (an older node refuses a preamble it does not know) is offered the
  next older version on a new connection, within the same connect timeout. Each new connection
  starts from the newest again, so a node upgraded meanwhile is spoken to at its new version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from raftq.common import internal_tls
from raftq.common.channel import frames
from raftq.common.channel.frames import Frame, FrameReader, Kind, ProtocolViolation
from raftq.common.channel.writes import WriteCoalescer
from raftq.common.command_levels import CODE_LEVEL
from raftq.common.credentials import Credential
from raftq.common.errors import OutcomeUnknown

log = logging.getLogger(__name__)


class NotSent(Exception):
    """Raised when a request could not be written: no connection, or the node failed the
    handshake. Nothing reached the node."""


class _VersionRefused(NotSent):
    """The node dropped the connection before its CHALLENGE: it may not speak this version."""


class ClientConnection(asyncio.Protocol):
    def __init__(
        self, credential: Credential, max_frame_bytes: int, version: int = frames.NEWEST_VERSION
    ) -> None:
        self._secret = credential.secret
        self._frontend_id = credential.caller.frontend_id or ""
        self.version = version
        self.challenged = False
        # The node's command level (v2 READY); None before READY and on v1.
        self.peer_level: int | None = None
        self._reader = FrameReader(max_frame_bytes, version=version)
        self._transport: asyncio.Transport | None = None
        self._nonce = frames.new_nonce()
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self._pending: dict[int, asyncio.Future[tuple[bool, bytes]]] = {}
        self._next_id = 0
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._lost: str | None = None
        self._outgoing = WriteCoalescer()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and self._lost is None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._outgoing.attach(transport)
        level = (CODE_LEVEL,) if self.version >= 2 else ()
        hello = frames.encode(Kind.HELLO, self._nonce, self._frontend_id, *level)
        transport.write(frames.PREAMBLES[self.version] + hello)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = f"connection lost: {exc!r}" if exc else "connection closed by the node"
        self._transport = None
        if not self.ready.done():
            self.ready.set_exception(NotSent(self._lost))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(OutcomeUnknown(f"{self._lost}; the request may have run"))
        self._pending.clear()
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        try:
            for frame in self._reader.feed(data):
                self._on_frame(frame)
        except ProtocolViolation as error:
            self.close(f"the node broke the protocol: {error}")

    def _on_frame(self, frame: Frame) -> None:
        if frame.kind in (Kind.RESPONSE, Kind.FAILURE) and self.ready.done():
            request_id, payload = frame.fields
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():  # None: it timed out already
                future.set_result((frame.kind is Kind.RESPONSE, payload))
        elif frame.kind is Kind.CHALLENGE and self._transport is not None:
            self.challenged = True
            server_nonce, offered = frame.fields
            expected = frames.server_proof(
                self._secret, self._frontend_id, self._nonce, server_nonce
            )
            if not frames.proof_matches(expected, offered):
                raise ProtocolViolation("the node's proof does not match this frontend's secret")
            proof = frames.client_proof(self._secret, self._frontend_id, self._nonce, server_nonce)
            self._transport.write(frames.encode(Kind.PROOF, proof))
        elif frame.kind is Kind.READY and not self.ready.done():
            self.peer_level = frame.fields[0] if frame.fields else None
            self.ready.set_result(None)
        else:
            raise ProtocolViolation(f"unexpected {frame.kind.name}")

    def close(self, reason: str = "closed") -> None:
        if self._transport is not None:
            self._lost = reason
            self._transport.abort()

    async def request(self, payload: bytes, timeout_s: float) -> tuple[bool, bytes]:
        """Send `payload`; (True, answer) or (False, encoded NodeError)."""
        await self._can_write.wait()
        transport = self._transport
        if transport is None or self._lost is not None:
            raise NotSent(self._lost or "not connected")
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[tuple[bool, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._outgoing.write(frames.encode(Kind.REQUEST, request_id, payload))
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            self._give_up(request_id)
            raise OutcomeUnknown(f"no answer within {timeout_s:.1f} s; it may have run") from None
        except asyncio.CancelledError:
            self._give_up(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)

    def _give_up(self, request_id: int) -> None:
        """Tells the node that nobody awaits `request_id` any more (CANCEL, best effort), unless
        its answer came already (`_on_frame` took it out of `_pending`) or the connection is
        gone."""
        if self._pending.pop(request_id, None) is not None and self.is_open:
            self._outgoing.write(frames.encode(Kind.CANCEL, request_id))


class ChannelPool:
    """One authenticated connection per node address, made on first use and again after a loss."""

    def __init__(
        self,
        credential: Credential,
        *,
        max_frame_bytes: int,
        connect_timeout_s: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
        max_version: int = frames.NEWEST_VERSION,
    ) -> None:
        """`max_version`: the newest channel version offered (tests: 1, as an old frontend)."""
        self._max_version = max_version
        self._credential = credential
        self._max_frame_bytes = max_frame_bytes
        self._connect_timeout_s = connect_timeout_s
        self._ssl = ssl_context
        self._connections: dict[str, ClientConnection] = {}
        self._connecting: dict[str, asyncio.Lock] = {}

    async def request(self, address: str, payload: bytes, timeout_s: float) -> tuple[bool, bytes]:
        connection = await self._connection(address)
        return await connection.request(payload, timeout_s)

    def version_of(self, address: str) -> int | None:
        """The channel version of the open connection to `address`, if there is one."""
        connection = self._connections.get(address)
        return connection.version if connection is not None and connection.is_open else None

    async def _connection(self, address: str) -> ClientConnection:
        connection = self._connections.get(address)
        if connection is not None and connection.is_open:
            return connection
        lock = self._connecting.setdefault(address, asyncio.Lock())
        async with lock:
            connection = self._connections.get(address)
            if connection is not None and connection.is_open:
                return connection
            connection = await self._connect(address)
            self._connections[address] = connection
            return connection

    async def _connect(self, address: str) -> ClientConnection:
        host, port = address.rsplit(":", 1)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                version = self._max_version
                while True:
                    try:
                        return await self._open(loop, host, int(port), version)
                    except _VersionRefused:
                        if version == 1:
                            raise
                        version -= 1
        except TimeoutError:
            raise NotSent(f"no channel to {address} within {self._connect_timeout_s} s") from None
        except (OSError, ssl.SSLError) as error:
            described = internal_tls.describe_failure(error)
            if described is not None:  # a configuration fault, not a passing one
                log.warning(
                    "no TLS channel to %s: %s",
                    address,
                    described,
                    extra={"event": "tls_failed"},
                )
            raise NotSent(f"no channel to {address}: {described or error}") from None

    async def _open(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int, version: int
    ) -> ClientConnection:
        _, connection = await loop.create_connection(
            lambda: ClientConnection(self._credential, self._max_frame_bytes, version),
            host.strip("[]"),
            port,
            ssl=self._ssl,
        )
        try:
            await connection.ready
        except NotSent as error:
            if not connection.challenged:
                raise _VersionRefused(str(error)) from None
            raise
        except BaseException:
            connection.close("the handshake failed")
            raise
        return connection

    async def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)

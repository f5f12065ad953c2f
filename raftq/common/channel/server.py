"""The serving side of the channel: one asyncio protocol per connection.

Rules it keeps:
- Nothing is acted upon before the peer has proven it holds the secret of the frontend
  credential it names (frames.py): an id the `SecretSource` does not know (unknown or revoked),
  a REQUEST before the proof, a frame of the wrong kind, garbage or a frame over the cap drops
  the connection; so does a peer that has not finished the handshake within
  `handshake_timeout_s` (one that sends nothing at all). Other connections are not affected.
- `revalidate` asks the source afresh about every frontend with an open connection and drops
  the connections of one whose credential is gone (revoked) or changed: a node calls it
  periodically, which bounds how long a revoked frontend keeps a connection.
- Requests are served concurrently and answered as each completes (pipelining, any order). At
  most `max_in_flight` run per connection; beyond that the connection stops reading until one
  ends, so a client cannot queue unbounded work.
- A connection that goes away cancels its requests still running: a long poll stops waiting. A
  command already proposed may still commit; its client saw an unknown outcome and retries only
  with the same idempotency key.
- A CANCEL cancels its one request the same way, and nothing is answered for it; one for an id
  not running (unknown, or answered already) is ignored. Each REQUEST allows one CANCEL: a
  connection that sends more CANCELs than REQUESTs, or a REQUEST whose id is still running, is
  dropped like any other protocol violation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from raftq.common import codec
from raftq.common.channel import frames
from raftq.common.channel.frames import Frame, FrameReader, Kind, ProtocolViolation
from raftq.common.channel.writes import WriteCoalescer
from raftq.common.command_levels import CODE_LEVEL, channel_version
from raftq.common.credentials import FRONTEND_ID_PATTERN
from raftq.common.errors import InternalError, NotLeader, RaftqError
from raftq.common.node_api import NodeError

log = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[bytes]]
_FRONTEND_ID = re.compile(FRONTEND_ID_PATTERN)


class SecretSource(Protocol):
    async def secret_of(self, frontend_id: str, *, fresh: bool = False) -> bytes | None:
        """The live credential's secret; None if unknown or revoked. `fresh`: not from a cache.
        May raise when it cannot tell (the caller then keeps what it had)."""
        ...


class FixedSecret:
    """One secret for every frontend id (tests; the insecure development mode, with b""), or
    None: no frontend is accepted."""

    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret

    async def secret_of(self, frontend_id: str, *, fresh: bool = False) -> bytes | None:
        return self._secret


def encode_failure(error: RaftqError) -> bytes:
    leader = error.leader_hint if isinstance(error, NotLeader) else None
    return codec.encode(
        NodeError(code=error.code, message=error.message, field=error.field, leader=leader)
    )


class ChannelServer:
    """Makes a protocol for each accepted connection and keeps track of them, to close them."""

    def __init__(
        self,
        secrets: SecretSource,
        handler: Handler,
        *,
        max_frame_bytes: int,
        handshake_timeout_s: float = 5.0,
        max_in_flight: int = 1024,
        command_level: int = CODE_LEVEL,
    ) -> None:
        """`command_level`: this node's (common/command_levels.py); it picks the newest channel
        version served, so a node run at an older level serves as the release that had it."""
        self.command_level = command_level
        self.max_version = channel_version(command_level)
        self.secrets = secrets
        self.handler = handler
        self.max_frame_bytes = max_frame_bytes
        self.handshake_timeout_s = handshake_timeout_s
        self.max_in_flight = max_in_flight
        self.connections: set[ServerConnection] = set()

    def protocol(self, *, preamble_seen: bool = False) -> ServerConnection:
        return ServerConnection(self, preamble_seen=preamble_seen)

    async def close(self) -> None:
        for connection in list(self.connections):
            connection.drop("the server is stopping")
        await asyncio.sleep(0)

    async def revalidate(self) -> int:
        """Drops the connections of frontends whose credential is no longer live (or changed);
        returns how many. A frontend the source cannot tell about now keeps its connections."""
        by_frontend: dict[str, list[ServerConnection]] = {}
        for connection in self.connections:
            if connection.frontend_id is not None and connection.secret is not None:
                by_frontend.setdefault(connection.frontend_id, []).append(connection)
        dropped = 0
        for frontend_id, connections in by_frontend.items():
            try:
                current = await self.secrets.secret_of(frontend_id, fresh=True)
            except Exception as error:
                log.info(
                    "channel: cannot recheck a frontend credential now: %r",
                    error,
                    extra={"event": "credential_recheck_failed", "error": error},
                )
                continue
            for connection in connections:
                if current is None or current != connection.secret:
                    connection.drop("its frontend credential was revoked")
                    dropped += 1
        return dropped


class _Refused(ProtocolViolation):
    """The peer failed to prove the credential it named."""


class ServerConnection(asyncio.Protocol):
    def __init__(self, server: ChannelServer, *, preamble_seen: bool) -> None:
        self._server = server
        self._reader = FrameReader(
            server.max_frame_bytes,
            expect_preamble=not preamble_seen,
            max_version=server.max_version,
        )
        # The client's command level (v2 HELLO); None on v1.
        self.peer_level: int | None = None
        self._transport: asyncio.Transport | None = None
        self._client_nonce: bytes | None = None
        self._server_nonce = frames.new_nonce()
        self.frontend_id: str | None = None
        self.secret: bytes | None = None  # the named frontend's, once looked up
        self._ready = False
        self._tasks: dict[int, asyncio.Task[None]] = {}  # by request id
        self._cancels_allowed = 0  # REQUESTs received less CANCELs received
        self._reading_paused = False
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._lookup: asyncio.Task[None] | None = None
        self._outgoing = WriteCoalescer()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._outgoing.attach(transport)
        self._server.connections.add(self)
        loop = asyncio.get_running_loop()
        self._handshake_timer = loop.call_later(
            self._server.handshake_timeout_s, self._handshake_expired
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        for task in self._tasks.values():
            task.cancel()
        if self._lookup is not None:
            self._lookup.cancel()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        try:
            for frame in self._reader.feed(data):
                self._on_frame(frame)
        except ProtocolViolation as error:
            self.drop(str(error), refused=isinstance(error, _Refused))

    def drop(self, reason: str, *, refused: bool = False) -> None:
        """Close the connection; `refused`: because its peer failed to authenticate."""
        if self._transport is not None:
            log.log(
                logging.WARNING if refused else logging.INFO,
                "channel: dropping a connection from %s: %s",
                self._peer(),
                reason,
                extra={"event": "auth_refused" if refused else "channel_dropped"},
            )
            self._transport.abort()

    def _peer(self) -> object:
        return None if self._transport is None else self._transport.get_extra_info("peername")

    def _handshake_expired(self) -> None:
        if not self._ready:
            self.drop("no handshake in time")

    def _on_frame(self, frame: Frame) -> None:
        if self._ready:
            if frame.kind is Kind.REQUEST:
                request_id, payload = frame.fields
                self._start(request_id, payload)
            elif frame.kind is Kind.CANCEL:
                self._cancel(frame.fields[0])
            else:
                raise ProtocolViolation(f"{frame.kind.name} after the handshake")
        elif frame.kind is Kind.HELLO and self._client_nonce is None:
            client_nonce, frontend_id = frame.fields[:2]
            self.peer_level = frame.fields[2] if len(frame.fields) > 2 else None
            if not _FRONTEND_ID.fullmatch(frontend_id):
                raise ProtocolViolation("the HELLO names no frontend credential")
            self._client_nonce, self.frontend_id = client_nonce, frontend_id
            self._lookup = asyncio.get_running_loop().create_task(self._challenge())
        elif frame.kind is Kind.PROOF and self.secret is not None and self.frontend_id:
            assert self._client_nonce is not None
            expected = frames.client_proof(
                self.secret, self.frontend_id, self._client_nonce, self._server_nonce
            )
            if not frames.proof_matches(expected, frame.fields[0]):
                raise _Refused("the client's proof does not match its credential")
            self._ready = True
            if self._handshake_timer is not None:
                self._handshake_timer.cancel()
            level = (self._server.command_level,) if self._reader.version >= 2 else ()
            self._write(frames.encode(Kind.READY, *level))
        else:
            raise ProtocolViolation(f"{frame.kind.name} before the handshake completed")

    async def _challenge(self) -> None:
        """Looks the named frontend's secret up, then challenges the client with a proof of
        knowing it; drops the connection if the credential is unknown or revoked."""
        assert self.frontend_id is not None and self._client_nonce is not None
        secret = None
        with contextlib.suppress(Exception):  # unknown now: refused, the client tries again
            secret = await self._server.secrets.secret_of(self.frontend_id)
        if secret is None:
            self.drop("its frontend credential is unknown or revoked", refused=True)
            return
        self.secret = secret
        proof = frames.server_proof(
            secret, self.frontend_id, self._client_nonce, self._server_nonce
        )
        self._write(frames.encode(Kind.CHALLENGE, self._server_nonce, proof))

    def _start(self, request_id: int, payload: bytes) -> None:
        running = self._tasks.get(request_id)
        if running is not None and not running.done():
            raise ProtocolViolation(f"request id {request_id} is already running")
        task = asyncio.get_running_loop().create_task(self._serve(request_id, payload))
        self._tasks[request_id] = task
        self._cancels_allowed += 1
        task.add_done_callback(functools.partial(self._finished, request_id))
        if len(self._tasks) >= self._server.max_in_flight and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True

    def _cancel(self, request_id: int) -> None:
        self._cancels_allowed -= 1
        if self._cancels_allowed < 0:
            raise ProtocolViolation("more CANCEL frames than requests")
        task = self._tasks.get(request_id)
        if task is not None:
            task.cancel()  # its handler sees CancelledError; nothing is answered

    def _finished(self, request_id: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(request_id) is task:
            del self._tasks[request_id]
        if self._reading_paused and len(self._tasks) < self._server.max_in_flight:
            self._reading_paused = False
            if self._transport is not None:
                self._transport.resume_reading()

    async def _serve(self, request_id: int, payload: bytes) -> None:
        try:
            answer = await self._server.handler(payload)
        except RaftqError as error:
            self._write(frames.encode(Kind.FAILURE, request_id, encode_failure(error)))
        except Exception:
            log.exception(
                "channel: a request failed unexpectedly", extra={"event": "request_failed"}
            )
            failure = encode_failure(InternalError("the node failed to serve the request"))
            self._write(frames.encode(Kind.FAILURE, request_id, failure))
        else:
            self._write(frames.encode(Kind.RESPONSE, request_id, answer))

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._outgoing.write(data)

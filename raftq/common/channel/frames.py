"""The frame format of the frontend ↔ backend channel, and its mutual handshake.

A connection opens with the client's preamble (its first byte is 0x00, which no HTTP request
starts with, so the channel can share a node's API port), which names the channel version the
client speaks: `raftq-channel/1` or `raftq-channel/2`. Then each side sends frames:

    frame := length (4 bytes, big-endian, <= the receiver's cap) · msgpack array [kind, ...]

    HELLO      client → server  [1, client_nonce, frontend_id]
    CHALLENGE  server → client  [2, server_nonce, server_proof]
    PROOF      client → server  [3, client_proof]
    READY      server → client  [4]
    REQUEST    client → server  [5, request_id, payload]
    RESPONSE   server → client  [6, request_id, payload]
    FAILURE    server → client  [7, request_id, payload]   (payload: an encoded NodeError)
    CANCEL     client → server  [8, request_id]            (the caller gave up; no reply)

Versions. v2 differs from v1 only in the handshake: its HELLO ends with the client's command
level and its READY carries the server's (common/command_levels.py), so each side knows which
entry formats and commands the other's code knows. A server accepts the versions up to its own
(`FrameReader(max_version=…)`) and drops a connection that opens with a newer one, as a v1-only
server does with any preamble but its own; the client then opens a new connection at v1
(client.py), so a new frontend talks to an old backend, and an old frontend to a new one.

The client is a frontend and names itself by its credential's id (common/credentials.py); the
server looks that credential's secret up (a backend asks the metadata group, which a revoked
credential's id no longer opens) and drops the connection if there is none. Each proof is an
HMAC-SHA256 under that frontend's secret over the role, the frontend id and both nonces, so
each side shows it holds the secret without sending it, and a proof cannot be replayed on
another connection (the other side's fresh nonce is in it) nor under another id. The server
acts on no REQUEST before it has verified the client's PROOF; the client sends none before it
has verified the server's.

Frames are parsed incrementally by `FrameReader`, which refuses a length over its cap before it
buffers the body, and anything that is not a well-formed frame of a known kind: the caller then
drops the connection (`ProtocolViolation`). Request ids are the client's, unique among its
requests in flight on a connection; responses may come in any order.

CANCEL is best effort: the client sends it when the caller awaiting a request gives up (its task
is cancelled, or its timeout fires) before an answer came, and forgets the request at once. The
server cancels that request's task if it still runs, and answers nothing; a CANCEL for an id that
is unknown or already answered is ignored. A client sends at most one CANCEL per REQUEST, so a
connection that sends more CANCELs than REQUESTs is dropped (a peer cannot flood them).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

# By channel version; all the same length. `PREAMBLE` is v1's (and the first byte of all).
PREAMBLES: dict[int, bytes] = {1: b"\x00raftq-channel/1\n", 2: b"\x00raftq-channel/2\n"}
PREAMBLE = PREAMBLES[1]
NEWEST_VERSION = max(PREAMBLES)
NONCE_BYTES = 32
_LENGTH = struct.Struct(">I")
_SERVER_ROLE = b"raftq-channel server"
_CLIENT_ROLE = b"raftq-channel client"


class ProtocolViolation(Exception):
    """Raised when a peer sends bytes that are not a frame this side accepts now; the
    connection is dropped, and nothing in it is acted upon."""


class Kind(IntEnum):
    HELLO = 1
    CHALLENGE = 2
    PROOF = 3
    READY = 4
    REQUEST = 5
    RESPONSE = 6
    FAILURE = 7
    CANCEL = 8


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Kind
    fields: tuple[Any, ...]


def encode(kind: Kind, *fields: Any) -> bytes:
    body: bytes = msgpack.packb([int(kind), *fields], use_bin_type=True)
    return _LENGTH.pack(len(body)) + body


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def _proof(secret: bytes, role: bytes, frontend_id: str, nonces: tuple[bytes, bytes]) -> bytes:
    message = role + b"\n" + frontend_id.encode() + b"\n" + nonces[0] + nonces[1]
    return hmac.new(secret, message, hashlib.sha256).digest()


def server_proof(
    secret: bytes, frontend_id: str, client_nonce: bytes, server_nonce: bytes
) -> bytes:
    return _proof(secret, _SERVER_ROLE, frontend_id, (client_nonce, server_nonce))


def client_proof(
    secret: bytes, frontend_id: str, client_nonce: bytes, server_nonce: bytes
) -> bytes:
    return _proof(secret, _CLIENT_ROLE, frontend_id, (client_nonce, server_nonce))


def proof_matches(expected: bytes, offered: object) -> bool:
    return isinstance(offered, bytes) and hmac.compare_digest(expected, offered)


# The shape of each kind: the types of the fields after the kind.
_SHAPES: dict[Kind, tuple[type, ...]] = {
    Kind.HELLO: (bytes, str),
    Kind.CHALLENGE: (bytes, bytes),
    Kind.PROOF: (bytes,),
    Kind.READY: (),
    Kind.REQUEST: (int, bytes),
    Kind.RESPONSE: (int, bytes),
    Kind.FAILURE: (int, bytes),
    Kind.CANCEL: (int,),
}


# What v2 adds at the end of a frame's fields (the peer's command level).
_V2_FIELDS: dict[Kind, tuple[type, ...]] = {Kind.HELLO: (int,), Kind.READY: (int,)}


class FrameReader:
    """Incremental parser: `feed(data)` returns the complete frames so far.

    A length over `max_frame_bytes`, a body that is not a msgpack array, an unknown kind or
    fields of the wrong types for the connection's version raise `ProtocolViolation`; so does,
    on a server (`expect_preamble`), a preamble of a version above `max_version`. After one,
    the reader must not be fed again (the connection is gone). `version`: the connection's
    (a client's reader is given the one it offered; a server's learns it from the preamble)."""

    def __init__(
        self,
        max_frame_bytes: int,
        *,
        expect_preamble: bool = False,
        max_version: int = NEWEST_VERSION,
        version: int = 1,
    ) -> None:
        self._max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._awaiting_preamble = expect_preamble
        self._preambles = {v: p for v, p in PREAMBLES.items() if v <= max_version}
        self.version = version

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        if self._awaiting_preamble:
            seen = bytes(self._buffer[: len(PREAMBLE)])
            offered = [v for v, p in self._preambles.items() if p.startswith(seen)]
            if not offered:
                raise ProtocolViolation("the connection did not open with the channel preamble")
            if len(seen) < len(PREAMBLE):
                return []
            del self._buffer[: len(PREAMBLE)]
            self._awaiting_preamble = False
            self.version = offered[0]
        frames: list[Frame] = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            if length > self._max_frame_bytes:
                raise ProtocolViolation(
                    f"a frame of {length} bytes is over the cap of {self._max_frame_bytes}"
                )
            end = offset + _LENGTH.size + length
            if len(buffer) < end:
                break
            frames.append(_parse(bytes(buffer[offset + _LENGTH.size : end]), self.version))
            offset = end
        if offset:
            del buffer[:offset]
        return frames


def _parse(body: bytes, version: int) -> Frame:
    try:
        value = msgpack.unpackb(
            body, use_list=False, raw=False, max_array_len=16, max_map_len=0, strict_map_key=True
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        raise ProtocolViolation("a frame is not msgpack") from None
    if not isinstance(value, tuple) or not value or type(value[0]) is not int:
        raise ProtocolViolation("a frame is not an array that starts with its kind")
    try:
        kind = Kind(value[0])
    except ValueError:
        raise ProtocolViolation(f"unknown frame kind {value[0]}") from None
    fields = value[1:]
    shape = _SHAPES[kind] + (_V2_FIELDS.get(kind, ()) if version >= 2 else ())
    if len(fields) != len(shape) or any(
        type(field) is not expected for field, expected in zip(fields, shape, strict=True)
    ):
        raise ProtocolViolation(f"a {kind.name} frame has the wrong fields")
    return Frame(kind, fields)

"""Message ids and receipt handles, derived deterministically during apply.

Every replica must produce the same ids, so they come from replicated inputs only: the queue's
identity (id and the log index that created it), the log index of the entry, and the position of
the command and entry within it. A handle names the message (seq), the receive it belongs to
(receive count) and a tag that binds it to that receive's log index; only the latest receive's
handle is valid. Handles are not secrets: authorization happens at the frontend.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from raftq.common.errors import ReceiptHandleInvalid

_HANDLE = struct.Struct(">QI8s")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a value is made: the log index and the command and entry positions within it."""

    index: int
    command: int
    entry: int

    def pack(self) -> bytes:
        return struct.pack(">QII", self.index, self.command, self.entry)


def message_id(queue_id: str, created_index: int, at: Position, epoch: int = 1) -> str:
    """After a move (epoch > 1) the log indexes are another cluster's, so the placement epoch
    joins the inputs: ids made under different epochs never coincide."""
    seed = queue_id.encode() + struct.pack(">Q", created_index) + at.pack()
    if epoch > 1:
        seed += struct.pack(">I", epoch)
    digest = hashlib.blake2b(seed, digest_size=16).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def handle_tag(
    queue_id: str, created_index: int, seq: int, receive_count: int, at: Position
) -> bytes:
    return hashlib.blake2b(
        queue_id.encode() + struct.pack(">QQI", created_index, seq, receive_count) + at.pack(),
        digest_size=8,
    ).digest()


@dataclass(frozen=True, slots=True)
class ReceiptHandle:
    seq: int
    receive_count: int
    tag: bytes

    def encode(self) -> str:
        packed = _HANDLE.pack(self.seq, self.receive_count, self.tag)
        return base64.urlsafe_b64encode(packed).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ReceiptHandle:
        """The handle `text` names. Only the exact text `encode` makes is accepted: the base64
        decoder alone also takes padding, `+` and `/`, stray characters and nonzero spare bits,
        so many strings would name one handle."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise ReceiptHandleInvalid(
                "the receipt handle is not valid", field="receipt_handle"
            ) from None
        if len(raw) != _HANDLE.size:
            raise ReceiptHandleInvalid("the receipt handle is not valid", field="receipt_handle")
        seq, receive_count, tag = _HANDLE.unpack(raw)
        handle = cls(seq, receive_count, tag)
        if handle.encode() != text:
            raise ReceiptHandleInvalid("the receipt handle is not valid", field="receipt_handle")
        return handle

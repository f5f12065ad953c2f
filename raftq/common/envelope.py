"""Encryption at rest: message bodies and attributes sealed with AES-256-GCM under a per-queue
data key, which is stored wrapped by a master key that only frontends hold.

Backends store and replicate ciphertext only. A queue's data keys are numbered versions; a
message names the version that sealed it, so a queue can take a new data key without touching
its stored messages. A wrapped data key names the master key that wrapped it, so rotating the
master key is: add the new master key as current (frontends keep the old one), rewrap every
queue's data keys under it (`Keyring.rewrap`), then retire the old master key. Messages are
never re-encrypted, so none is lost by a rotation.

It sits in common/ because both frontends (seal, open) and `raftq admin` (rewrap during a
master key rotation) use it, and the client must not import the frontend.

Formats (the first byte is the format version):
    sealed message   01 | data key version (u32) | nonce (12) | ciphertext + tag (16)
    wrapped data key 01 | nonce (12) | ciphertext + tag, with its master key id kept beside it
The associated data binds each ciphertext to its place: the queue id and the purpose (`body`,
`attributes`, a task's `task_result` and `task_error`) for messages, the queue id, key version
and master key id for data keys. A sealed body copied to another queue, or into the
attributes, does not open.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from raftq.common.errors import CorruptState

KEY_BYTES: Final = 32
_FORMAT: Final = b"\x01"
_NONCE: Final = 12
_TAG: Final = 16
_VERSION = struct.Struct(">I")

# A task's result and error are sealed like a body, each under its own purpose, so one cannot be
# passed off as another.
Purpose = Literal["body", "attributes", "task_result", "task_error"]


class KeyUnavailable(CorruptState):
    """Raised when a wrapped data key names a master key this frontend does not hold, or a
    message names a data key version the queue does not have."""

    code = "KeyUnavailable"


@dataclass(frozen=True, slots=True)
class WrappedKey:
    master_key_id: str
    blob: bytes


class Keyring:
    """The master keys a frontend holds: `current` wraps, every one unwraps."""

    def __init__(self, master_keys: Mapping[str, bytes], current: str) -> None:
        if current not in master_keys:
            raise ValueError(f"the current master key {current!r} is not in the keyring")
        if any(len(key) != KEY_BYTES for key in master_keys.values()):
            raise ValueError("master keys are 32 bytes (AES-256)")
        self._keys = dict(master_keys)
        self.current = current

    def new_data_key(self, queue_id: str, version: int) -> tuple[bytes, WrappedKey]:
        """A fresh data key and its wrapped form (the one to store)."""
        data_key = os.urandom(KEY_BYTES)
        return data_key, self.wrap(queue_id, version, data_key)

    def wrap(self, queue_id: str, version: int, data_key: bytes) -> WrappedKey:
        nonce = os.urandom(_NONCE)
        aad = _key_aad(queue_id, version, self.current)
        sealed = AESGCM(self._keys[self.current]).encrypt(nonce, data_key, aad)
        return WrappedKey(self.current, _FORMAT + nonce + sealed)

    def unwrap(self, queue_id: str, version: int, wrapped: WrappedKey) -> bytes:
        master = self._keys.get(wrapped.master_key_id)
        if master is None:
            raise KeyUnavailable(
                f"data key {version} of {queue_id} is wrapped by master key "
                f"{wrapped.master_key_id!r}, which this frontend does not hold"
            )
        blob = wrapped.blob
        if len(blob) != 1 + _NONCE + KEY_BYTES + _TAG or blob[:1] != _FORMAT:
            raise CorruptState(f"data key {version} of {queue_id} has an unknown format")
        aad = _key_aad(queue_id, version, wrapped.master_key_id)
        try:
            return AESGCM(master).decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
        except InvalidTag:
            raise CorruptState(f"data key {version} of {queue_id} does not open") from None

    def rewrap(self, queue_id: str, version: int, wrapped: WrappedKey) -> WrappedKey:
        """The same data key wrapped by the current master key (a rotation step)."""
        return self.wrap(queue_id, version, self.unwrap(queue_id, version, wrapped))


class QueueCipher:
    """Seals and opens one queue's messages with its data keys (version -> key). The queue's id
    is bound into every seal; its `name`, when given, is what errors say."""

    def __init__(
        self, queue_id: str, data_keys: Mapping[int, bytes], current: int, name: str | None = None
    ) -> None:
        if current not in data_keys:
            raise ValueError(f"the current data key version {current} is not among the keys")
        self.queue_id = queue_id
        self._named = f"queue {name!r}" if name else queue_id
        self._ciphers = {version: AESGCM(key) for version, key in data_keys.items()}
        self._current = current

    def seal(self, plaintext: bytes, purpose: Purpose) -> bytes:
        nonce = os.urandom(_NONCE)
        version = _VERSION.pack(self._current)
        aad = _message_aad(self.queue_id, purpose, version)
        return (
            _FORMAT + version + nonce + self._ciphers[self._current].encrypt(nonce, plaintext, aad)
        )

    def open(self, sealed: bytes, purpose: Purpose) -> bytes:
        header = 1 + _VERSION.size + _NONCE
        if len(sealed) < header + _TAG or sealed[:1] != _FORMAT:
            raise CorruptState(f"a stored message of {self._named} has an unknown format")
        version_bytes = sealed[1 : 1 + _VERSION.size]
        (version,) = _VERSION.unpack(version_bytes)
        cipher = self._ciphers.get(version)
        if cipher is None:
            raise KeyUnavailable(f"{self._named} has no data key version {version}")
        nonce = sealed[1 + _VERSION.size : header]
        aad = _message_aad(self.queue_id, purpose, version_bytes)
        try:
            return cipher.decrypt(nonce, sealed[header:], aad)
        except InvalidTag:
            raise CorruptState(f"a stored message of {self._named} does not open") from None


def overhead_bytes() -> int:
    """How many bytes sealing adds to a message (limits account for it)."""
    return 1 + _VERSION.size + _NONCE + _TAG


def _key_aad(queue_id: str, version: int, master_key_id: str) -> bytes:
    return (
        b"raftq data key\x00"
        + queue_id.encode()
        + b"\x00"
        + _VERSION.pack(version)
        + (master_key_id.encode())
    )


def _message_aad(queue_id: str, purpose: Purpose, version: bytes) -> bytes:
    return b"raftq message\x00" + queue_id.encode() + b"\x00" + purpose.encode() + b"\x00" + version

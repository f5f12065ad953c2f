"""Encryption of Raft messages: AES-256-GCM in place of pysyncobj's Fernet.

pysyncobj encrypts every message with Fernet (AES-CBC, HMAC-SHA256, base64) under a key drawn
from its `password`, and checks the HMAC twice per message (once to read the timestamp, once to
decrypt). On this 2-core x86_64 machine that cost 22 us to encrypt and 37 us to decrypt a
heartbeat, and 327 us / 804 us for a 48 KB entry, per follower; AES-GCM takes 2-3 us and
15 us. `WireCipher` offers the three calls pysyncobj's connections make (`encrypt_at_time`,
`extract_timestamp`, `decrypt`) with the same guarantees:

- Only a holder of the raft secret can make a token that decrypts: the key is derived from
  the secret (PBKDF2-SHA256, its own salt, so it differs from pysyncobj's Fernet key), and the
  tag covers the version, the timestamp and the ciphertext. A token altered in any byte fails.
- `extract_timestamp` authenticates the token before it answers: pysyncobj records the
  timestamp (its replay check) before it calls `decrypt`, so a forged timestamp must never
  reach it. The plaintext is kept for the `decrypt` of the same token that follows.
- Nonces never repeat under one key within a process: a random 4-byte prefix chosen at start
  and an 8-byte counter (RFC 5116 §3.2). Two processes share a prefix with probability 2^-32.

Members with Fernet and members with this cipher cannot talk to each other: every member of a
group must run the same raftq version (mixed versions are not supported yet).
"""

from __future__ import annotations

import itertools
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

_VERSION = b"\xa1"
_HEADER = struct.Struct(">cQ12s")  # version, timestamp, nonce
_SALT = b"raftq raft wire aes-256-gcm v1"
_KDF_ITERATIONS = 100_000


class InvalidToken(Exception):
    """A token that is not one of ours, or was altered."""


class WireCipher:
    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=32, salt=_SALT, iterations=_KDF_ITERATIONS
        )
        self._aead = AESGCM(kdf.derive(raw))
        self._prefix = os.urandom(4)
        self._counter = itertools.count()
        self._last: tuple[bytes, bytes] | None = None  # (token, plaintext) last authenticated

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes:
        nonce = self._prefix + next(self._counter).to_bytes(8, "big")
        header = _HEADER.pack(_VERSION, current_time, nonce)
        return header + self._aead.encrypt(nonce, data, header)

    def extract_timestamp(self, token: bytes) -> int:
        """The token's timestamp, once the token proved authentic."""
        self._open(token)
        timestamp: int = _HEADER.unpack_from(token)[1]
        return timestamp

    def decrypt(self, token: bytes) -> bytes:
        return self._open(token)

    def _open(self, token: bytes) -> bytes:
        last = self._last
        if last is not None and last[0] is token:
            return last[1]
        if len(token) < _HEADER.size or token[:1] != _VERSION:
            raise InvalidToken("not a raftq Raft message")
        header = token[: _HEADER.size]
        nonce = _HEADER.unpack(header)[2]
        try:
            plaintext = self._aead.decrypt(nonce, token[_HEADER.size :], header)
        except InvalidTag:
            raise InvalidToken("a Raft message failed authentication") from None
        self._last = (token, plaintext)
        return plaintext

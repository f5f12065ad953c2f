"""Secrets of access keys are stored sealed: AES-256-GCM under the metadata master key.

A sealed secret is `version (1) | nonce (12) | ciphertext+tag`; the key id is bound as associated
data, so a sealed secret moved to another key does not open. The master key comes from settings
(a file), never from the replicated state, and plaintext secrets are returned once, at creation.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from raftq.common.errors import CorruptState

_VERSION: Final = b"\x01"
MASTER_KEY_BYTES: Final = 32


def seal(master_key: bytes, key_id: str, secret: str) -> bytes:
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(master_key).encrypt(nonce, secret.encode(), key_id.encode())


def unseal(master_key: bytes, key_id: str, sealed: bytes) -> str:
    if len(sealed) < 1 + 12 + 16 or sealed[:1] != _VERSION:
        raise CorruptState(f"the sealed secret of {key_id} has an unknown shape")
    try:
        plain = AESGCM(master_key).decrypt(sealed[1:13], sealed[13:], key_id.encode())
    except InvalidTag:
        raise CorruptState(f"the sealed secret of {key_id} does not open with this key") from None
    return plain.decode()

"""Encryption at rest: round trips, tampering and misplacement refused, and a master-key
rotation that loses no stored message."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftq.common.envelope import Keyring, KeyUnavailable, QueueCipher, WrappedKey, overhead_bytes
from raftq.common.errors import CorruptState

OLD, NEW = os.urandom(32), os.urandom(32)


def cipher_for(keyring: Keyring, queue_id: str, wrapped: dict[int, WrappedKey]) -> QueueCipher:
    keys = {version: keyring.unwrap(queue_id, version, w) for version, w in wrapped.items()}
    return QueueCipher(queue_id, keys, current=max(keys))


@given(body=st.binary(max_size=4096))
def test_a_sealed_body_opens_to_itself_and_reveals_nothing_of_it(body: bytes) -> None:
    keyring = Keyring({"m1": OLD}, current="m1")
    data_key, _ = keyring.new_data_key("q-1", 1)
    cipher = QueueCipher("q-1", {1: data_key}, current=1)
    sealed = cipher.seal(body, "body")
    assert len(sealed) == len(body) + overhead_bytes()
    if len(body) >= 8:
        assert body not in sealed
    assert cipher.open(sealed, "body") == body
    assert cipher.seal(body, "body") != sealed  # a fresh nonce every time


def test_tampered_or_misplaced_ciphertext_does_not_open() -> None:
    keyring = Keyring({"m1": OLD}, current="m1")
    data_key, _ = keyring.new_data_key("q-1", 1)
    cipher = QueueCipher("q-1", {1: data_key}, current=1)
    sealed = cipher.seal(b"pay 100 to alice", "body")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    other_queue = QueueCipher("q-2", {1: data_key}, current=1)  # same key, another queue
    for bad, purpose, opener in [
        (flipped, "body", cipher),
        (sealed, "attributes", cipher),
        (sealed, "body", other_queue),
        (sealed[:10], "body", cipher),
        (b"\x02" + sealed[1:], "body", cipher),
        (b"", "body", cipher),
    ]:
        with pytest.raises(CorruptState):
            opener.open(bad, purpose)  # type: ignore[arg-type]
    unknown_version = sealed[:1] + (7).to_bytes(4, "big") + sealed[5:]
    with pytest.raises(KeyUnavailable):
        cipher.open(unknown_version, "body")


def test_a_data_key_unwraps_only_for_its_queue_version_and_master_key() -> None:
    keyring = Keyring({"m1": OLD}, current="m1")
    data_key, wrapped = keyring.new_data_key("q-1", 1)
    assert keyring.unwrap("q-1", 1, wrapped) == data_key
    for queue_id, version in [("q-2", 1), ("q-1", 2)]:
        with pytest.raises(CorruptState):
            keyring.unwrap(queue_id, version, wrapped)
    relabelled = WrappedKey("m2", wrapped.blob)
    with pytest.raises(KeyUnavailable):
        keyring.unwrap("q-1", 1, relabelled)
    with pytest.raises(CorruptState):
        Keyring({"m2": NEW, "m1": OLD}, current="m2").unwrap("q-1", 1, relabelled)


def test_rotating_the_master_key_keeps_every_stored_message() -> None:
    # Given messages sealed under two data key versions, wrapped by the old master key
    old_ring = Keyring({"m1": OLD}, current="m1")
    wrapped: dict[int, WrappedKey] = {}
    stored = []
    for version in (1, 2):
        _, wrapped[version] = old_ring.new_data_key("q-1", version)
        cipher = cipher_for(old_ring, "q-1", wrapped)
        stored.append(cipher.seal(f"message under v{version}".encode(), "body"))

    # When the new master key becomes current and every data key is rewrapped under it
    both = Keyring({"m1": OLD, "m2": NEW}, current="m2")
    wrapped = {version: both.rewrap("q-1", version, w) for version, w in wrapped.items()}
    assert {w.master_key_id for w in wrapped.values()} == {"m2"}

    # Then, with the old master key retired, every stored message still opens
    new_ring = Keyring({"m2": NEW}, current="m2")
    cipher = cipher_for(new_ring, "q-1", wrapped)
    assert [cipher.open(s, "body") for s in stored] == [b"message under v1", b"message under v2"]
    # And retiring the old key before rewrapping would have been refused clearly, not lost data
    with pytest.raises(KeyUnavailable):
        new_ring.unwrap("q-1", 1, old_ring.wrap("q-1", 1, os.urandom(32)))


@pytest.mark.parametrize(
    ("keys", "current"), [({"m1": OLD}, "m2"), ({"m1": b"short"}, "m1"), ({}, "m1")]
)
def test_a_keyring_that_cannot_work_is_refused(keys: dict[str, bytes], current: str) -> None:
    with pytest.raises(ValueError):
        Keyring(keys, current=current)
    with pytest.raises(ValueError):
        QueueCipher("q", {1: OLD}, current=2)

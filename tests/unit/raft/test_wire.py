"""What Raft messages cost on the wire: AES-GCM tokens only the raft secret opens, and entries
pickled without pysyncobj's protocol-2 inflation of bytes."""

from __future__ import annotations

import os
import pickle

import pytest
from pysyncobj import pickle as pysyncobj_pickle

import raftq.raft.node  # noqa: F401 (sets pysyncobj's pickle protocol)
from raftq.raft.wire_cipher import InvalidToken, WireCipher

SECRET = "raft-secret-for-tests"


@pytest.mark.parametrize("size", [0, 1, 150, 48_000, 1 << 20])
def test_a_token_opens_with_the_same_secret_and_keeps_its_timestamp(size: int) -> None:
    sender, receiver = WireCipher(SECRET), WireCipher(SECRET)
    data = os.urandom(size)
    token = sender.encrypt_at_time(data, 1234)
    assert receiver.extract_timestamp(token) == 1234
    assert receiver.decrypt(token) == data
    assert len(token) == size + 9 + 12 + 16  # header, nonce, tag: no base64


def test_a_token_altered_in_any_byte_or_made_with_another_secret_is_refused() -> None:
    sender, receiver = WireCipher(SECRET), WireCipher(SECRET)
    token = sender.encrypt_at_time(b"append_entries", 7)
    for position in range(len(token)):
        altered = bytearray(token)
        altered[position] ^= 0x01
        with pytest.raises(InvalidToken):
            receiver.decrypt(bytes(altered))
    with pytest.raises(InvalidToken):
        receiver.decrypt(WireCipher("another secret").encrypt_at_time(b"append_entries", 7))
    for garbage in (b"", b"\xa1", os.urandom(64), b"gAAAAAB" + os.urandom(80)):  # Fernet-like
        with pytest.raises(InvalidToken):
            receiver.decrypt(garbage)


def test_a_forged_timestamp_is_refused_before_it_is_read() -> None:
    # pysyncobj records the timestamp (its replay check) before decrypting: a token whose
    # timestamp was raised must fail there, or one forgery would block every later message.
    token = WireCipher(SECRET).encrypt_at_time(b"heartbeat", 10)
    forged = token[:1] + (2**62).to_bytes(8, "big") + token[9:]
    with pytest.raises(InvalidToken):
        WireCipher(SECRET).extract_timestamp(forged)


def test_nonces_never_repeat_within_a_process() -> None:
    cipher = WireCipher(SECRET)
    nonces = {cipher.encrypt_at_time(b"x", 0)[9:21] for _ in range(10_000)}
    assert len(nonces) == 10_000


def test_entries_are_pickled_without_inflating_their_bytes() -> None:
    # Protocol 2 wrote bytes as a latin-1 string: half of any ciphertext took two bytes each.
    entry = (os.urandom(60_000), 101, 3)
    framed = pysyncobj_pickle.dumps(entry)
    assert len(framed) < 60_000 + 64
    assert pickle.loads(framed) == entry
    assert pysyncobj_pickle.loads(pickle.dumps(entry, 2)) == entry  # an old member's entries

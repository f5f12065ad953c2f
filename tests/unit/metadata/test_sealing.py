"""Access-key secrets are sealed under the master key and bound to their key id."""

from __future__ import annotations

import pytest

from raftq.common.errors import CorruptState
from raftq.metadata.sealing import seal, unseal

MASTER = bytes(range(32))


def test_a_sealed_secret_opens_with_its_master_key_and_key_id() -> None:
    sealed = seal(MASTER, "RQKEY1", "s3cret")
    assert b"s3cret" not in sealed
    assert unseal(MASTER, "RQKEY1", sealed) == "s3cret"
    assert seal(MASTER, "RQKEY1", "s3cret") != sealed  # a fresh nonce every time


@pytest.mark.parametrize(
    ("master", "key_id", "mutate"),
    [
        (bytes(32), "RQKEY1", lambda b: b),  # another master key
        (MASTER, "RQKEY2", lambda b: b),  # moved to another key id
        (MASTER, "RQKEY1", lambda b: b[:-1] + bytes([b[-1] ^ 1])),  # tampered
        (MASTER, "RQKEY1", lambda b: b"\x02" + b[1:]),  # unknown version
        (MASTER, "RQKEY1", lambda b: b[:20]),  # truncated
    ],
    ids=["other master key", "other key id", "tampered", "unknown version", "truncated"],
)
def test_a_sealed_secret_does_not_open_otherwise(
    master: bytes, key_id: str, mutate: object
) -> None:
    sealed = mutate(seal(MASTER, "RQKEY1", "s3cret"))  # type: ignore[operator]
    with pytest.raises(CorruptState):
        unseal(master, key_id, sealed)

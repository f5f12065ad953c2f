"""Raft messages leave uncompressed (their entries are ciphertext) yet stay readable by any
pysyncobj receiver: a level-0 zlib stream is still a zlib stream."""

from __future__ import annotations

import os
import zlib

import pytest
from pysyncobj import tcp_connection

import raftq.raft.node  # noqa: F401 (installs the level-0 compression)


@pytest.mark.parametrize("size", [0, 1, 150, 65_534, 65_535, 65_536, 131_070, 131_071, 200_000])
def test_messages_are_stored_not_deflated_and_still_decompress_with_plain_zlib(size: int) -> None:
    for payload in (os.urandom(size), b"a" * size):  # ciphertext, and text that would compress
        framed = tcp_connection.zlib.compress(payload, 3)  # what pysyncobj asks for
        assert zlib.decompress(framed) == payload  # what an unpatched receiver does
        assert len(payload) < len(framed) <= len(payload) + 11 + 5 * (size // 65_535)


def test_compressed_messages_of_an_older_peer_are_still_read() -> None:
    text = b"append_entries " * 100
    assert tcp_connection.zlib.decompress(zlib.compress(text, 3)) == text

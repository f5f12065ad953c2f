"""A receive delivers every message that opens, and reports (without internal ids) the ones that
do not, instead of failing the whole batch after all of it was leased."""

from __future__ import annotations

import os

import pytest

from raftq.common.envelope import KeyUnavailable, QueueCipher
from raftq.common.results import ReceivedMessage
from raftq.frontend.message_sealing import seal_attributes
from raftq.frontend.received import open_received

QUEUE_ID = "q-0ad4c0ffee"
CIPHER = QueueCipher(QUEUE_ID, {1: os.urandom(32)}, current=1)


def _message(n: int, body: bytes, *, source: str | None = None) -> ReceivedMessage:
    return ReceivedMessage(
        message_id=f"m-{n}",
        receipt_handle=f"h-{n}",
        body=body,
        attributes=seal_attributes(CIPHER, {}, "sender", None),
        sequence_number=n,
        group_id=None,
        dedup_id=None,
        priority=0,
        sent_at_ms=0,
        first_received_at_ms=0,
        receive_count=1,
        dead_letter_source=source,
    )


def _altered(sealed: bytes) -> bytes:
    return sealed[:-1] + bytes([sealed[-1] ^ 0x01])  # its last byte (of the tag) flipped


async def _cipher_of(message: ReceivedMessage) -> QueueCipher:
    if message.dead_letter_source is not None:
        raise KeyUnavailable(f"queue {message.dead_letter_source} no longer exists")
    return CIPHER


@pytest.mark.parametrize(
    "bad",
    [
        _altered(CIPHER.seal(b"x", "body")),
        b"not sealed at all",
        QueueCipher(QUEUE_ID, {1: os.urandom(32)}, current=1).seal(b"x", "body"),  # other key
        QueueCipher(QUEUE_ID, {7: os.urandom(32)}, current=7).seal(b"x", "body"),  # key gone
    ],
)
async def test_a_message_that_does_not_open_is_reported_and_the_others_delivered(
    bad: bytes,
) -> None:
    # Given a batch whose middle message does not open
    batch = (
        _message(1, CIPHER.seal(b"first", "body")),
        _message(2, bad),
        _message(3, CIPHER.seal(b"third", "body")),
    )

    # When it is opened
    received = await open_received("orders", batch, _cipher_of, lambda _: None)

    # Then the good ones are delivered in order and the bad one is reported by message id
    assert [o.body for o in received.opened] == [b"first", b"third"]
    [undeliverable] = received.undeliverable
    assert undeliverable.message_id == "m-2"
    assert QUEUE_ID not in undeliverable.reason


async def test_a_dead_letter_whose_sealing_queue_is_gone_is_reported_in_words_without_ids() -> None:
    batch = (_message(1, CIPHER.seal(b"x", "body"), source="q-deadbeef"),)
    received = await open_received("orders-dlq", batch, _cipher_of, lambda _: None)
    assert not received.opened
    [undeliverable] = received.undeliverable
    assert "deleted" in undeliverable.reason and "q-" not in undeliverable.reason

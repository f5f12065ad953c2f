"""Messages a receive leased after its caller was gone are given back: the release is a change of
visibility to 0 for exactly the messages it leased, in their queue."""

from __future__ import annotations

from raftq.backend.orphans import release_of
from raftq.common import codec
from raftq.common.commands import ChangeVisibility, GetQueueStats, ReceiveMessages
from raftq.common.results import QueueStats, ReceivedMessage, ReceiveResult


def _leased(handle: str) -> ReceivedMessage:
    return ReceivedMessage(
        message_id=f"m-{handle}",
        receipt_handle=handle,
        body=b"x",
        attributes=b"",
        sequence_number=1,
        group_id=None,
        dedup_id=None,
        priority=0,
        sent_at_ms=0,
        first_received_at_ms=0,
        receive_count=1,
        dead_letter_source=None,
    )


def test_a_receive_that_leased_messages_is_released_by_a_visibility_change_to_zero() -> None:
    receive = codec.encode(ReceiveMessages(now_ms=0, queue="q-orders", max_messages=10))
    result = ReceiveResult(messages=(_leased("h1"), _leased("h2")), next_visible_at_ms=None)
    release = release_of(receive, result)
    assert isinstance(release, ChangeVisibility) and release.queue == "q-orders"
    assert [(e.receipt_handle, e.visibility_timeout_ms) for e in release.entries] == [
        ("h1", 0),
        ("h2", 0),
    ]


def test_nothing_to_release_for_an_empty_receive_another_command_or_bad_bytes() -> None:
    receive = codec.encode(ReceiveMessages(now_ms=0, queue="q-orders"))
    assert release_of(receive, ReceiveResult(messages=(), next_visible_at_ms=None)) is None
    stats = codec.encode(GetQueueStats(now_ms=0, queue="q-orders"))
    counts = QueueStats(visible=1, in_flight=0, delayed=0, dead_letter_pending=0)
    assert release_of(stats, counts) is None
    leased = ReceiveResult(messages=(_leased("h1"),), next_visible_at_ms=None)
    assert release_of(b"\xc1 not msgpack", leased) is None

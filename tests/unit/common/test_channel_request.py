"""Channel request payloads (raftq/common/channel_request.py, encoded_command.py): the frontend's
command bytes reach the leader unchanged, the leader reads kind and queue without validating the
command, and a payload it cannot route is a DecodeError naming the field."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from raftq.common import channel_request, codec, limits
from raftq.common.channel_request import ChannelRequest
from raftq.common.commands import Expire, ListQueues, ReceiveMessages, SendEntry, SendMessages
from raftq.common.encoded_command import peek
from raftq.common.errors import DecodeError
from raftq.common.node_api import NodeRequest
from tests.unit.common.test_codec import EVERY_KIND


def _pack(value: object) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _decoded(payload: bytes) -> ChannelRequest:
    call = channel_request.decode(payload)
    assert isinstance(call, ChannelRequest), call
    return call


@pytest.mark.parametrize("command", EVERY_KIND, ids=lambda command: command.kind)
def test_every_command_arrives_as_the_bytes_the_frontend_encoded(command: Any) -> None:
    # When a frontend encodes a command with a long-poll wait
    call = _decoded(channel_request.encode(command, wait_ms=1_500))
    # Then the leader holds exactly codec.encode(command), its kind and its queue
    assert call.wait_ms == 1_500
    assert call.command.raw == codec.encode(command)
    assert call.command.kind == command.kind
    assert call.command.queue == getattr(command, "queue", None)


def test_a_node_request_map_is_still_served_as_one() -> None:
    # A frontend from before the encoded form sends a whole NodeRequest.
    request = NodeRequest(command=ListQueues(now_ms=0), wait_ms=7)
    assert channel_request.decode(codec.encode(request)) == request


def test_peeking_does_not_validate_the_rest_of_the_command() -> None:
    # Given a send whose entries are wrong, but whose kind and queue are readable
    raw = _pack({"kind": "send", "queue": "q", "entries": "not entries"})
    # When the leader peeks at it, then it routes it (apply will refuse it, alone)
    command = peek(raw)
    assert (command.kind, command.queue, command.raw) == ("send", "q", raw)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param(_pack([0]), None, id="one item"),
        pytest.param(_pack([0, b"x", 1]), None, id="three items"),
        pytest.param(_pack("text"), None, id="text"),
        pytest.param(b"\xc1", None, id="not msgpack"),
        pytest.param(_pack([-1, codec.encode(ListQueues(now_ms=0))]), "wait_ms", id="negative"),
        pytest.param(
            _pack([limits.RECEIVE_WAIT_MAX_MS + 1, codec.encode(ListQueues(now_ms=0))]),
            "wait_ms",
            id="wait too long",
        ),
        pytest.param(_pack([True, codec.encode(ListQueues(now_ms=0))]), "wait_ms", id="bool"),
        pytest.param(_pack([1.0, codec.encode(ListQueues(now_ms=0))]), "wait_ms", id="float"),
        pytest.param(_pack([0, "text"]), "command", id="command as text"),
        pytest.param(_pack([0, {"kind": "list_queues"}]), "command", id="command as map"),
        pytest.param(_pack([0, _pack(["send"])]), "command", id="command not a map"),
        pytest.param(_pack([0, b"\xc1"]), None, id="command not msgpack"),
        pytest.param(_pack([0, _pack({"queue": "q"})]), "command.kind", id="no kind"),
        pytest.param(_pack([0, _pack({"kind": "format_disk"})]), "command.kind", id="unknown"),
        pytest.param(_pack([0, _pack({"kind": 5})]), "command.kind", id="kind as int"),
        pytest.param(
            _pack([0, _pack({"kind": "purge", "queue": b"q"})]), "command.queue", id="queue bytes"
        ),
    ],
)
def test_a_payload_the_leader_cannot_route_is_a_decode_error(
    payload: bytes, field: str | None
) -> None:
    with pytest.raises(DecodeError) as refused:
        channel_request.decode(payload)
    if field is not None:
        assert refused.value.field == field


def test_a_receive_keeps_its_wait() -> None:
    receive = ReceiveMessages(now_ms=0, queue="q", max_messages=10)
    call = _decoded(channel_request.encode(receive, wait_ms=limits.RECEIVE_WAIT_MAX_MS))
    assert call.wait_ms == limits.RECEIVE_WAIT_MAX_MS
    assert codec.decode_command(call.command.raw) == receive


def test_commands_without_a_queue_have_none() -> None:
    assert _decoded(channel_request.encode(Expire(now_ms=0))).command.queue is None


def test_a_send_of_many_entries_is_one_request() -> None:
    entries = tuple(SendEntry(entry_id=f"e{i}", body=b"x" * 100) for i in range(16))
    send = SendMessages(now_ms=0, queue="q", entries=entries)
    call = _decoded(channel_request.encode(send))
    assert call.command.raw == codec.encode(send)

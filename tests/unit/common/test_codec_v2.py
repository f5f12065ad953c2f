"""Raft entries of format v2 (`codec.encode_entry` / `codec.decode_entry`): the leader's time once,
the commands as the bytes their senders encoded. Each command decodes on its own, stamped with
the entry's time; one that does not decode fails alone; v1 entries decode exactly as before; and
whatever bytes reach `decode_entry` become commands or a client error, never anything else."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftq.common import codec
from raftq.common.commands import (
    AnyCommand,
    CommandBatch,
    ListQueues,
    SendEntry,
    SendMessages,
    SplicedBatch,
)
from raftq.common.errors import DecodeError, UnsupportedCommand
from tests.unit.common.test_codec import EVERY_KIND

NOW_MS = 1_700_000_000_000


def _pack(value: object) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _entry(*commands: bytes, now_ms: int = NOW_MS) -> bytes:
    return codec.encode_entry(now_ms, list(commands))


def _send(queue: str = "q", body: bytes = b"x") -> SendMessages:
    return SendMessages(now_ms=0, queue=queue, entries=(SendEntry(entry_id="e", body=body),))


def _commands(raw: bytes) -> list[AnyCommand]:
    decoded = codec.decode_entry(raw)
    assert all(not isinstance(item, DecodeError) for item in decoded), decoded
    return [item for item in decoded if not isinstance(item, DecodeError)]


# --- round trips -------------------------------------------------------------------------------


def test_every_command_kind_round_trips_stamped_with_the_entry_time() -> None:
    # Given every kind encoded alone, as a frontend does, with its own (ignored) now_ms
    raw = _entry(*(codec.encode(command) for command in EVERY_KIND))
    # When the v2 entry is decoded
    decoded = _commands(raw)
    # Then each command comes back, in order, with the entry's time instead of its own
    assert decoded == [command.model_copy(update={"now_ms": NOW_MS}) for command in EVERY_KIND]
    assert [type(command) for command in decoded] == [type(command) for command in EVERY_KIND]


def test_the_leader_s_encoding_is_the_model_s_encoding() -> None:
    # The leader packs the entry without building SplicedBatch; both give the same bytes.
    commands = tuple(codec.encode(command) for command in EVERY_KIND)
    model = SplicedBatch(now_ms=NOW_MS, commands=commands)
    assert codec.encode_entry(NOW_MS, list(commands)) == codec.encode(model)
    assert codec.decode(codec.encode(model), SplicedBatch) == model


def test_the_commands_bytes_are_carried_unchanged() -> None:
    # Given command bytes as a frontend encoded them
    commands = [codec.encode(_send(body=b"\x00\xff" * 50)), codec.encode(ListQueues(now_ms=5))]
    # When the leader splices them into an entry
    raw = _entry(*commands)
    # Then the entry holds exactly those bytes (no decode and re-encode on the leader)
    assert codec.decode(raw, SplicedBatch).commands == tuple(commands)
    for command in commands:
        assert command in raw


def test_v1_entries_still_decode_exactly_as_before() -> None:
    # Given a v1 entry, as logs written before v2 hold them
    raw = codec.encode_batch(CommandBatch(commands=EVERY_KIND))
    # When decode_entry reads it, then it gives decode_batch's commands, each with its own time
    assert codec.decode_entry(raw) == list(codec.decode_batch(raw).commands)
    assert codec.decode_entry(raw) == list(EVERY_KIND)


# --- a malformed command fails alone ---------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        pytest.param(
            _pack({"kind": "send", "queue": "q", "entries": []}), "send.entries", id="empty"
        ),
        pytest.param(
            _pack({"kind": "send", "queue": "q", "entries": [{"entry_id": "e", "body": "text"}]}),
            "send.entries.0.body",
            id="body as text",
        ),
        pytest.param(
            _pack({"kind": "receive", "queue": "q", "max_messages": 0}),
            "receive.max_messages",
            id="out of range",
        ),
        pytest.param(_pack({"kind": "purge", "queue": "q", "x": 1}), "purge.x", id="extra field"),
        pytest.param(_pack({"kind": "format_disk"}), None, id="unknown kind"),
        pytest.param(_pack(["send"]), None, id="not a map"),
        pytest.param(b"\xc1", None, id="not msgpack"),
        pytest.param(codec.encode(_send())[:-1], None, id="truncated"),
    ],
)
def test_a_command_that_does_not_decode_fails_alone(bad: bytes, field: str | None) -> None:
    # Given an entry whose middle command does not decode
    good = codec.encode(_send())
    raw = _entry(good, bad, codec.encode(ListQueues(now_ms=0)))
    # When it is decoded
    first, middle, last = codec.decode_entry(raw)
    # Then the others decode, and the bad one is its own DecodeError keeping its bytes
    assert first == _send().model_copy(update={"now_ms": NOW_MS})
    assert last == ListQueues(now_ms=NOW_MS)
    assert isinstance(middle, DecodeError)
    assert middle.raw == bad
    if field is not None:
        assert middle.field == field


def test_a_command_needs_no_time_of_its_own() -> None:
    # now_ms is the entry's: a command encoded without one decodes with it.
    command = _pack({"kind": "list_queues"})
    assert _commands(_entry(command)) == [ListQueues(now_ms=NOW_MS)]


# --- the entry itself: version and shape -----------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_pack({"v": 3, "now_ms": 1, "commands": [b"x"]}), id="version 3"),
        pytest.param(_pack({"v": "2", "now_ms": 1, "commands": [b"x"]}), id="version as text"),
        pytest.param(_pack({"v": 2.0, "now_ms": 1, "commands": [b"x"]}), id="version as float"),
        pytest.param(_pack({"v": None, "now_ms": 1, "commands": [b"x"]}), id="version nil"),
        pytest.param(_pack({"now_ms": 1, "commands": [b"x"]}), id="no version"),
    ],
)
def test_an_unknown_entry_version_is_unsupported(raw: bytes) -> None:
    with pytest.raises(UnsupportedCommand) as refused:
        codec.decode_entry(raw)
    assert refused.value.field == "v"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"now_ms": 1, "commands": []}, "commands", id="no commands"),
        pytest.param({"commands": [b"x"]}, "now_ms", id="no time"),
        pytest.param({"now_ms": -1, "commands": [b"x"]}, "now_ms", id="negative time"),
        pytest.param({"now_ms": True, "commands": [b"x"]}, "now_ms", id="time as bool"),
        pytest.param({"now_ms": 1, "commands": ["text"]}, "commands.0", id="command as text"),
        pytest.param({"now_ms": 1, "commands": [{"kind": "expire"}]}, "commands.0", id="as map"),
        pytest.param({"now_ms": 1, "commands": [b"x"], "x": 1}, "x", id="extra entry field"),
    ],
)
def test_a_malformed_v2_entry_is_refused_whole(fields: dict[str, Any], field: str) -> None:
    raw = _pack({"v": 2, **fields})
    with pytest.raises(DecodeError) as refused:
        codec.decode_entry(raw)
    assert refused.value.raw == raw
    assert refused.value.field == field


def test_v1_decoding_still_refuses_a_v2_entry() -> None:
    with pytest.raises(UnsupportedCommand):
        codec.decode_batch(_entry(codec.encode(_send())))


# --- properties: commands or a client error, nothing else -------------------------------------


def _decode_or_refuse(raw: bytes) -> None:
    try:
        decoded = codec.decode_entry(raw)
    except UnsupportedCommand:
        return
    except DecodeError as error:
        assert error.raw == raw
        return
    for item in decoded:
        assert isinstance(item, DecodeError) or item.now_ms >= 0


@settings(max_examples=300)
@given(data=st.data())
def test_corrupted_v2_entries_decode_or_are_refused_as_a_client_error(
    data: st.DataObject,
) -> None:
    payload = bytearray(_entry(*(codec.encode(command) for command in EVERY_KIND)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
        payload[position] = data.draw(st.integers(min_value=0, max_value=255))
    _decode_or_refuse(bytes(payload))


@settings(max_examples=300)
@given(commands=st.lists(st.binary(max_size=64), min_size=1, max_size=4))
def test_random_command_bytes_fail_one_by_one(commands: list[bytes]) -> None:
    # Whatever bytes a command holds, the entry decodes to one item per command.
    decoded = codec.decode_entry(_entry(*commands))
    assert len(decoded) == len(commands)

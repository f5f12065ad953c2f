"""v3 entries (`[3, now_ms, commands]`, commands.CompactBatch): the same commands as a v2 entry
of the same bytes, smaller, decoded only by a node whose command level reaches 3; below it an
entry too new is `EntryFormatTooNew`, which apply turns into a stop (test below)."""

from __future__ import annotations

import msgpack
import pytest

from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.store import MemoryStore
from raftq.common import codec
from raftq.common.commands import CommandBatch, CreateQueue, ListQueues, SendEntry, SendMessages
from raftq.common.errors import CorruptState, DecodeError, EntryFormatTooNew
from raftq.common.results import Failure

NOW_MS = 1_700_000_000_000
COMMANDS = [
    codec.encode(CreateQueue(now_ms=1, queue="q")),
    codec.encode(SendMessages(now_ms=1, queue="q", entries=(SendEntry(entry_id="e", body=b"x"),))),
]


def test_a_v3_entry_decodes_to_the_commands_of_the_v2_entry_of_the_same_bytes() -> None:
    v2 = codec.encode_entry(NOW_MS, COMMANDS)
    v3 = codec.encode_entry(NOW_MS, COMMANDS, level=3)
    assert codec.decode_entry(v3) == codec.decode_entry(v2)
    assert len(v2) - len(v3) == 18  # the map's keys


def test_the_level_picks_the_format_written() -> None:
    assert codec.entry_version(codec.encode_entry(NOW_MS, COMMANDS, level=2)) == 2
    assert codec.entry_version(codec.encode_entry(NOW_MS, COMMANDS, level=3)) == 3
    assert codec.entry_version(codec.encode_entry(NOW_MS, COMMANDS)) == 2  # the default
    v1 = codec.encode_batch(CommandBatch(commands=(CreateQueue(now_ms=1, queue="q"),)))
    assert codec.entry_version(v1) == 1
    assert codec.entry_version(b"\x92\x01\x02") is None


@pytest.mark.parametrize("level", [1, 2])
def test_a_node_below_level_3_refuses_a_v3_entry_as_too_new(level: int) -> None:
    raw = codec.encode_entry(NOW_MS, COMMANDS, level=3)
    with pytest.raises(EntryFormatTooNew) as refused:
        codec.decode_entry(raw, level)
    assert refused.value.field == "v"


def test_an_entry_of_a_version_beyond_this_code_is_too_new() -> None:
    raw = msgpack.packb([4, NOW_MS, COMMANDS], use_bin_type=True)
    with pytest.raises(EntryFormatTooNew):
        codec.decode_entry(raw)


def test_a_v3_command_that_does_not_decode_fails_alone() -> None:
    raw = codec.encode_entry(NOW_MS, [b"\xc1", COMMANDS[0]], level=3)
    bad, good = codec.decode_entry(raw)
    assert isinstance(bad, DecodeError)
    assert good == CreateQueue(now_ms=NOW_MS, queue="q")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        pytest.param([3, NOW_MS], None, id="too short"),
        pytest.param([3, NOW_MS, [b"x"], 1], None, id="too long"),
        pytest.param([3, -1, [b"x"]], "now_ms", id="negative time"),
        pytest.param([3, NOW_MS, []], "commands", id="no commands"),
        pytest.param([3, NOW_MS, ["text"]], "commands.0", id="command as text"),
    ],
)
def test_a_malformed_v3_entry_is_refused_whole(value: list[object], field: str | None) -> None:
    raw = msgpack.packb(value, use_bin_type=True)
    with pytest.raises(DecodeError) as refused:
        codec.decode_entry(raw)
    assert refused.value.raw == raw
    assert refused.value.field == field


def test_a_replica_below_level_3_stops_on_a_v3_entry_and_changes_nothing() -> None:
    # Given a replica run as the previous release, and one of the new
    old = QueueStateMachine(MemoryStore(), command_level=2)
    new = QueueStateMachine(MemoryStore())
    raw = codec.encode_entry(NOW_MS, [codec.encode(ListQueues(now_ms=1))], level=3)
    # When both apply a v3 entry
    assert not isinstance(new.apply(1, raw)[0], Failure)  # type: ignore[index]
    # Then the old one raises CorruptState (its node stops) and neither index nor digest moved
    with pytest.raises(CorruptState, match="newer than this node applies"):
        old.apply(1, raw)
    assert old.applied_index == 0


def test_a_replica_below_level_3_applies_v2_entries_as_before() -> None:
    old = QueueStateMachine(MemoryStore(), command_level=2)
    new = QueueStateMachine(MemoryStore())
    raw = codec.encode_entry(NOW_MS, COMMANDS)
    assert old.apply(1, raw) == new.apply(1, raw)
    assert old.digest == new.digest

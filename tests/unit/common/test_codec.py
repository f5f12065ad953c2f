"""The command codec (raftq/common/codec.py): every command kind survives encode/decode unchanged,
and whatever bytes reach `decode_batch` become a valid batch or a client error that keeps them
(`DecodeError`, or `UnsupportedCommand` for a version this replica does not know), never any
other exception."""

from __future__ import annotations

import pickle
import typing
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftq.common import codec, limits
from raftq.common.commands import (
    AcceptDeadLetters,
    AnyCommand,
    BeginImport,
    CancelTasks,
    ChangeVisibility,
    CommandBatch,
    CreateQueue,
    DeadLetter,
    DeadLetterEntry,
    DeleteEntry,
    DeleteMessages,
    DropQueue,
    Expire,
    FenceQueue,
    FinishImport,
    FinishTasks,
    GetMessageStatus,
    GetQueueStats,
    GetTask,
    GetTaskLimits,
    ImportRecords,
    ListQueues,
    ListTasks,
    MoveToDeadLetter,
    PurgeQueue,
    ReadDeadLetters,
    ReceiveMessages,
    ReleaseDeadLetters,
    SendEntry,
    SendMessages,
    SetQueueAttributes,
    SetTaskLimits,
    VisibilityEntry,
)
from raftq.common.errors import ClientError, DecodeError, UnsupportedCommand
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes, RedrivePolicy
from raftq.common.tasks_wire import FinishEntry, TaskOutcome, TaskSpec, TaskState

BODY_MAX_BYTES = limits.MESSAGE_SIZE_MAX_BYTES + limits.STORED_OVERHEAD_ALLOWANCE_BYTES

# One of each kind, with its optional fields set where it has any, so each field is carried.
EVERY_KIND: tuple[AnyCommand, ...] = (
    CreateQueue(
        now_ms=1,
        queue="orders.fifo",
        fifo=True,
        attributes=QueueAttributes(
            visibility_timeout_ms=5_000,
            content_based_dedup=True,
            redrive=RedrivePolicy(dead_letter_queue="orders-dlq.fifo", max_receive_count=3),
        ),
    ),
    SetQueueAttributes(
        now_ms=2, queue="q", changes=QueueAttributeChanges(delay_ms=5, clear_redrive=True)
    ),
    SendMessages(
        now_ms=3,
        queue="q",
        entries=(
            SendEntry(
                entry_id="e-1",
                body=b"\x00\xff body",
                attributes=b"\x01attrs",
                delay_ms=limits.DELAY_MAX_MS,
                dedup_id="dedup!~",
                group_id="group-1",
                priority=limits.PRIORITY_MAX,
            ),
            SendEntry(entry_id="e_2", body=b"", deliver_at_ms=2**53),
        ),
    ),
    ReceiveMessages(
        now_ms=4, queue="q", max_messages=10, visibility_timeout_ms=0, attempt_id="attempt-1"
    ),
    DeleteMessages(
        now_ms=5,
        queue="q",
        entries=(
            DeleteEntry(entry_id="d", receipt_handle="handle", result=b"\x00result"),
            DeleteEntry(entry_id="d2", receipt_handle="handle-2"),
        ),
    ),
    ChangeVisibility(
        now_ms=6,
        queue="q",
        entries=(
            VisibilityEntry(
                entry_id="v",
                receipt_handle="handle",
                visibility_timeout_ms=limits.VISIBILITY_TIMEOUT_MAX_MS,
            ),
        ),
    ),
    MoveToDeadLetter(
        now_ms=7, queue="q", entries=(DeadLetterEntry(entry_id="x", receipt_handle="handle"),)
    ),
    ReadDeadLetters(now_ms=7, queue="q", limit=limits.DEAD_LETTER_BATCH_MAX, max_bytes=1),
    AcceptDeadLetters(
        now_ms=7,
        queue="dlq",
        source="q",
        source_fifo=True,
        entries=(
            DeadLetter(
                message_id="0f1e2d3c-0000-1111-2222-333344445555",
                body=b"\x00sealed",
                attributes=b"\x01sealed",
                group_id="group-1",
                dedup_id="dedup!~",
                sent_at_ms=2**53,
                receive_count=3,
                first_received_at_ms=5,
                size_bytes=14,
            ),
            DeadLetter(
                message_id="m-2",
                body=b"",
                sent_at_ms=0,
                receive_count=0,
                first_received_at_ms=0,
                size_bytes=0,
                priority=limits.PRIORITY_MAX,
            ),
        ),
    ),
    ReleaseDeadLetters(now_ms=7, queue="q", message_ids=("m-1", "m-2"), return_to_queue=True),
    PurgeQueue(now_ms=8, queue="q"),
    DropQueue(now_ms=9, queue="q"),
    FenceQueue(now_ms=9, queue="q", epoch=2),
    BeginImport(now_ms=9, queue="q", epoch=2, session="session-1"),
    ImportRecords(
        now_ms=9, queue="q", session="session-1", records=((b"C", b"\x95"), (b"M\x00", b""))
    ),
    FinishImport(
        now_ms=9,
        queue="q",
        session="session-1",
        records_total=2,
        fifo=False,
        attributes=QueueAttributes(delay_ms=5),
        created_at_ms=3,
        created_index=4,
        last_purge_at_ms=None,
    ),
    GetQueueStats(now_ms=10, queue="q"),
    GetMessageStatus(now_ms=11, queue="q", message_id="0f1e2d3c-0000-1111-2222-333344445555"),
    ListQueues(now_ms=12),
    Expire(now_ms=0, max_transitions=1),
    SendMessages(
        now_ms=13,
        queue="tasks",
        entries=(
            SendEntry(
                entry_id="t",
                body=b"{}",
                dedup_id="submit-1",
                task=TaskSpec(type="email.send", max_attempts=5, timeout_ms=60_000),
            ),
        ),
    ),
    ReceiveMessages(now_ms=14, queue="tasks", max_messages=2, worker_id="worker-1"),
    FinishTasks(
        now_ms=15,
        queue="tasks",
        entries=(
            FinishEntry(
                entry_id="f1", receipt_handle="h1", outcome=TaskOutcome.SUCCEEDED, result=b"1"
            ),
            FinishEntry(
                entry_id="f2",
                receipt_handle="h2",
                outcome=TaskOutcome.RETRY,
                error=b"{}",
                retry_delay_ms=2_000,
            ),
        ),
    ),
    CancelTasks(now_ms=16, queue="tasks", task_ids=("m-1", "m-2")),
    GetTask(now_ms=17, queue="tasks", task_id="m-1"),
    ListTasks(now_ms=18, queue="tasks", state=TaskState.RETRYING, cursor=b"\x00k", limit=10),
    SetTaskLimits(
        now_ms=19, queue="tasks", task_type="email.send", rate_milli=2_500, max_running=4
    ),
    GetTaskLimits(now_ms=20, queue="tasks"),
)


def _kind(command: AnyCommand) -> str:
    return command.kind


def _pack(value: object) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _refusal(raw: bytes) -> DecodeError | UnsupportedCommand:
    """The error `decode_batch` refuses `raw` with; fails the test if it accepts it."""
    try:
        batch = codec.decode_batch(raw)
    except (DecodeError, UnsupportedCommand) as error:
        return error
    pytest.fail(f"decoded hostile input as {batch!r}")


def _decode_or_refuse(raw: bytes) -> CommandBatch | None:
    """A batch, or None for a client error: any other exception propagates and fails the test."""
    try:
        return codec.decode_batch(raw)
    except (DecodeError, UnsupportedCommand) as error:
        assert isinstance(error, ClientError)
        if isinstance(error, DecodeError):
            assert error.raw == raw
        return None


# --- round trips -------------------------------------------------------------------------------


def test_the_examples_cover_every_command_kind() -> None:
    union = typing.get_args(AnyCommand)[0]
    kinds = {model.model_fields["kind"].default for model in typing.get_args(union)}
    assert {_kind(command) for command in EVERY_KIND} == kinds


@pytest.mark.parametrize("command", EVERY_KIND, ids=_kind)
def test_command_round_trips_unchanged(command: AnyCommand) -> None:
    batch = CommandBatch(commands=(command,))
    decoded = codec.decode_batch(codec.encode_batch(batch))
    assert decoded == batch
    assert type(decoded.commands[0]) is type(command)


def test_batch_of_every_kind_round_trips_in_order_to_the_same_bytes() -> None:
    batch = CommandBatch(commands=EVERY_KIND)
    encoded = codec.encode_batch(batch)
    decoded = codec.decode_batch(encoded)
    assert decoded == batch
    # Every replica re-encoding what it decoded gets the bytes the leader sent.
    assert codec.encode_batch(decoded) == encoded


def test_largest_legal_batch_and_body_are_accepted() -> None:
    # The limits are inclusive: exactly the maximum is legal.
    entries = [{"entry_id": f"e{i}", "body": b"x"} for i in range(limits.BATCH_ENTRIES_MAX)]
    entries[0] = {"entry_id": "e" * limits.ENTRY_ID_MAX_CHARS, "body": b"x" * BODY_MAX_BYTES}
    entries[1] = {"entry_id": "d", "body": b"x", "dedup_id": "d" * limits.TOKEN_MAX_CHARS}
    batch = codec.decode_batch(_send(entries=entries))
    assert isinstance(batch.commands[0], SendMessages)
    assert len(batch.commands[0].entries) == limits.BATCH_ENTRIES_MAX


# --- hostile input: each is refused with the bytes kept ----------------------------------------


def _send(**overrides: Any) -> bytes:
    """A valid one-send batch, with fields of the send command replaced or added."""
    command = {
        "kind": "send",
        "now_ms": 1,
        "queue": "q",
        "entries": [{"entry_id": "e", "body": b"x"}],
    }
    command.update(overrides)
    return _pack({"v": 1, "commands": [command]})


def _entry(**overrides: Any) -> bytes:
    """A valid one-send batch, with fields of its one entry replaced or added."""
    entry: dict[str, Any] = {"entry_id": "e", "body": b"x"}
    entry.update(overrides)
    return _send(entries=[entry])


def _command(**fields: Any) -> bytes:
    return _pack({"v": 1, "commands": [{"now_ms": 1, "queue": "q", **fields}]})


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_pack({"v": 2, "commands": []}), id="version 2"),
        pytest.param(
            _pack({"v": 0, "commands": [{"kind": "expire", "now_ms": 1}]}), id="version 0"
        ),
        pytest.param(_pack({"v": "1", "commands": []}), id="version as text"),
        pytest.param(_pack({"v": True, "commands": []}), id="version as true"),
        pytest.param(_pack({"v": 1.0, "commands": []}), id="version as float"),
        pytest.param(_pack({"commands": []}), id="no version"),
    ],
)
def test_unknown_command_version_is_unsupported(raw: bytes) -> None:
    error = _refusal(raw)
    assert isinstance(error, UnsupportedCommand)
    assert error.field == "v"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        # unknown kinds and unknown fields
        pytest.param(_send(kind="format_disk"), "commands.0", id="unknown kind"),
        pytest.param(_send(kind=None), "commands.0", id="no kind"),
        pytest.param(_send(extra=True), "commands.0.send.extra", id="extra command field"),
        pytest.param(_entry(extra=1), "commands.0.send.entries.0.extra", id="extra entry field"),
        pytest.param(
            _pack({"v": 1, "commands": [{"kind": "expire", "now_ms": 1}], "x": 1}),
            "x",
            id="extra batch field",
        ),
        # wrong types: strict, nothing is coerced
        pytest.param(_send(now_ms="1"), "commands.0.send.now_ms", id="now_ms as text"),
        pytest.param(_send(now_ms=1.0), "commands.0.send.now_ms", id="now_ms as float"),
        pytest.param(_send(now_ms=True), "commands.0.send.now_ms", id="now_ms as bool"),
        pytest.param(
            _command(kind="receive", max_messages="10"),
            "commands.0.receive.max_messages",
            id="max_messages as text",
        ),
        pytest.param(
            _command(kind="create_queue", fifo=1), "commands.0.create_queue.fifo", id="fifo as int"
        ),
        pytest.param(_entry(priority="1"), None, id="priority as text"),
        pytest.param(_entry(delay_ms="5"), None, id="delay as text"),
        pytest.param(_entry(body="text, not bytes"), None, id="body as text"),
        pytest.param(_send(queue=b"q"), "commands.0.send.queue", id="queue as bytes"),
        pytest.param(_send(entries={"e": b"x"}), None, id="entries as a map"),
        pytest.param(_pack({"v": 1, "commands": "expire"}), "commands", id="commands as text"),
        pytest.param(_pack([1, [{"kind": "expire", "now_ms": 1}]]), None, id="batch as array"),
        pytest.param(_pack(None), None, id="batch as nil"),
        # out of range
        pytest.param(_send(now_ms=-1), "commands.0.send.now_ms", id="negative now_ms"),
        pytest.param(_send(now_ms=2**53 + 1), "commands.0.send.now_ms", id="now_ms past 2^53"),
        pytest.param(_entry(delay_ms=-1), None, id="negative delay"),
        pytest.param(_entry(delay_ms=limits.DELAY_MAX_MS + 1), None, id="delay too long"),
        pytest.param(_entry(priority=limits.PRIORITY_MAX + 1), None, id="priority too high"),
        pytest.param(_entry(delay_ms=1, deliver_at_ms=5), None, id="delay and deliver_at"),
        pytest.param(
            _command(kind="receive", max_messages=0),
            "commands.0.receive.max_messages",
            id="receive of none",
        ),
        pytest.param(_pack({"v": 1, "commands": []}), "commands", id="no commands"),
        pytest.param(_send(entries=[]), "commands.0.send.entries", id="no entries"),
        pytest.param(
            _send(
                entries=[
                    {"entry_id": f"e{i}", "body": b"x"} for i in range(limits.BATCH_ENTRIES_MAX + 1)
                ]
            ),
            "commands.0.send.entries",
            id="too many entries",
        ),
        pytest.param(_entry(body=b"x" * (BODY_MAX_BYTES + 1)), None, id="oversized body"),
        pytest.param(
            _entry(attributes=b"x" * (BODY_MAX_BYTES + 1)), None, id="oversized attributes"
        ),
        # ids and tokens
        pytest.param(_entry(entry_id=""), None, id="empty entry id"),
        pytest.param(_entry(entry_id="has space"), None, id="entry id with space"),
        pytest.param(
            _entry(entry_id="e" * (limits.ENTRY_ID_MAX_CHARS + 1)), None, id="entry id too long"
        ),
        pytest.param(_entry(entry_id="é"), None, id="non-ASCII entry id"),
        pytest.param(_entry(entry_id="e\n"), None, id="entry id with newline"),
        pytest.param(_entry(dedup_id=""), None, id="empty dedup id"),
        pytest.param(_entry(dedup_id="a b"), None, id="dedup id with space"),
        pytest.param(
            _entry(dedup_id="d" * (limits.TOKEN_MAX_CHARS + 1)), None, id="dedup id too long"
        ),
        pytest.param(_entry(dedup_id="dédup"), None, id="non-ASCII dedup id"),
        pytest.param(_entry(group_id="g\x00"), None, id="group id with NUL"),
        pytest.param(_send(queue="has space"), "commands.0.send.queue", id="queue with space"),
    ],
)
def test_malformed_command_is_refused_with_a_decode_error(raw: bytes, field: str | None) -> None:
    error = _refusal(raw)
    assert isinstance(error, DecodeError)
    assert error.raw == raw
    if field is not None:
        assert error.field == field


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="reserved byte"),
        pytest.param(b"\x91" * 100_000 + b"\xc0", id="deeply nested arrays"),
        pytest.param(b"\x81\xa1k" * 100_000 + b"\xc0", id="deeply nested maps"),
        pytest.param(b"\xdf\xff\xff\xff\xff", id="map declaring 4 billion pairs"),
        pytest.param(b"\xdd\xff\xff\xff\xff", id="array declaring 4 billion items"),
        pytest.param(b"\xdb\xff\xff\xff\xff", id="string declaring 4 GiB"),
        pytest.param(b"\xc6\xff\xff\xff\xff", id="bytes declaring 4 GiB"),
        pytest.param(_pack({"v": 1, "commands": []}) + b"\x00", id="trailing bytes"),
        pytest.param(b"\x81\x01\x01", id="integer map key"),
        pytest.param(b"\x81\xa2\xff\xfe\x01", id="invalid UTF-8 key"),
        pytest.param(b"\xd6\xff\x00", id="truncated timestamp"),
        pytest.param(pickle.dumps({"v": 1, "commands": []}), id="a pickle"),
        pytest.param(b'{"v": 1, "commands": []}', id="JSON"),
    ],
)
def test_bytes_that_are_not_one_valid_msgpack_value_are_refused(raw: bytes) -> None:
    error = _refusal(raw)
    assert isinstance(error, DecodeError)
    assert error.raw == raw


def test_every_truncation_of_a_valid_payload_is_refused() -> None:
    payload = codec.encode_batch(CommandBatch(commands=EVERY_KIND))
    for cut in range(len(payload)):
        error = _refusal(payload[:cut])
        assert isinstance(error, DecodeError)
        assert error.raw == payload[:cut]


# --- properties: nothing but a batch or a client error ------------------------------------------


@settings(max_examples=500)
@given(raw=st.binary(max_size=512))
def test_random_bytes_decode_or_are_refused_as_a_client_error(raw: bytes) -> None:
    _decode_or_refuse(raw)


_msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.sampled_from([_kind(command) for command in EVERY_KIND]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["v", "kind", "now_ms", "queue", "entries", "entry_id", "body", "x"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=500)
@given(value=_msgpack_values, version=st.sampled_from([1, 2, None]))
def test_random_msgpack_structures_decode_or_are_refused_as_a_client_error(
    value: object, version: int | None
) -> None:
    # Shaped like a batch, so that validation (not just unpacking) meets the garbage.
    _decode_or_refuse(_pack({"v": version, "commands": [value]}))
    _decode_or_refuse(_pack(value))


@settings(max_examples=500)
@given(data=st.data())
def test_corrupted_valid_payloads_decode_or_are_refused_as_a_client_error(
    data: st.DataObject,
) -> None:
    payload = bytearray(codec.encode_batch(CommandBatch(commands=EVERY_KIND)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
        payload[position] = data.draw(st.integers(min_value=0, max_value=255))
    _decode_or_refuse(bytes(payload))

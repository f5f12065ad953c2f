"""Stored records (raftq/backend/records.py) and derived identifiers (raftq/backend/identifiers.py).

A record packs and unpacks to itself; stored bytes that do not decode to one are corruption
(`CorruptState`), whatever is wrong with them. A receipt handle has exactly one text, and any
other text is `ReceiptHandleInvalid`. Message ids depend on every replicated input and nothing
else, so every replica derives the same id and no two messages share one."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import replace

import msgpack
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from raftq.backend.identifiers import Position, ReceiptHandle, handle_tag, message_id
from raftq.backend.records import (
    AttemptRecord,
    Counters,
    DedupRecord,
    GroupState,
    MessageMeta,
    MessageState,
    QueueRecord,
    RemovedAs,
    StatusRecord,
    pack_body,
    unpack_body,
)
from raftq.common.errors import CorruptState, ReceiptHandleInvalid
from raftq.common.queue_attributes import QueueAttributes, RedrivePolicy

MESSAGE = MessageMeta(
    seq=7,
    message_id="0f1e2d3c-0000-1111-2222-333344445555",
    state=MessageState.IN_FLIGHT,
    priority=9,
    group_id="group-1",
    dedup_id="dedup-1",
    sent_at_ms=1_000,
    timer_ms=31_000,
    receive_count=3,
    first_received_at_ms=2_000,
    received_at_ms=3_000,
    handle_tag=b"\x00\xfftag\x01\x02\x03",
    dead_letter_source="source-queue",
    size_bytes=2**20,
)
QUEUE = QueueRecord(
    queue_id="orders.fifo",
    qnum=12,
    fifo=True,
    attributes=QueueAttributes(
        delay_ms=5_000, redrive=RedrivePolicy(dead_letter_queue="dlq.fifo", max_receive_count=2)
    ),
    created_at_ms=1_000,
    created_index=42,
    last_purge_at_ms=9_000,
)
STATUS = StatusRecord(
    removed_as=RemovedAs.DEAD_LETTERED, receive_count=4, at_ms=5, expires_at_ms=6, result=b"\x00"
)

Unpacker = Callable[[bytes], object]

# Each record kind: its unpacker and one packed record of it.
VALID: dict[str, tuple[Unpacker, bytes]] = {
    "message": (MessageMeta.unpack, MESSAGE.pack()),
    "counters": (Counters.unpack, Counters(1, 2, 3, 4, 5).pack()),
    "queue": (QueueRecord.unpack, QUEUE.pack()),
    "group": (GroupState.unpack, GroupState(in_flight=1, ready_head=9).pack()),
    "dedup": (DedupRecord.unpack, DedupRecord("id", 3, 4).pack()),
    "attempt": (AttemptRecord.unpack, AttemptRecord(5, ((1, 2), (3, 4))).pack()),
    "status": (StatusRecord.unpack, STATUS.pack()),
    "body": (unpack_body, pack_body(b"body", b"attributes")),
}


def _fields(raw: bytes) -> list[object]:
    fields: list[object] = msgpack.unpackb(raw, use_list=True)
    return fields


def _pack(value: object) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        MESSAGE,
        *(
            replace(MESSAGE, state=state, group_id=None, dedup_id=None, dead_letter_source=None)
            for state in MessageState
        ),
        replace(MESSAGE, handle_tag=b"", receive_count=0),
    ],
    ids=lambda record: record.state.name,
)
def test_message_record_round_trips(record: MessageMeta) -> None:
    unpacked = MessageMeta.unpack(record.pack())
    assert unpacked == record
    assert type(unpacked.state) is MessageState


@pytest.mark.parametrize("record", [STATUS, *(replace(STATUS, removed_as=r) for r in RemovedAs)])
def test_status_record_round_trips(record: StatusRecord) -> None:
    unpacked = StatusRecord.unpack(record.pack())
    assert unpacked == record
    assert type(unpacked.removed_as) is RemovedAs


def test_status_record_without_a_result_round_trips() -> None:
    record = replace(STATUS, result=None)
    assert StatusRecord.unpack(record.pack()) == record


@pytest.mark.parametrize("record", [QUEUE, replace(QUEUE, attributes=QueueAttributes())])
def test_queue_record_round_trips(record: QueueRecord) -> None:
    assert QueueRecord.unpack(record.pack()) == record


@pytest.mark.parametrize("record", [Counters(), Counters(1, 2, 3, 4, 5)])
def test_counters_round_trip(record: Counters) -> None:
    assert Counters.unpack(record.pack()) == record


@pytest.mark.parametrize("record", [GroupState(), GroupState(in_flight=2, ready_head=17)])
def test_group_state_round_trips(record: GroupState) -> None:
    assert GroupState.unpack(record.pack()) == record


def test_dedup_record_round_trips() -> None:
    record = DedupRecord(message_id="id", seq=3, expires_at_ms=2**53)
    assert DedupRecord.unpack(record.pack()) == record


@pytest.mark.parametrize("record", [AttemptRecord(5), AttemptRecord(5, ((1, 2), (3, 4)))])
def test_attempt_record_round_trips(record: AttemptRecord) -> None:
    assert AttemptRecord.unpack(record.pack()) == record


def test_body_round_trips_every_byte_value() -> None:
    body, attributes = bytes(range(256)), b""
    assert unpack_body(pack_body(body, attributes)) == (body, attributes)


# --- corruption: every undecodable record is CorruptState ---------------------------------------


def _wrong_version(raw: bytes, version: object) -> bytes:
    fields = _fields(raw)
    return _pack([version, *fields[1:]])


def _corruptions(raw: bytes) -> list[tuple[str, bytes]]:
    fields = _fields(raw)
    return [
        ("empty", b""),
        ("reserved byte", b"\xc1"),
        ("text", b"not msgpack at all"),
        ("trailing byte", raw + b"\x00"),
        ("a map", _pack({"v": 1})),
        ("an integer", _pack(1)),
        ("nil", _pack(None)),
        ("bytes", _pack(raw)),
        ("empty array", _pack([])),
        ("version 0", _wrong_version(raw, 0)),
        ("version 2", _wrong_version(raw, 2)),
        ("version as text", _wrong_version(raw, "1")),
        ("version nil", _wrong_version(raw, None)),
        ("one field too many", _pack([*fields, 0])),
        ("one field too few", _pack(fields[:-1])),
        ("huge map", b"\xdf\xff\xff\xff\xff"),
        ("deep nesting", b"\x91" * 100_000 + b"\xc0"),
    ]


@pytest.mark.parametrize(
    ("unpack", "raw"),
    [
        pytest.param(unpack, bad, id=f"{name}: {what}")
        for name, (unpack, valid) in VALID.items()
        for what, bad in _corruptions(valid)
    ],
)
def test_undecodable_record_is_corruption(unpack: Unpacker, raw: bytes) -> None:
    with pytest.raises(CorruptState):
        unpack(raw)


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_truncation_of_a_record_is_corruption(name: str) -> None:
    unpack, raw = VALID[name]
    for cut in range(len(raw)):
        with pytest.raises(CorruptState):
            unpack(raw[:cut])


@pytest.mark.parametrize("state", [0, 5, 99, -1, "VISIBLE", None, 1.5])
def test_unknown_message_state_is_corruption(state: object) -> None:
    fields = _fields(MESSAGE.pack())
    fields[3] = state
    with pytest.raises(CorruptState):
        MessageMeta.unpack(_pack(fields))


@pytest.mark.parametrize("removed_as", [0, 4, "DELETED", None, [1]])
def test_unknown_removal_kind_is_corruption(removed_as: object) -> None:
    fields = _fields(STATUS.pack())
    fields[1] = removed_as
    with pytest.raises(CorruptState):
        StatusRecord.unpack(_pack(fields))


@pytest.mark.parametrize("attributes", [None, "attributes", {"no_such": 1}, {"delay_ms": -1}])
def test_queue_record_with_invalid_attributes_is_corruption(attributes: object) -> None:
    fields = _fields(QUEUE.pack())
    fields[4] = attributes
    with pytest.raises(CorruptState):
        QueueRecord.unpack(_pack(fields))


@pytest.mark.parametrize("received", [None, 5, [5], [[1, 2], 3]])
def test_attempt_record_with_malformed_receives_is_corruption(received: object) -> None:
    with pytest.raises(CorruptState):
        AttemptRecord.unpack(_pack([1, 5, received]))


def test_unpacking_something_other_than_bytes_is_corruption() -> None:
    with pytest.raises(CorruptState):
        Counters.unpack("text")  # type: ignore[arg-type]


@settings(max_examples=300)
@given(raw=st.binary(max_size=64), name=st.sampled_from(sorted(VALID)))
def test_random_bytes_decode_to_a_record_or_are_corruption(raw: bytes, name: str) -> None:
    # Any other exception escapes and fails the test.
    unpack, _ = VALID[name]
    with contextlib.suppress(CorruptState):
        unpack(raw)


# --- receipt handles ---------------------------------------------------------------------------

_HANDLE_TEXT = re.compile(r"^[A-Za-z0-9_-]{27}$")  # 20 bytes, URL-safe base64, no padding
_handles = st.builds(
    ReceiptHandle,
    seq=st.integers(min_value=0, max_value=2**64 - 1),
    receive_count=st.integers(min_value=0, max_value=2**32 - 1),
    tag=st.binary(min_size=8, max_size=8),
)
# Chosen so its text holds both `-` and `_`, the URL-safe characters.
HANDLE = ReceiptHandle(seq=2**64 - 1, receive_count=0xFBEF, tag=b"\xfb\xff\xbf\x00\xfe\xff\x01\x02")


@settings(max_examples=300)
@given(handle=_handles)
def test_receipt_handle_round_trips_through_url_safe_text(handle: ReceiptHandle) -> None:
    text = handle.encode()
    assert _HANDLE_TEXT.match(text)
    assert ReceiptHandle.decode(text) == handle


def _flip_spare_bits(text: str) -> str:
    # The last of 27 characters carries 4 bits of data and 2 spare bits that must be zero.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[alphabet.index(text[-1]) | 1]


def _not_canonical() -> list[tuple[str, str]]:
    text = HANDLE.encode()
    assert "-" in text and "_" in text
    return [
        ("padded", text + "="),
        ("stray character", text[:5] + "!" + text[5:]),
        ("inner space", text[:5] + " " + text[5:]),
        ("surrounding whitespace", f" {text}\n"),
        ("standard alphabet", text.replace("-", "+").replace("_", "/")),
        ("spare bits set", _flip_spare_bits(text)),
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("=", id="only padding"),
        pytest.param("!!!!", id="not base64"),
        pytest.param("A", id="impossible length"),
        pytest.param(HANDLE.encode()[:-1], id="one character short"),
        pytest.param(HANDLE.encode() + "A", id="one character long"),
        pytest.param("A" * 26, id="19 bytes"),
        pytest.param("A" * 28, id="21 bytes"),
        pytest.param("é" * 27, id="non-ASCII"),
        pytest.param(HANDLE.encode()[:-1] + "é", id="non-ASCII last character"),
        pytest.param("A" * 1_000_000, id="huge"),
        *(pytest.param(text, id=name) for name, text in _not_canonical()),
    ],
)
def test_malformed_receipt_handle_is_invalid(text: str) -> None:
    with pytest.raises(ReceiptHandleInvalid) as raised:
        ReceiptHandle.decode(text)
    assert raised.value.field == "receipt_handle"


@settings(max_examples=500)
@given(text=st.text(max_size=40) | _handles.map(ReceiptHandle.encode).map(lambda t: t[:-1] + "B"))
def test_only_the_text_a_handle_encodes_to_decodes(text: str) -> None:
    try:
        handle = ReceiptHandle.decode(text)
    except ReceiptHandleInvalid:
        return
    assert handle.encode() == text


# --- derived identifiers -----------------------------------------------------------------------

_UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ID_INPUTS = ("orders", 42, Position(index=1_000, command=2, entry=3))


def test_message_id_is_the_same_for_the_same_inputs() -> None:
    assert message_id(*ID_INPUTS) == message_id("orders", 42, Position(1_000, 2, 3))
    assert _UUID_SHAPE.match(message_id(*ID_INPUTS))


@pytest.mark.parametrize(
    ("queue_id", "created_index", "at"),
    [
        pytest.param("orders2", 42, Position(1_000, 2, 3), id="queue id"),
        pytest.param("order", 42, Position(1_000, 2, 3), id="queue id prefix"),
        pytest.param("orders", 43, Position(1_000, 2, 3), id="queue incarnation"),
        pytest.param("orders", 42, Position(1_001, 2, 3), id="log index"),
        pytest.param("orders", 42, Position(1_000, 3, 3), id="command position"),
        pytest.param("orders", 42, Position(1_000, 2, 4), id="entry position"),
        pytest.param("orders", 42, Position(1_000, 3, 2), id="positions swapped"),
    ],
)
def test_message_id_differs_when_any_input_differs(
    queue_id: str, created_index: int, at: Position
) -> None:
    assert message_id(queue_id, created_index, at) != message_id(*ID_INPUTS)


_positions = st.builds(
    Position,
    index=st.integers(min_value=0, max_value=2**64 - 1),
    command=st.integers(min_value=0, max_value=2**32 - 1),
    entry=st.integers(min_value=0, max_value=2**32 - 1),
)
_id_inputs = st.tuples(
    st.text(st.sampled_from("ab.-\x00"), max_size=4),
    st.integers(min_value=0, max_value=2**64 - 1),
    _positions,
)


@settings(max_examples=300)
@given(first=_id_inputs, second=_id_inputs)
def test_different_inputs_never_share_a_message_id(
    first: tuple[str, int, Position], second: tuple[str, int, Position]
) -> None:
    assume(first != second)
    assert message_id(*first) != message_id(*second)


def test_handle_tag_is_the_same_for_the_same_inputs_and_differs_otherwise() -> None:
    at = Position(1_000, 2, 3)
    tag = handle_tag("orders", 42, 7, 1, at)
    assert len(tag) == 8
    assert handle_tag("orders", 42, 7, 1, Position(1_000, 2, 3)) == tag
    others = [
        handle_tag("orders2", 42, 7, 1, at),
        handle_tag("orders", 43, 7, 1, at),
        handle_tag("orders", 42, 8, 1, at),
        handle_tag("orders", 42, 7, 2, at),
        handle_tag("orders", 42, 7, 1, Position(1_001, 2, 3)),
    ]
    assert tag not in others

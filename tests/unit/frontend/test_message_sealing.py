"""What the frontend does to messages on their way in: every entry gets a dedup id (the one to
retry with after an unknown outcome), oversized bodies are refused, bodies and attributes are
sealed so that only the queue's data key opens them."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from raftq.common.envelope import QueueCipher
from raftq.common.errors import PayloadTooLarge
from raftq.common.metadata_models import Placement, Queue
from raftq.common.queue_attributes import QueueAttributes
from raftq.frontend import rest_models as m
from raftq.frontend.message_sealing import open_attributes, seal_attributes, sealed_entries

CIPHER = QueueCipher("q-1", {1: os.urandom(32)}, current=1)


def _queue(*, fifo: bool = False, content_based_dedup: bool = False) -> Queue:
    return Queue(
        queue_id="q-1",
        name="jobs.fifo" if fifo else "jobs",
        owner="root",
        fifo=fifo,
        attributes=QueueAttributes(max_message_bytes=1024, content_based_dedup=content_based_dedup),
        placement=Placement(cluster_id="c1", epoch=1),
        lifecycle="active",
        created_at_ms=0,
    )


def _entry(entry_id: str, body: str = "hello", **options: object) -> m.SendBatchEntry:
    return m.SendBatchEntry.model_validate({"id": entry_id, "body": body, **options})


def test_a_single_send_is_deduplicated_by_its_idempotency_key() -> None:
    _, dedup_ids = sealed_entries(
        _queue(), CIPHER, [_entry("message")], sender_id="alice", idempotency_key="order-7"
    )
    assert dedup_ids == {"message": "order-7"}


def test_batch_entries_keep_their_own_dedup_ids_and_the_others_get_distinct_fresh_ones() -> None:
    entries = [_entry("a", dedup_id="mine"), _entry("b"), _entry("c")]
    _, dedup_ids = sealed_entries(
        _queue(), CIPHER, entries, sender_id="alice", idempotency_key="not-for-batches"
    )
    assert dedup_ids["a"] == "mine"
    assert len({dedup_ids["b"], dedup_ids["c"], "not-for-batches"}) == 3


def test_content_based_dedup_hashes_the_plaintext_not_the_ciphertext() -> None:
    queue = _queue(fifo=True, content_based_dedup=True)
    entries = [_entry("a", "same", group_id="g"), _entry("b", "same", group_id="g")]
    sealed, dedup_ids = sealed_entries(
        queue, CIPHER, entries, sender_id="alice", idempotency_key=None
    )
    digest = hashlib.sha256(b"same").hexdigest()
    assert dedup_ids == {"a": digest, "b": digest}
    assert sealed[0].body != sealed[1].body  # sealed with distinct nonces


def test_a_body_over_the_queues_limit_is_refused_naming_the_body() -> None:
    with pytest.raises(PayloadTooLarge) as refused:
        sealed_entries(
            _queue(), CIPHER, [_entry("a", "x" * 1025)], sender_id="alice", idempotency_key=None
        )
    assert refused.value.field == "body"


@pytest.mark.parametrize(
    ("body", "attributes", "fits"),
    [
        ("x" * 1024, {}, True),  # exactly the limit
        ("é" * 512, {}, True),  # 512 characters, 1,024 bytes
        ("é" * 513, {}, False),  # 513 characters, 1,026 bytes: measured in bytes
        # 1,000 + "tag" + "String" + 15 = 1,024
        ("x" * 1000, {"tag": {"type": "String", "value": "v" * 15}}, True),
        ("x" * 1000, {"tag": {"type": "String", "value": "v" * 16}}, False),
        # A Binary value counts decoded: 12 base64 characters are 9 bytes
        ("x" * 1006, {"bin": {"type": "Binary", "value": "AAAAAAAAAAAA"}}, True),
    ],
)
def test_a_message_is_its_body_and_attributes_in_bytes_against_its_queues_limit(
    body: str, attributes: dict[str, object], fits: bool
) -> None:
    entry = _entry("a", body, attributes=attributes)
    if fits:
        sealed_entries(_queue(), CIPHER, [entry], sender_id="alice", idempotency_key=None)
        return
    with pytest.raises(PayloadTooLarge) as refused:
        sealed_entries(_queue(), CIPHER, [entry], sender_id="alice", idempotency_key=None)
    assert refused.value.field == "body" and "jobs" in refused.value.message


def test_an_oversized_entry_of_a_batch_is_named_by_its_position() -> None:
    entries = [_entry("a"), _entry("b", "x" * 1025)]
    with pytest.raises(PayloadTooLarge) as refused:
        sealed_entries(_queue(), CIPHER, entries, sender_id="alice", idempotency_key=None)
    assert refused.value.field == "entries.1.body"


def test_sealed_bodies_and_attributes_open_only_with_the_queues_key() -> None:
    attributes = {"trace": {"type": "String", "value": "abc"}}
    entry = _entry("a", "secret", attributes=attributes, trace_header="Root=1")
    (sealed,), _ = sealed_entries(
        _queue(), CIPHER, [entry], sender_id="alice", idempotency_key=None
    )
    assert b"secret" not in sealed.body and b"abc" not in sealed.attributes
    assert CIPHER.open(sealed.body, "body") == b"secret"
    user, system = open_attributes(CIPHER, sealed.attributes)
    assert {k: v.model_dump() for k, v in user.items()} == {
        "trace": m.MessageAttribute.model_validate(attributes["trace"]).model_dump()
    }
    assert system == {"sender_id": "alice", "trace_header": "Root=1"}


def test_attributes_sealed_before_system_attributes_were_kept_still_open() -> None:
    version_1 = {"trace": {"type": "String", "value": "abc"}}
    sealed = CIPHER.seal(json.dumps(version_1).encode(), "attributes")
    user, system = open_attributes(CIPHER, sealed)
    assert list(user) == ["trace"] and system == {}
    assert open_attributes(CIPHER, b"") == ({}, {})
    assert open_attributes(CIPHER, seal_attributes(CIPHER, {}, "bob", None)) == (
        {},
        {"sender_id": "bob"},
    )

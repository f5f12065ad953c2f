"""What a frontend does to messages on their way in: check their size, choose their dedup ids,
seal their bodies and attributes. Backends store the sealed bytes as they are; only a frontend
opens them (raftq/common/envelope.py).

Formats of the sealed attributes:
    version 2  {"v": 2, "user": {name: MessageAttribute}, "system": {"sender_id", "trace_header"}}
    version 1  the caller's attribute map alone, or empty bytes when there were none (messages
               stored before system attributes were kept: still opened, never written)
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping

from raftq.common import commands as backend
from raftq.common.envelope import QueueCipher
from raftq.common.errors import InvalidParameter, PayloadTooLarge
from raftq.common.metadata_models import Queue
from raftq.frontend import rest_models as m


def sealed_entries(
    queue: Queue,
    cipher: QueueCipher,
    entries: list[m.SendBatchEntry],
    *,
    sender_id: str,
    idempotency_key: str | None,
) -> tuple[list[backend.SendEntry], dict[str, str]]:
    """The entries as the backend stores them, and the dedup id of each (by entry id).

    An entry's dedup id is its own `dedup_id`, else the request's idempotency key when it is the
    only entry, else (FIFO queues with content-based dedup) the SHA-256 of its plaintext, else one
    drawn here: every send has one, so a send whose outcome is unknown can be retried safely.

    A message is measured after decoding: its body's bytes and its attributes' (names, types,
    values: `attributes_size`), against its queue's `max_message_bytes`, on both APIs."""
    sealed, dedup_ids = [], {}
    plains = [_body_bytes(entry) for entry in entries]
    sizes = [
        len(plain) + attributes_size(entry.attributes)
        for plain, entry in zip(plains, entries, strict=True)
    ]
    limit = queue.attributes.max_message_bytes
    for position, size in enumerate(sizes):
        if size > limit:
            where = "body" if len(entries) == 1 else f"entries.{position}.body"
            raise PayloadTooLarge(
                f"the message is {size} bytes (body and attributes); queue {queue.name} "
                f"takes messages of up to {limit}",
                field=where,
            )
    for entry, plain in zip(entries, plains, strict=True):
        dedup_id = entry.dedup_id or (idempotency_key if len(entries) == 1 else None)
        if dedup_id is None and queue.fifo and queue.attributes.content_based_dedup:
            dedup_id = hashlib.sha256(plain).hexdigest()  # over the plaintext, not the ciphertext
        dedup_id = dedup_id or secrets.token_urlsafe(16)
        dedup_ids[entry.id] = dedup_id
        sealed.append(
            backend.SendEntry(
                entry_id=entry.id,
                body=cipher.seal(plain, "body"),
                attributes=seal_attributes(cipher, entry.attributes, sender_id, entry.trace_header),
                delay_ms=None if entry.delay_s is None else entry.delay_s * 1000,
                deliver_at_ms=entry.deliver_at_ms,
                dedup_id=dedup_id,
                group_id=entry.group_id,
                priority=entry.priority,
            )
        )
    return sealed, dedup_ids


def attributes_size(attributes: Mapping[str, m.MessageAttribute]) -> int:
    """The bytes SQS counts toward a message's size for its attributes: each name, data type
    and (decoded) value. A message's size is its body's bytes plus this, on both APIs."""
    total = 0
    for name, attribute in attributes.items():
        value = (
            base64.b64decode(attribute.value)
            if attribute.type.startswith("Binary")
            else attribute.value.encode()
        )
        total += len(name.encode()) + len(attribute.type.encode()) + len(value)
    return total


def seal_attributes(
    cipher: QueueCipher,
    attributes: dict[str, m.MessageAttribute],
    sender_id: str,
    trace_header: str | None,
) -> bytes:
    """Version 2 of the sealed attributes: the caller's attributes and the system attributes
    SQS reports (who sent it, its trace header)."""
    system = {"sender_id": sender_id}
    if trace_header is not None:
        system["trace_header"] = trace_header
    plain = {
        "v": 2,
        "user": {k: v.model_dump() for k, v in attributes.items()},
        "system": system,
    }
    return cipher.seal(json.dumps(plain, sort_keys=True).encode(), "attributes")


def open_attributes(
    cipher: QueueCipher, sealed: bytes
) -> tuple[dict[str, m.MessageAttribute], dict[str, str]]:
    """The caller's attributes and the system attributes, of either version."""
    if not sealed:
        return {}, {}
    raw = json.loads(cipher.open(sealed, "attributes"))
    if raw.get("v") == 2:
        user, system = raw["user"], raw["system"]
    else:
        user, system = raw, {}
    return {k: m.MessageAttribute.model_validate(v) for k, v in user.items()}, system


def _body_bytes(entry: m.SendBody) -> bytes:
    try:
        return entry.body_bytes()
    except ValueError as error:
        raise InvalidParameter(str(error), field="body_base64") from None

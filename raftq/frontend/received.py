"""Received messages opened for their caller, one at a time.

A receive leases every message of its batch before the frontend opens any of them. A message
that cannot be opened (its ciphertext altered on disk, or the key that sealed it gone) must not
cost the caller the others: each is opened on its own, the good ones are delivered, and a bad
one is reported as *undeliverable* (REST lists it; SQS has no place for it) and logged. It stays
in flight until its visibility timeout, so it neither blocks the queue nor comes back at once;
its receive count grows with each try, so a queue with a redrive policy dead-letters it.
The reason given never names internal ids.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from raftq.common.envelope import KeyUnavailable, QueueCipher
from raftq.common.errors import CorruptState
from raftq.common.results import ReceivedMessage
from raftq.frontend import rest_models as m
from raftq.frontend.message_sealing import open_attributes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedMessage:
    """A received message with its body and attributes opened."""

    message: ReceivedMessage
    body: bytes
    attributes: dict[str, m.MessageAttribute]
    sender_id: str | None
    trace_header: str | None
    dead_letter_source: str | None  # the name of the queue it was dead-lettered from


@dataclass(frozen=True)
class Undeliverable:
    """A received message that could not be opened, and why (in words a user can act on)."""

    message_id: str
    reason: str


@dataclass(frozen=True)
class Received:
    opened: list[OpenedMessage] = field(default_factory=list)
    undeliverable: list[Undeliverable] = field(default_factory=list)


CipherOf = Callable[[ReceivedMessage], Awaitable[QueueCipher]]


async def open_received(
    queue_name: str,
    messages: tuple[ReceivedMessage, ...],
    cipher_of: CipherOf,
    name_of: Callable[[str], str | None],
) -> Received:
    """Each message opened with `cipher_of(message)`; those that do not open are reported."""
    received = Received()
    for message in messages:
        try:
            cipher = await cipher_of(message)
            attributes, system = open_attributes(cipher, message.attributes)
            body = cipher.open(message.body, "body")
        except KeyUnavailable:
            reason = "the key that sealed it is gone (the queue that sealed it was deleted)"
        except (CorruptState, ValueError):
            reason = "it does not decrypt with its queue's keys (stored data was altered)"
        else:
            source = message.dead_letter_source
            received.opened.append(
                OpenedMessage(
                    message=message,
                    body=body,
                    attributes=attributes,
                    sender_id=system.get("sender_id"),
                    trace_header=system.get("trace_header"),
                    dead_letter_source=None if source is None else name_of(source),
                )
            )
            continue
        log.error(
            "queue %s: message %s cannot be delivered: %s; it stays in flight until its "
            "visibility timeout",
            queue_name,
            message.message_id,
            reason,
            extra={"event": "message_undeliverable", "queue": queue_name},
        )
        received.undeliverable.append(Undeliverable(message.message_id, reason))
    return received

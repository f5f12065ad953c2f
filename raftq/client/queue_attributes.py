"""The queue attributes `create_queue` and `update_queue` take, typed (the REST API's
`QueueAttributesBody`, docs/api.md). Each is optional: on creation an absent one takes the
queue's default, on update it stays as it is."""

from __future__ import annotations

from typing import TypedDict


class DeadLetter(TypedDict, total=False):
    """Where a message received too often goes: `queue` (a queue of the same type, required)
    after `max_receive_count` receives (1 to 1000, default 10)."""

    queue: str
    max_receive_count: int


class QueueAttributes(TypedDict, total=False):
    """Keywords of `create_queue` and `update_queue`, with their units:

    - `visibility_timeout_s` (int, 0 to 43,200): how long a received message stays hidden.
    - `retention_s` (int, 60 to 1,209,600): how long a message is kept.
    - `delay_s` (int, 0 to 900): the delay of a message sent without one.
    - `max_message_bytes` (int, 1,024 to 1,048,576): the largest message, body and attributes.
    - `receive_wait_s` (int, 0 to 20): the long poll of a receive that does not give one.
    - `dedup_window_s` (int, 1 to 86,400): how long a dedup id (idempotency key) stands.
    - `content_based_dedup` (bool, FIFO only): the body's SHA-256 is the dedup id.
    - `dead_letter` (`DeadLetter`, e.g. `{"queue": "orders-dlq", "max_receive_count": 5}`).
    - `status_retention_s` (int, 0 to 1,209,600): how long a removed message's status is
      kept (0: not kept).
    """

    visibility_timeout_s: int
    retention_s: int
    delay_s: int
    max_message_bytes: int
    receive_wait_s: int
    dedup_window_s: int
    content_based_dedup: bool
    dead_letter: DeadLetter
    status_retention_s: int

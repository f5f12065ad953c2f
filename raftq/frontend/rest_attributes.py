"""Queue attributes between the REST API's models (seconds, `dead_letter`) and the replicated
queue attributes (milliseconds, `redrive`), both ways."""

from __future__ import annotations

from typing import Any

from raftq.common.errors import InvalidParameter
from raftq.common.metadata_models import Queue
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes, RedrivePolicy
from raftq.frontend import rest_models as m


def attributes_of(body: m.QueueAttributesBody) -> QueueAttributes:
    """A new queue's attributes: the defaults, with those `body` names."""
    return QueueAttributeChanges.model_validate(_change_fields(body)).applied_to(QueueAttributes())


def changes_of(body: m.QueueAttributesBody) -> QueueAttributeChanges:
    """The attributes `body` changes; it must name at least one."""
    fields = _change_fields(body)
    if not fields:
        raise InvalidParameter("name at least one attribute to change", field="attributes")
    return QueueAttributeChanges.model_validate(fields)


def _change_fields(body: m.QueueAttributesBody) -> dict[str, Any]:
    seconds = {
        "visibility_timeout_s": "visibility_timeout_ms",
        "retention_s": "retention_ms",
        "delay_s": "delay_ms",
        "receive_wait_s": "receive_wait_ms",
        "dedup_window_s": "dedup_window_ms",
        "status_retention_s": "status_retention_ms",
    }
    fields: dict[str, Any] = {
        ms: getattr(body, s) * 1000 for s, ms in seconds.items() if getattr(body, s) is not None
    }
    if body.max_message_bytes is not None:
        fields["max_message_bytes"] = body.max_message_bytes
    if body.content_based_dedup is not None:
        fields["content_based_dedup"] = body.content_based_dedup
    if body.dead_letter is not None:
        fields["redrive"] = RedrivePolicy(
            dead_letter_queue=body.dead_letter.queue,
            max_receive_count=body.dead_letter.max_receive_count,
        )
    return fields


def queue_view(queue: Queue, counts: m.QueueCounts | None = None) -> m.QueueView:
    """The queue as the REST API shows it (whole seconds)."""
    a = queue.attributes
    dead_letter = (
        None
        if a.redrive is None
        else m.DeadLetterPolicy(
            queue=a.redrive.dead_letter_queue, max_receive_count=a.redrive.max_receive_count
        )
    )
    return m.QueueView(
        name=queue.name,
        fifo=queue.fifo,
        attributes=m.QueueAttributesBody(
            visibility_timeout_s=a.visibility_timeout_ms // 1000,
            retention_s=a.retention_ms // 1000,
            delay_s=a.delay_ms // 1000,
            max_message_bytes=a.max_message_bytes,
            receive_wait_s=a.receive_wait_ms // 1000,
            dedup_window_s=a.dedup_window_ms // 1000,
            content_based_dedup=a.content_based_dedup,
            dead_letter=dead_letter,
            status_retention_s=a.status_retention_ms // 1000,
        ),
        created_at_ms=queue.created_at_ms,
        counts=counts,
    )

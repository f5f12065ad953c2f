"""SQS queue attributes (all strings on the wire) to raftq's typed attributes and back
(../shared/notes/sqs.md §1.2). Every value is checked against SQS's range before anything is
asked of the metadata service, so a bad attribute changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from raftq.common import limits
from raftq.common.errors import InvalidAttributeName, InvalidAttributeValue
from raftq.common.metadata_models import Queue, RedriveAllowPolicy
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes
from raftq.common.results import QueueStats
from raftq.frontend.sqs.invalid_values import invalid_value
from raftq.frontend.sqs.names import name_of_arn, queue_arn

# SQS name -> (raftq field, SQS unit in raftq units, lowest, highest) for the integer attributes.
_INTEGERS: Final = {
    "DelaySeconds": ("delay_ms", 1000, 0, limits.DELAY_MAX_MS // 1000),
    "MaximumMessageSize": (
        "max_message_bytes",
        1,
        limits.MESSAGE_SIZE_MIN_BYTES,
        limits.MESSAGE_SIZE_MAX_BYTES,
    ),
    "MessageRetentionPeriod": (
        "retention_ms",
        1000,
        limits.RETENTION_MIN_MS // 1000,
        limits.RETENTION_MAX_MS // 1000,
    ),
    "ReceiveMessageWaitTimeSeconds": (
        "receive_wait_ms",
        1000,
        0,
        limits.RECEIVE_WAIT_MAX_MS // 1000,
    ),
    "VisibilityTimeout": (
        "visibility_timeout_ms",
        1000,
        0,
        limits.VISIBILITY_TIMEOUT_MAX_MS // 1000,
    ),
}
# Attributes raftq serves with one fixed value: a different one is refused, not ignored.
_FIXED: Final = {
    "SqsManagedSseEnabled": "true",  # every body is sealed with the queue's data key
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
_FIFO_ONLY: Final = frozenset(
    {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
)
_SETTABLE: Final = frozenset(
    {*_INTEGERS, *_FIXED, "ContentBasedDeduplication", "RedrivePolicy", "RedriveAllowPolicy"}
)
READ_ONLY: Final = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "QueueArn",
        "Policy",
    }
)
ALL_NAMES: Final = frozenset({*_SETTABLE, *READ_ONLY, "FifoQueue"})
# Every name SQS's GetQueueAttributes takes; those beyond ALL_NAMES raftq never sets, so asking
# for them is no error and answers nothing for them, as SQS does for an attribute not set.
SQS_NAMES: Final = frozenset({*ALL_NAMES, "All", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"})


@dataclass
class ParsedAttributes:
    """What a CreateQueue or SetQueueAttributes asked for, in raftq's terms."""

    changes: dict[str, Any] = field(default_factory=dict)  # QueueAttributeChanges fields
    redrive_allow: RedriveAllowPolicy | None = None
    redrive_allow_given: bool = False

    def queue_changes(self) -> QueueAttributeChanges:
        try:
            return QueueAttributeChanges.model_validate(self.changes)
        except ValidationError as error:
            reason = invalid_value(error, "Attributes").message
            raise InvalidAttributeValue(reason, field="Attributes") from None

    def new_queue_attributes(self) -> QueueAttributes:
        return self.queue_changes().applied_to(QueueAttributes())


def parse(attributes: Any, *, fifo: bool, creating: bool) -> ParsedAttributes:
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise InvalidAttributeValue("Attributes maps names to string values", field="Attributes")
    parsed = ParsedAttributes()
    for name, value in attributes.items():
        if name == "FifoQueue" and creating:
            continue  # checked against the name by the caller
        if name not in _SETTABLE:
            raise InvalidAttributeName(f"Unknown Attribute {name}.", field=name)
        if name in _FIFO_ONLY and not fifo:
            raise InvalidAttributeName(f"Unknown Attribute {name}.", field=name)
        if name in _INTEGERS:
            field_name, unit, lowest, highest = _INTEGERS[name]
            number = _integer(name, value, lowest, highest)
            parsed.changes[field_name] = number * unit
        elif name in _FIXED:
            if value != _FIXED[name]:
                raise InvalidAttributeValue(
                    f"raftq serves {name} = {_FIXED[name]} only", field=name
                )
        elif name == "ContentBasedDeduplication":
            parsed.changes["content_based_dedup"] = _boolean(name, value)
        elif name == "RedrivePolicy":
            _redrive(value, parsed)
        else:
            parsed.redrive_allow = _redrive_allow(value)
            parsed.redrive_allow_given = True
    return parsed


def _integer(name: str, value: str, lowest: int, highest: int) -> int:
    if not (value.isascii() and value.isdigit()) or not lowest <= int(value) <= highest:
        raise InvalidAttributeValue(
            f"Invalid value for the parameter {name}: it must be an integer from {lowest} to "
            f"{highest}.",
            field=name,
        )
    return int(value)


def _boolean(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise InvalidAttributeValue(f"{name} must be true or false", field=name)
    return value.lower() == "true"


def _json_object(name: str, value: str) -> dict[str, Any]:
    try:
        document = json.loads(value)
    except ValueError:
        raise InvalidAttributeValue(f"{name} is not valid JSON", field=name) from None
    if not isinstance(document, dict):
        raise InvalidAttributeValue(f"{name} must be a JSON object", field=name)
    return document


def _redrive(value: str, parsed: ParsedAttributes) -> None:
    if value == "":
        parsed.changes["clear_redrive"] = True
        return
    policy = _json_object("RedrivePolicy", value)
    unknown = set(policy) - {"deadLetterTargetArn", "maxReceiveCount"}
    target, count = policy.get("deadLetterTargetArn"), policy.get("maxReceiveCount", 10)
    if unknown or not isinstance(target, str):
        raise InvalidAttributeValue(
            "RedrivePolicy takes deadLetterTargetArn and maxReceiveCount", field="RedrivePolicy"
        )
    if isinstance(count, str) and count.isascii() and count.isdigit():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool):
        raise InvalidAttributeValue("maxReceiveCount must be an integer", field="RedrivePolicy")
    if not 1 <= count <= limits.MAX_RECEIVE_COUNT_MAX:
        raise InvalidAttributeValue(
            f"maxReceiveCount must be 1 to {limits.MAX_RECEIVE_COUNT_MAX}", field="RedrivePolicy"
        )
    parsed.changes["redrive"] = {
        "dead_letter_queue": name_of_arn(target, "RedrivePolicy"),
        "max_receive_count": count,
    }


def _redrive_allow(value: str) -> RedriveAllowPolicy | None:
    if value == "":
        return None
    policy = _json_object("RedriveAllowPolicy", value)
    permission = policy.get("redrivePermission")
    arns = policy.get("sourceQueueArns", [])
    if set(policy) - {"redrivePermission", "sourceQueueArns"} or not isinstance(arns, list):
        raise InvalidAttributeValue(
            "RedriveAllowPolicy takes redrivePermission and sourceQueueArns",
            field="RedriveAllowPolicy",
        )
    sources = tuple(name_of_arn(str(arn), "RedriveAllowPolicy") for arn in arns)
    try:
        return RedriveAllowPolicy.model_validate(
            {"permission": permission, "source_queues": sources}
        )
    except ValidationError as error:
        reason = invalid_value(error, "RedriveAllowPolicy").message
        raise InvalidAttributeValue(reason, field="RedriveAllowPolicy") from None


def describe(queue: Queue, stats: QueueStats, policy: str | None) -> dict[str, str]:
    """Every attribute GetQueueAttributes can name, as SQS spells its values."""
    a = queue.attributes
    described = {
        "QueueArn": queue_arn(queue.name),
        "ApproximateNumberOfMessages": str(stats.visible),
        # Messages waiting to be dead-lettered (their DLQ is on another cluster) are neither
        # visible nor delayed: counted here, so that no message is missing from the three.
        "ApproximateNumberOfMessagesNotVisible": str(stats.in_flight + stats.dead_letter_pending),
        "ApproximateNumberOfMessagesDelayed": str(stats.delayed),
        "CreatedTimestamp": str(queue.created_at_ms // 1000),
        "LastModifiedTimestamp": str(queue.attributes_changed_at_ms // 1000),
        "VisibilityTimeout": str(a.visibility_timeout_ms // 1000),
        "MaximumMessageSize": str(a.max_message_bytes),
        "MessageRetentionPeriod": str(a.retention_ms // 1000),
        "DelaySeconds": str(a.delay_ms // 1000),
        "ReceiveMessageWaitTimeSeconds": str(a.receive_wait_ms // 1000),
        "SqsManagedSseEnabled": "true",
    }
    if a.redrive is not None:
        described["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": queue_arn(a.redrive.dead_letter_queue),
                "maxReceiveCount": a.redrive.max_receive_count,
            }
        )
    if queue.redrive_allow is not None:
        allow: dict[str, Any] = {"redrivePermission": queue.redrive_allow.permission}
        if queue.redrive_allow.source_queues:
            allow["sourceQueueArns"] = [queue_arn(n) for n in queue.redrive_allow.source_queues]
        described["RedriveAllowPolicy"] = json.dumps(allow)
    if policy is not None:
        described["Policy"] = policy
    if queue.fifo:
        described["FifoQueue"] = "true"
        described["ContentBasedDeduplication"] = str(a.content_based_dedup).lower()
        described["DeduplicationScope"] = "queue"
        described["FifoThroughputLimit"] = "perQueue"
    return described

"""Message attributes in SQS's shapes (`{"DataType", "StringValue" | "BinaryValue"}`) to the
frontend's `MessageAttribute` and back, with SQS's rules (../shared/notes/sqs.md §1.3)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import ValidationError

from raftq.common.errors import InvalidAttributeName, InvalidParameter
from raftq.frontend import rest_models as m
from raftq.frontend.message_sealing import attributes_size

MAX_ATTRIBUTES: Final = 10
_NAME: Final = re.compile(r"^[A-Za-z0-9_-](?:[A-Za-z0-9_.-]{0,254}[A-Za-z0-9_-])?$")
# SQS's data types, each optionally with a custom label (`Number.float`), as rest_models takes.
_DATA_TYPE: Final = re.compile(r"^(String|Number|Binary)(\.[A-Za-z0-9_.:/+=@-]+)?$")
_DATA_TYPE_MAX_CHARS: Final = 256
_RESERVED_PREFIXES: Final = ("aws.", "amazon.")
SYSTEM_NAMES: Final = frozenset(
    {
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
    }
)


def parse(raw: Any) -> dict[str, m.MessageAttribute]:
    """A request's `MessageAttributes`; InvalidParameter naming the first bad one."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameter("MessageAttributes must be a map", field="MessageAttributes")
    if len(raw) > MAX_ATTRIBUTES:
        raise InvalidParameter(
            f"Number of message attributes [{len(raw)}] exceeds the allowed maximum "
            f"[{MAX_ATTRIBUTES}].",
            field="MessageAttributes",
        )
    parsed = {}
    for name, value in raw.items():
        _check_name(name)
        parsed[name] = _value(name, value)
    return parsed


def _check_name(name: Any) -> None:
    if (
        not isinstance(name, str)
        or not _NAME.match(name)
        or ".." in name
        or name.lower().startswith(_RESERVED_PREFIXES)
    ):
        raise InvalidParameter(
            f"Message attribute name {name!r} is invalid: names are up to 256 characters of "
            "A-Z, a-z, 0-9, '_', '-' and '.', not starting or ending with '.', without '..', "
            "and not starting with 'AWS.' or 'Amazon.'",
            field="MessageAttributes",
        )


def _value(name: str, value: Any) -> m.MessageAttribute:
    if not isinstance(value, dict) or not isinstance(value.get("DataType"), str):
        raise InvalidParameter(
            f"The message attribute '{name}' must contain a non-empty attribute type.",
            field="MessageAttributes",
        )
    data_type = value["DataType"]
    if "StringListValues" in value or "BinaryListValues" in value:
        raise InvalidParameter(
            f"Message attribute '{name}': list values are reserved by SQS and not supported",
            field="MessageAttributes",
        )
    if set(value) - {"DataType", "StringValue", "BinaryValue"}:
        raise InvalidParameter(
            f"Message attribute '{name}' has unknown members", field="MessageAttributes"
        )
    key = "BinaryValue" if data_type.startswith("Binary") else "StringValue"
    other = "StringValue" if key == "BinaryValue" else "BinaryValue"
    if not isinstance(value.get(key), str) or other in value:
        raise InvalidParameter(
            f"Message attribute '{name}' with type '{data_type}' must use field '{key}'.",
            field="MessageAttributes",
        )
    if key == "StringValue" and not value[key]:
        raise InvalidParameter(
            f"Message attribute '{name}' must contain a non-empty value of type '{data_type}'.",
            field="MessageAttributes",
        )
    _check_type(name, data_type)
    try:
        return m.MessageAttribute(type=data_type, value=value[key])
    except ValidationError:
        raise InvalidParameter(_value_refusal(name, data_type), field="MessageAttributes") from None


def _check_type(name: str, data_type: str) -> None:
    if len(data_type) > _DATA_TYPE_MAX_CHARS or not _DATA_TYPE.match(data_type):
        raise InvalidParameter(
            f"The type of message (user) attribute '{name}' is invalid. You must use only the "
            "following supported type prefixes: Binary, Number, String.",
            field="MessageAttributes",
        )


def _value_refusal(name: str, data_type: str) -> str:
    """SQS's words for a value its type refuses (the type itself already checked)."""
    if data_type.startswith("Number"):
        return f"Can't cast the value of message (user) attribute '{name}' to a number."
    if data_type.startswith("Binary"):
        return f"The value of message (user) attribute '{name}' is not valid base64."
    return f"The value of message (user) attribute '{name}' is too long."


def size_of(attributes: Mapping[str, m.MessageAttribute]) -> int:
    """The bytes SQS counts toward the message size: each name, data type and value."""
    return attributes_size(attributes)


def to_sqs(attributes: Mapping[str, m.MessageAttribute]) -> dict[str, dict[str, str]]:
    return {
        name: (
            {"DataType": a.type, "BinaryValue": a.value}
            if a.type.startswith("Binary")
            else {"DataType": a.type, "StringValue": a.value}
        )
        for name, a in attributes.items()
    }


def selected(
    attributes: Mapping[str, m.MessageAttribute], patterns: Iterable[str]
) -> dict[str, m.MessageAttribute]:
    """The attributes `MessageAttributeNames` asks for: `All`, `.*`, `prefix.*` or exact names."""
    wanted = list(patterns)
    if "All" in wanted or ".*" in wanted:
        return dict(attributes)
    prefixes = tuple(p[:-1] for p in wanted if p.endswith(".*"))
    exact = {p for p in wanted if not p.endswith(".*")}
    return {name: a for name, a in attributes.items() if name in exact or name.startswith(prefixes)}


def check_system_names(names: Iterable[str], field: str) -> set[str]:
    """The system attribute names a receive asks for (`All` means every one)."""
    chosen = set(names)
    if "All" in chosen:
        return set(SYSTEM_NAMES)
    unknown = chosen - SYSTEM_NAMES
    if unknown:
        raise InvalidAttributeName(f"Unknown Attribute {sorted(unknown)[0]}.", field=field)
    return chosen

"""The AWS query protocol: form-encoded `Action=...` requests, XML answers
(../shared/notes/sqs.md §2.3; names from the SQS 2012-11-05 query model).

A request's flattened parameters (`Attribute.1.Name`, `SendMessageBatchRequestEntry.2.Id`,
`MessageAttribute.1.Value.StringValue`) become the same JSON-shaped dict an AWS JSON 1.0 request
carries, and a result dict becomes `<ActionResponse><ActionResult>...` with SQS's flattened
element names, so the actions are written once for both protocols.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final
from xml.sax.saxutils import escape

from raftq.common.errors import InvalidParameter
from raftq.frontend.sqs.errors import SqsError

XML_NAMESPACE: Final = "http://queue.amazonaws.com/doc/2012-11-05/"
CONTENT_TYPE: Final = "text/xml"
# A query request has far fewer parameters: 10 batch entries of 10 attributes of 3 parts.
MAX_PARAMETERS: Final = 1000
# Flattened list and map indexes are 1-based; SQS's largest list is a batch of 10 entries and
# the largest map a queue's 50 tags.
MAX_INDEX: Final = 100

# Flattened list element name -> the JSON member it fills.
_LISTS: Final = {
    "AttributeName": "AttributeNames",
    "MessageAttributeName": "MessageAttributeNames",
    "MessageSystemAttributeName": "MessageSystemAttributeNames",
    "TagKey": "TagKeys",
    "AWSAccountId": "AWSAccountIds",
    "ActionName": "Actions",
    "SendMessageBatchRequestEntry": "Entries",
    "DeleteMessageBatchRequestEntry": "Entries",
    "ChangeMessageVisibilityBatchRequestEntry": "Entries",
    "StringListValue": "StringListValues",
    "BinaryListValue": "BinaryListValues",
}
# Flattened map entry name -> (JSON member, key element, value element).
_MAPS: Final = {
    "Attribute": ("Attributes", "Name", "Value"),
    "Tag": ("Tags", "Key", "Value"),
    "MessageAttribute": ("MessageAttributes", "Name", "Value"),
    "MessageSystemAttribute": ("MessageSystemAttributes", "Name", "Value"),
}
_INTEGERS: Final = frozenset(
    {
        "DelaySeconds",
        "MaxNumberOfMessages",
        "VisibilityTimeout",
        "WaitTimeSeconds",
        "MaxResults",
        "MaxNumberOfMessagesPerSecond",
    }
)
_BLOBS: Final = frozenset({"BinaryValue"})
_INTEGER: Final = re.compile(r"^-?[0-9]+$")  # int() would also take " 5", "1_0" and "٥"

# JSON member -> (flattened element, map key element, map value element) for answers.
_RESULT_LISTS: Final = {
    "QueueUrls": "QueueUrl",
    "queueUrls": "QueueUrl",
    "Messages": "Message",
    "Failed": "BatchResultErrorEntry",
    "Results": "ListMessageMoveTasksResultEntry",
}
_RESULT_MAPS: Final = {
    "Attributes": ("Attribute", "Name", "Value"),
    "Tags": ("Tag", "Key", "Value"),
    "MessageAttributes": ("MessageAttribute", "Name", "Value"),
}


def decode(action: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The JSON-shaped request of a query request's parameters (`Action`, `Version` left out)."""
    if len(form) > MAX_PARAMETERS:
        raise InvalidParameter(f"a request takes at most {MAX_PARAMETERS} parameters")
    tree: dict[str, Any] = {}
    for key, value in form.items():
        if key in ("Action", "Version"):
            continue
        parts = key.split(".")
        if any(not part for part in parts):
            raise InvalidParameter(f"malformed parameter name {key!r}", field=key)
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidParameter(f"parameter {key!r} conflicts with another", field=key)
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise InvalidParameter(f"parameter {key!r} conflicts with another", field=key)
        node[parts[-1]] = value
    shaped = _shape(tree, path="")
    if action == "CreateQueue" and "Tags" in shaped:
        shaped["tags"] = shaped.pop("Tags")  # CreateQueue's member is lower-case in the model
    return shaped


def _shape(tree: dict[str, Any], path: str) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    for name, value in tree.items():
        where = f"{path}{name}"
        if name in _LISTS:
            shaped[_LISTS[name]] = [
                _element(item, f"{where}.{index}") for index, item in _indexed(value, where)
            ]
        elif name in _MAPS:
            member, key_name, value_name = _MAPS[name]
            entries: dict[str, Any] = {}
            for index, item in _indexed(value, where):
                if not isinstance(item, dict) or set(item) != {key_name, value_name}:
                    raise InvalidParameter(
                        f"{where}.{index} needs exactly .{key_name} and .{value_name}", field=where
                    )
                entry_key = item[key_name]
                if not isinstance(entry_key, str) or entry_key in entries:
                    raise InvalidParameter(f"{where}.{index}.{key_name} is repeated", field=where)
                entries[entry_key] = _element(item[value_name], f"{where}.{index}.{value_name}")
            shaped[member] = entries
        elif name in _LISTS.values() and value == "":
            shaped[name] = []  # botocore sends an empty list as `Entries=`
        elif isinstance(value, dict):
            raise InvalidParameter(f"unknown parameter {where}.*", field=where)
        else:
            shaped[name] = _scalar(name, value)
    return shaped


def _element(value: Any, where: str) -> Any:
    return _shape(value, f"{where}.") if isinstance(value, dict) else value


def _indexed(value: Any, where: str) -> list[tuple[int, Any]]:
    if not isinstance(value, dict):
        if value == "":  # botocore sends an empty list as `Name=`
            return []
        raise InvalidParameter(f"{where} must be numbered: {where}.1, {where}.2, ...", field=where)
    items = []
    for index, item in value.items():
        if not _INTEGER.match(index) or not 1 <= int(index) <= MAX_INDEX:
            raise InvalidParameter(f"{where}.{index}: indexes are 1 to {MAX_INDEX}", field=where)
        items.append((int(index), item))
    return sorted(items)


def _scalar(name: str, value: str) -> Any:
    if name in _INTEGERS:
        if not _INTEGER.match(value) or len(value) > 20:
            raise InvalidParameter(f"{name} must be an integer", field=name)
        return int(value)
    if name in _BLOBS:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameter(f"{name} must be base64", field=name) from None
    return value


def encode(action: str, result: Mapping[str, Any], request_id: str) -> str:
    body = "".join(_members(action, result))
    return (
        f'<?xml version="1.0"?><{action}Response xmlns="{XML_NAMESPACE}">'
        f"<{action}Result>{body}</{action}Result>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )


def encode_error(error: SqsError, request_id: str) -> str:
    return (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{XML_NAMESPACE}"><Error>'
        f"<Type>{error.fault}</Type><Code>{_text(error.legacy_code)}</Code>"
        f"<Message>{_text(error.message)}</Message><Detail/></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )


def _members(action: str, result: Mapping[str, Any]) -> list[str]:
    out = []
    for name, value in result.items():
        if name == "Successful":
            out += [_element_xml(f"{action}ResultEntry", action, item) for item in value]
        elif name in _RESULT_LISTS:
            out += [_element_xml(_RESULT_LISTS[name], action, item) for item in value]
        elif name in _RESULT_MAPS:
            entry, key_name, value_name = _RESULT_MAPS[name]
            for key, item in value.items():
                inner = _element_xml(value_name, action, item)
                out.append(f"<{entry}><{key_name}>{_text(key)}</{key_name}>{inner}</{entry}>")
        else:
            out.append(_element_xml(name, action, value))
    return out


def _element_xml(name: str, action: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return f"<{name}>{''.join(_members(action, value))}</{name}>"
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    return f"<{name}>{_text(str(value))}</{name}>"


def _text(value: str) -> str:
    # Carriage returns and quotes as entities, so an XML parser hands back the body exactly.
    return escape(value, {"\r": "&#xD;", '"': "&quot;"})

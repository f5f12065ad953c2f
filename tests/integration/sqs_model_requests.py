"""Requests built from botocore's SQS service model, and answers checked against it.

`variants(operation)` names, for one operation, the requests the conformance test sends: the
required members only (path `()`), then each optional member once (its path, e.g.
`("Entries", "DelaySeconds")`). `Requests.build` fills them: a member whose meaning needs a real
thing (a queue URL, a receipt handle, a move task's handle) gets one made for it through the same
client; any other member gets a plain valid value from `_PLAIN` or, failing that, from its type, so
a member added to the model later is still sent. `violations` lists how a raw AWS JSON answer
departs from the operation's output shape: a member the shape does not have, a required member
missing, a value of the wrong JSON type."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

Path = tuple[str, ...]

TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

# Members whose plain value is valid wherever the model puts them (whole values: their own
# members are not walked).
_PLAIN: dict[str, Any] = {
    "MessageBody": "conformance",
    "Id": "e0",
    "VisibilityTimeout": 5,
    "WaitTimeSeconds": 0,
    "MaxNumberOfMessages": 2,
    "DelaySeconds": 1,
    "QueueNamePrefix": "conf",
    "QueueOwnerAWSAccountId": "000000000000",
    "AttributeNames": ["All"],
    "MessageSystemAttributeNames": ["All"],
    "MessageAttributeNames": ["All"],
    "Attributes": {"VisibilityTimeout": "30"},
    "tags": {"team": "conformance"},
    "Tags": {"team": "conformance"},
    "TagKeys": ["team"],
    "AWSAccountIds": ["root"],
    "Actions": ["SendMessage"],
    "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"}},
    "MessageSystemAttributes": {
        "AWSTraceHeader": {"DataType": "String", "StringValue": TRACE_HEADER}
    },
    "MessageGroupId": "g0",
    "MaxNumberOfMessagesPerSecond": 10,
}

# Members only a FIFO queue takes: a request naming one goes to the FIFO queue.
FIFO_MEMBERS = frozenset({"MessageGroupId", "MessageDeduplicationId", "ReceiveRequestAttemptId"})

_DYNAMIC = frozenset(
    {
        "QueueUrl",
        "QueueName",
        "MaxResults",
        "ReceiptHandle",
        "Label",
        "NextToken",
        "SourceArn",
        "DestinationArn",
        "TaskHandle",
        "MessageDeduplicationId",
        "ReceiveRequestAttemptId",
    }
)


def _walked(name: str, shape: Shape) -> StructureShape | None:
    """The structure whose members are walked for `name`: a structure or a list of them."""
    if name in _PLAIN or name in _DYNAMIC:
        return None
    if isinstance(shape, ListShape):
        shape = shape.member
    return shape if isinstance(shape, StructureShape) else None


def _optional_paths(shape: StructureShape, prefix: Path = ()) -> list[Path]:
    paths: list[Path] = []
    for name, member in shape.members.items():
        if name not in shape.required_members:
            paths.append((*prefix, name))
        inner = _walked(name, member)
        if inner is not None:
            paths.extend(_optional_paths(inner, (*prefix, name)))
    return paths


def variants(operation: OperationModel) -> list[Path]:
    if operation.input_shape is None:
        return [()]
    return [(), *_optional_paths(operation.input_shape)]


class Requests:
    """Builds requests; `dynamic(operation, member, request_so_far)` supplies the members that
    need a real thing (the queue URL first, so a receipt handle can come from that queue).
    `request_so_far["__fifo"]` says the request names a FIFO-only member."""

    def __init__(
        self,
        dynamic: Callable[[str, str, dict[str, Any]], Any],
    ) -> None:
        self._dynamic = dynamic
        self._counter = itertools.count()

    def build(self, operation: OperationModel, extra: Path) -> dict[str, Any]:
        if operation.input_shape is None:
            return {}
        fifo = bool(extra) and extra[-1] in FIFO_MEMBERS
        context = {"__operation": operation.name, "__fifo": fifo}
        return self._structure(operation.input_shape, extra, context, top=True)

    def _structure(
        self, shape: StructureShape, extra: Path, context: dict[str, Any], top: bool = False
    ) -> dict[str, Any]:
        built: dict[str, Any] = {}
        # QueueUrl first: the other dynamic members (receipt handles) belong to its queue.
        names = sorted(shape.members, key=lambda n: n != "QueueUrl")
        for name in names:
            wanted = name in shape.required_members or (bool(extra) and extra[0] == name)
            if context["__fifo"] and name == "MessageGroupId":
                wanted = True  # a FIFO queue refuses a send without it
            if not wanted:
                continue
            member = shape.members[name]
            value = self._value(name, member, extra[1:] if extra[:1] == (name,) else (), context)
            built[name] = value
            if top:
                context[name] = value
        return built

    def _value(self, name: str, shape: Shape, extra: Path, context: dict[str, Any]) -> Any:
        if name in _DYNAMIC:
            return self._dynamic(context["__operation"], name, context)
        if name in _PLAIN:
            return _PLAIN[name]
        return self._typed(shape, extra, context)

    def _typed(self, shape: Shape, extra: Path, context: dict[str, Any]) -> Any:
        if isinstance(shape, StructureShape):
            return self._structure(shape, extra, context)
        if isinstance(shape, ListShape):
            return [self._typed(shape.member, extra, context)]
        if isinstance(shape, MapShape):
            return {"k": self._typed(shape.value, (), context)}
        return {
            "string": "x",
            "integer": 1,
            "long": 1,
            "boolean": True,
            "blob": b"x",
        }.get(shape.type_name, "x")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "blob": (str,),
    "timestamp": (int, float),
    "float": (int, float),
    "double": (int, float),
}


def violations(shape: Shape | None, value: Any, where: str = "") -> list[str]:
    """How `value` (a raw JSON answer, or part of one) departs from `shape`."""
    if shape is None:
        return [] if value in ({}, None) else [f"{where or 'answer'}: no output expected"]
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        found = [f"{where}.{k}: not in {shape.name}" for k in value if k not in shape.members]
        found += [
            f"{where}.{k}: required, missing" for k in shape.required_members if k not in value
        ]
        for key, inner in value.items():
            if key in shape.members:
                found += violations(shape.members[key], inner, f"{where}.{key}")
        return found
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [
            v
            for i, item in enumerate(value)
            for v in violations(shape.member, item, f"{where}[{i}]")
        ]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a map"]
        found = []
        for key, inner in value.items():
            found += violations(shape.key, key, f"{where}<key>")
            found += violations(shape.value, inner, f"{where}[{key}]")
        return found
    expected = _JSON_TYPES.get(shape.type_name, (object,))
    if not isinstance(value, expected) or (
        shape.type_name != "boolean" and isinstance(value, bool)
    ):
        return [f"{where}: {value!r} is not a {shape.type_name}"]
    if shape.type_name == "blob" and isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            return [f"{where}: {value!r} is not base64"]
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        return [f"{where}: {value!r} is not one of {shape.name}"]
    return []


def member_paths(shape: Shape | None, value: Any = None, prefix: str = "") -> set[str]:
    """The dotted member paths of an output shape (`value` None), or those an answer holds."""
    paths: set[str] = set()
    if isinstance(shape, StructureShape):
        for name, member in shape.members.items():
            if value is not None and (not isinstance(value, dict) or name not in value):
                continue
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            inner = None if value is None else value[name]
            paths |= member_paths(member, inner, path)
    elif isinstance(shape, ListShape) and shape.member.type_name == "structure":
        items = [None] if value is None else (value if isinstance(value, list) else [])
        for item in items:
            paths |= member_paths(shape.member, item, prefix + "[]")
    return paths

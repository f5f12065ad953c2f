"""The SQS-compatible API over the AWS JSON 1.0 protocol (issue 7, started): `POST /` with
`X-Amz-Target: AmazonSQS.<Action>`, so boto3 and the AWS CLI work with only the endpoint changed.

Implemented so far: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, GetQueueAttributes,
SetQueueAttributes (with RedrivePolicy), PurgeQueue, SendMessage, ReceiveMessage, DeleteMessage,
ChangeMessageVisibility and the three batch actions. Other actions
answer `UnsupportedOperation`. Requests are verified as SigV4 with 15 minutes of skew; errors
have SQS's shapes: `__type` `com.amazonaws.sqs#<Shape>`, the `x-amzn-query-error` header with
the legacy code, and `x-amzn-RequestId` on every answer (../shared/notes/sqs.md §2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from raftq.common import commands as backend
from raftq.common.errors import (
    AccessDenied,
    InvalidParameter,
    QueueAlreadyExists,
    QueueNotFound,
    RaftqError,
    ReceiptHandleInvalid,
    Throttled,
    Unauthenticated,
)
from raftq.common.metadata_api import (
    CreateQueueRequest,
    DeleteQueueRequest,
    KeyCredentials,
    SetQueueRequest,
)
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes
from raftq.common.results import BatchResult, QueueStats, SendResult
from raftq.frontend import rest_models as m
from raftq.frontend.app import FRONTEND, Frontend, _queue_of
from raftq.frontend.sigv4 import SQS_MAX_SKEW_S

CONTENT_TYPE: Final = "application/x-amz-json-1.0"
ACCOUNT: Final = "000000000000"

# raftq error code -> (SQS shape, legacy query code, HTTP status)
_ERRORS: Final[dict[str, tuple[str, str, int]]] = {
    QueueNotFound.code: ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400),
    QueueAlreadyExists.code: ("QueueNameExists", "QueueAlreadyExists", 400),
    ReceiptHandleInvalid.code: ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400),
    AccessDenied.code: ("AccessDenied", "AccessDenied", 403),
    Throttled.code: ("RequestThrottled", "RequestThrottled", 403),
    "PurgeQueueInProgress": (
        "PurgeQueueInProgress",
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        403,
    ),
}


class UnsupportedOperation(InvalidParameter):
    """Raised when an SQS action is not (yet) implemented."""

    code = "UnsupportedOperation"


class InvalidAttributeName(InvalidParameter):
    """Raised when a queue attribute name is unknown or not supported."""

    code = "InvalidAttributeName"


class InvalidAttributeValue(InvalidParameter):
    """Raised when a queue attribute value is malformed or out of range."""

    code = "InvalidAttributeValue"


class EmptyBatchRequest(InvalidParameter):
    """Raised when a batch action has no entries."""

    code = "EmptyBatchRequest"


class TooManyEntriesInBatchRequest(InvalidParameter):
    """Raised when a batch action has more than 10 entries."""

    code = "TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(InvalidParameter):
    """Raised when two entries of a batch share an id."""

    code = "BatchEntryIdsNotDistinct"


def _error(error: RaftqError) -> web.Response:
    if isinstance(error, Unauthenticated):
        shape, legacy, status = error.code, error.code, 403
    elif isinstance(
        error,
        UnsupportedOperation
        | EmptyBatchRequest
        | TooManyEntriesInBatchRequest
        | BatchEntryIdsNotDistinct,
    ):
        shape, legacy, status = error.code, f"AWS.SimpleQueueService.{error.code}", 400
    elif isinstance(error, InvalidAttributeName | InvalidAttributeValue):
        shape, legacy, status = error.code, error.code, 400
    elif error.code in _ERRORS:
        shape, legacy, status = _ERRORS[error.code]
    elif isinstance(error, InvalidParameter) or error.code.startswith("Invalid"):
        shape, legacy, status = "InvalidParameterValue", "InvalidParameterValue", 400
    else:
        shape, legacy, status = "ServiceUnavailable", "ServiceUnavailable", 503
    party = "Sender" if status < 500 else "Receiver"
    body = {"__type": f"com.amazonaws.sqs#{shape}", "message": error.message}
    return web.Response(
        text=json.dumps(body),
        status=status,
        content_type=CONTENT_TYPE,
        headers={"x-amzn-query-error": f"{legacy};{party}", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _ok(body: dict[str, Any]) -> web.Response:
    return web.Response(
        text=json.dumps(body),
        content_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def queue_url(request: web.Request, name: str) -> str:
    return f"{request.scheme}://{request.host}/{ACCOUNT}/{name}"


def _queue_name(body: dict[str, Any]) -> str:
    url = body.get("QueueUrl")
    if not isinstance(url, str) or not url:
        raise InvalidParameter("QueueUrl is required", field="QueueUrl")
    return url.rstrip("/").rsplit("/", 1)[-1]


def md5_of_attributes(attributes: dict[str, dict[str, str]]) -> str:
    """SQS's MD5OfMessageAttributes (../shared/notes/sqs.md §2.7)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        for part in (name.encode(), data_type.encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if data_type.startswith("Binary"):
            raw = base64.b64decode(value["BinaryValue"])
            digest.update(b"\x02" + struct.pack(">I", len(raw)) + raw)
        else:
            raw = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()


Action = Callable[
    [Frontend, KeyCredentials, web.Request, dict[str, Any]], Awaitable[dict[str, Any]]
]


async def _create_queue(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = b.get("QueueName")
    if not isinstance(name, str):
        raise InvalidParameter("QueueName is required", field="QueueName")
    f.authorize(c, name, "admin")
    attributes = b.get("Attributes") or {}
    fifo = attributes.get("FifoQueue") == "true" or name.endswith(".fifo")
    values: dict[str, Any] = {}
    for sqs_name, field, scale in (
        ("VisibilityTimeout", "visibility_timeout_ms", 1000),
        ("MessageRetentionPeriod", "retention_ms", 1000),
        ("DelaySeconds", "delay_ms", 1000),
        ("ReceiveMessageWaitTimeSeconds", "receive_wait_ms", 1000),
        ("MaximumMessageSize", "max_message_bytes", 1),
    ):
        if sqs_name in attributes:
            try:
                values[field] = int(attributes[sqs_name]) * scale
            except (TypeError, ValueError):
                raise InvalidParameter(f"{sqs_name} must be a number", field=sqs_name) from None
    if attributes.get("ContentBasedDeduplication") == "true":
        values["content_based_dedup"] = True
    try:
        queue_attributes = QueueAttributes.model_validate(values)
    except ValueError as error:
        raise InvalidParameter(f"invalid attribute: {error}", field="Attributes") from None
    result = await f.metadata.create_queue(
        CreateQueueRequest(actor=c.principal_id, name=name, fifo=fifo, attributes=queue_attributes)
    )
    _queue_of(result)
    return {"QueueUrl": queue_url(r, name)}


async def _get_queue_url(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = b.get("QueueName")
    if not isinstance(name, str):
        raise InvalidParameter("QueueName is required", field="QueueName")
    if not any(g.covers(name, action) for g in c.grants for action in ("send", "receive", "admin")):
        raise AccessDenied(f"{c.principal_id} has no grant on queue {name!r}", field="QueueName")
    await f.forwarder.route(name)
    return {"QueueUrl": queue_url(r, name)}


async def _list_queues(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    prefix = b.get("QueueNamePrefix") or ""
    catalogue = await f.metadata_catalogue()
    names = sorted(
        n
        for n in catalogue
        if n.startswith(prefix)
        and any(
            g.covers(n, "admin") or g.covers(n, "receive") or g.covers(n, "send") for g in c.grants
        )
    )
    return {"QueueUrls": [queue_url(r, n) for n in names]}


async def _delete_queue(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    f.authorize(c, name, "admin")
    await f.forwarder.route(name)
    await f.metadata.delete_queue(DeleteQueueRequest(actor=c.principal_id, name=name))
    return {}


async def _purge(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    f.authorize(c, name, "admin")
    await f.forwarder.execute(name, lambda q: backend.PurgeQueue(now_ms=0, queue=q))
    return {}


async def _attributes(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    f.authorize(c, name, "receive")
    forwarded = await f.forwarder.execute(name, lambda q: backend.GetQueueStats(now_ms=0, queue=q))
    stats = forwarded.result
    assert isinstance(stats, QueueStats)
    a = forwarded.route.queue.attributes
    every = {
        "ApproximateNumberOfMessages": str(stats.visible),
        "ApproximateNumberOfMessagesNotVisible": str(stats.in_flight),
        "ApproximateNumberOfMessagesDelayed": str(stats.delayed),
        "VisibilityTimeout": str(a.visibility_timeout_ms // 1000),
        "MessageRetentionPeriod": str(a.retention_ms // 1000),
        "DelaySeconds": str(a.delay_ms // 1000),
        "MaximumMessageSize": str(a.max_message_bytes),
        "ReceiveMessageWaitTimeSeconds": str(a.receive_wait_ms // 1000),
        "CreatedTimestamp": str(forwarded.route.queue.created_at_ms // 1000),
        "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}",
    }
    if forwarded.route.queue.fifo:
        every["FifoQueue"] = "true"
        every["ContentBasedDeduplication"] = str(a.content_based_dedup).lower()
    wanted = b.get("AttributeNames") or ["All"]
    if "All" in wanted:
        return {"Attributes": every}
    return {"Attributes": {k: v for k, v in every.items() if k in wanted}}


async def _send(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    body = b.get("MessageBody")
    if not isinstance(body, str) or not body:
        raise InvalidParameter("MessageBody is required", field="MessageBody")
    attributes = b.get("MessageAttributes") or {}
    ours: dict[str, m.MessageAttribute] = {}
    for key, value in attributes.items():
        data_type = str(value.get("DataType", ""))
        kind = (
            "Binary"
            if data_type.startswith("Binary")
            else "Number"
            if data_type.startswith("Number")
            else "String"
        )
        raw = value.get("BinaryValue") if kind == "Binary" else value.get("StringValue")
        if not isinstance(raw, str):
            raise InvalidParameter(
                f"message attribute {key!r} has no value", field="MessageAttributes"
            )
        ours[key] = m.MessageAttribute.model_validate({"type": kind, "value": raw})
    entry = m.SendBatchEntry(
        id="m",
        body=body,
        attributes=ours,
        delay_s=b.get("DelaySeconds"),
        dedup_id=b.get("MessageDeduplicationId"),
        group_id=b.get("MessageGroupId"),
    )
    result, _ = await f.send(c, name, [entry], None)
    assert isinstance(result, SendResult)
    if result.failed:
        raise InvalidParameter(result.failed[0].message, field=result.failed[0].code)
    sent = result.sent[0]
    answer: dict[str, Any] = {
        "MessageId": sent.message_id,
        "MD5OfMessageBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
    }
    if attributes:
        answer["MD5OfMessageAttributes"] = md5_of_attributes(attributes)
    if entry.group_id is not None:
        answer["SequenceNumber"] = str(sent.sequence_number).zfill(20)
    return answer


async def _receive(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    query = m.ReceiveQuery(
        max=b.get("MaxNumberOfMessages") or 1,
        wait_s=b.get("WaitTimeSeconds"),
        visibility_timeout_s=b.get("VisibilityTimeout"),
        attempt_id=b.get("ReceiveRequestAttemptId"),
    )
    response = await f.receive(c, name, query)
    assert response.text is not None
    received = json.loads(response.text)["messages"]
    messages = []
    for message in received:
        text = message["body"] if message["body"] is not None else message["body_base64"]
        item: dict[str, Any] = {
            "MessageId": message["message_id"],
            "ReceiptHandle": message["receipt_handle"],
            "MD5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
            "Body": text,
            "Attributes": {
                "ApproximateReceiveCount": str(message["receive_count"]),
                "SentTimestamp": str(message["sent_at_ms"]),
            },
        }
        if message["attributes"]:
            sqs_attributes = {
                k: (
                    {"DataType": v["type"], "BinaryValue": v["value"]}
                    if v["type"] == "Binary"
                    else {"DataType": v["type"], "StringValue": v["value"]}
                )
                for k, v in message["attributes"].items()
            }
            item["MessageAttributes"] = sqs_attributes
            item["MD5OfMessageAttributes"] = md5_of_attributes(sqs_attributes)
        messages.append(item)
    return {"Messages": messages} if messages else {}


async def _delete(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    handle = b.get("ReceiptHandle")
    if not isinstance(handle, str) or not handle:
        raise InvalidParameter("ReceiptHandle is required", field="ReceiptHandle")
    result = await f.delete(c, name, [m.DeleteEntry(id="d", receipt_handle=handle)])
    assert isinstance(result, BatchResult)
    if result.failed:
        raise ReceiptHandleInvalid(result.failed[0].message, field="ReceiptHandle")
    return {}


async def _visibility(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    entry = m.VisibilityEntry(
        id="v",
        receipt_handle=str(b.get("ReceiptHandle", "")),
        visibility_timeout_s=int(b.get("VisibilityTimeout", 0)),
    )
    result = await f.change_visibility(c, name, [entry])
    if result.failed:
        raise ReceiptHandleInvalid(result.failed[0].message, field="ReceiptHandle")
    return {}


_SECONDS: Final = (
    ("VisibilityTimeout", "visibility_timeout_ms", 1000),
    ("MessageRetentionPeriod", "retention_ms", 1000),
    ("DelaySeconds", "delay_ms", 1000),
    ("ReceiveMessageWaitTimeSeconds", "receive_wait_ms", 1000),
    ("MaximumMessageSize", "max_message_bytes", 1),
)


async def _set_attributes(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    f.authorize(c, name, "admin")
    attributes = b.get("Attributes")
    if not isinstance(attributes, dict) or not attributes:
        raise InvalidParameter("Attributes is required", field="Attributes")
    known = {sqs for sqs, _, _ in _SECONDS} | {"ContentBasedDeduplication", "RedrivePolicy"}
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise InvalidAttributeName(
            f"unknown or unsupported attribute {unknown[0]}", field="Attributes"
        )
    changes: dict[str, Any] = {}
    for sqs_name, field, scale in _SECONDS:
        if sqs_name in attributes:
            try:
                changes[field] = int(attributes[sqs_name]) * scale
            except (TypeError, ValueError):
                raise InvalidAttributeValue(
                    f"{sqs_name} must be a number", field=sqs_name
                ) from None
    if "ContentBasedDeduplication" in attributes:
        changes["content_based_dedup"] = attributes["ContentBasedDeduplication"] == "true"
    if "RedrivePolicy" in attributes:
        if not attributes["RedrivePolicy"]:
            changes["clear_redrive"] = True
        else:
            try:
                policy = json.loads(attributes["RedrivePolicy"])
                target = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
                changes["redrive"] = {
                    "dead_letter_queue": target,
                    "max_receive_count": int(policy["maxReceiveCount"]),
                }
            except (ValueError, KeyError, TypeError):
                raise InvalidAttributeValue(
                    "RedrivePolicy is not valid", field="RedrivePolicy"
                ) from None
    try:
        parsed = QueueAttributeChanges.model_validate(changes)
    except ValueError as error:
        raise InvalidAttributeValue(str(error).splitlines()[0], field="Attributes") from None
    result = await f.metadata.set_queue(
        SetQueueRequest(actor=c.principal_id, name=name, changes=parsed)
    )
    _queue_of(result)
    return {}


def _entries(b: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    entries = b.get("Entries")
    if not isinstance(entries, list) or not entries:
        raise EmptyBatchRequest("the batch has no entries", field="Entries")
    if len(entries) > limit:
        raise TooManyEntriesInBatchRequest(f"at most {limit} entries", field="Entries")
    ids = [e.get("Id") for e in entries if isinstance(e, dict)]
    if len(ids) != len(entries) or len(set(ids)) != len(ids):
        raise BatchEntryIdsNotDistinct("entry ids must be distinct", field="Entries")
    return entries


def _failed(entry_id: str, code: str, message: str) -> dict[str, Any]:
    return {"Id": entry_id, "Code": code, "Message": message, "SenderFault": True}


async def _send_batch(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    entries = _entries(b)
    ours = []
    for e in entries:
        body = e.get("MessageBody")
        if not isinstance(body, str) or not body:
            raise InvalidParameter("MessageBody is required", field="Entries.MessageBody")
        ours.append(
            m.SendBatchEntry(
                id=e["Id"],
                body=body,
                delay_s=e.get("DelaySeconds"),
                dedup_id=e.get("MessageDeduplicationId"),
                group_id=e.get("MessageGroupId"),
            )
        )
    result, _ = await f.send(c, name, ours, None)
    bodies = {e["Id"]: e["MessageBody"] for e in entries}
    return {
        "Successful": [
            {
                "Id": s.entry_id,
                "MessageId": s.message_id,
                "MD5OfMessageBody": hashlib.md5(
                    bodies[s.entry_id].encode(), usedforsecurity=False
                ).hexdigest(),
            }
            for s in result.sent
        ],
        "Failed": [_failed(x.entry_id, x.code, x.message) for x in result.failed],
    }


async def _delete_batch(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    entries = _entries(b)
    handles = [
        m.DeleteEntry(id=e["Id"], receipt_handle=str(e.get("ReceiptHandle", ""))) for e in entries
    ]
    result = await f.delete(c, name, handles)
    return {
        "Successful": [{"Id": i} for i in result.succeeded],
        "Failed": [_failed(x.entry_id, x.code, x.message) for x in result.failed],
    }


async def _visibility_batch(
    f: Frontend, c: KeyCredentials, r: web.Request, b: dict[str, Any]
) -> dict[str, Any]:
    name = _queue_name(b)
    entries = [
        m.VisibilityEntry(
            id=e["Id"],
            receipt_handle=str(e.get("ReceiptHandle", "")),
            visibility_timeout_s=int(e.get("VisibilityTimeout", 0)),
        )
        for e in _entries(b)
    ]
    result = await f.change_visibility(c, name, entries)
    return {
        "Successful": [{"Id": i} for i in result.succeeded],
        "Failed": [_failed(x.entry_id, x.code, x.message) for x in result.failed],
    }


ACTIONS: Final[dict[str, Action]] = {
    "CreateQueue": _create_queue,
    "GetQueueUrl": _get_queue_url,
    "ListQueues": _list_queues,
    "DeleteQueue": _delete_queue,
    "PurgeQueue": _purge,
    "GetQueueAttributes": _attributes,
    "SendMessage": _send,
    "ReceiveMessage": _receive,
    "DeleteMessage": _delete,
    "ChangeMessageVisibility": _visibility,
    "SetQueueAttributes": _set_attributes,
    "SendMessageBatch": _send_batch,
    "DeleteMessageBatch": _delete_batch,
    "ChangeMessageVisibilityBatch": _visibility_batch,
}


async def serve(request: web.Request) -> web.Response:
    frontend = request.app[FRONTEND]
    try:
        target = request.headers.get("X-Amz-Target", "")
        if not target.startswith("AmazonSQS."):
            raise InvalidParameter(
                "X-Amz-Target must name an AmazonSQS action", field="X-Amz-Target"
            )
        caller = await frontend.authenticate(request, SQS_MAX_SKEW_S)
        action = ACTIONS.get(target.removeprefix("AmazonSQS."))
        if action is None:
            raise UnsupportedOperation(f"{target} is not supported (yet)")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise InvalidParameter("the body is not JSON", field="body") from None
        if not isinstance(body, dict):
            raise InvalidParameter("the body must be a JSON object", field="body")
        return _ok(await action(frontend, caller, request, body))
    except RaftqError as error:
        return _error(error)
    except ValueError as error:  # a value our models refuse
        return _error(InvalidParameter(str(error).splitlines()[0]))

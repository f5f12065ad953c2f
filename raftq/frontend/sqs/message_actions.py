"""SendMessage, ReceiveMessage, DeleteMessage, ChangeMessageVisibility and their batches.

Every action runs through the frontend's pipeline (authorize, throttle, seal, forward), like the
REST API. What is SQS's own is checked here first: FIFO rules, message attribute rules, body
characters, sizes, and per-entry failures of batches reported in `Failed[]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from raftq.common import limits
from raftq.common.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameter,
    MessageNotInflight,
    MissingParameter,
    RaftqError,
    ReceiptHandleInvalid,
    TooManyEntriesInBatch,
)
from raftq.common.metadata_api import KeyCredentials
from raftq.common.results import EntryFailure
from raftq.frontend import rest_models as m
from raftq.frontend.caches import QueueRoute
from raftq.frontend.received import OpenedMessage
from raftq.frontend.service import Frontend
from raftq.frontend.sqs import batch_rules, entry_outcomes
from raftq.frontend.sqs import message_attributes as attrs
from raftq.frontend.sqs.checksums import md5_hex, md5_of_attributes
from raftq.frontend.sqs.errors import describe
from raftq.frontend.sqs.invalid_values import invalid_value
from raftq.frontend.sqs.names import name_of_url, queue_arn
from raftq.frontend.sqs.params import Params
from raftq.frontend.sqs.request_context import RequestContext

BATCH_ENTRIES_MAX: Final = 10
_ENTRY_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# The characters SQS allows in a body: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000+.
_FORBIDDEN_CHARACTER: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_GROUP_OR_DEDUP_ID: Final = 128  # characters, of ASCII punctuation and alphanumerics
# Read longer handles than any valid one, so a mangled handle gets ReceiptHandleIsInvalid.
_HANDLE_READ_MAX: Final = 8192


@dataclass(frozen=True)
class _Prepared:
    entry: m.SendBatchEntry
    sqs_attributes: dict[str, dict[str, str]]


def _prepare(
    route: QueueRoute, entry_id: str, p: Params, header_trace: str | None = None
) -> _Prepared:
    """One message to send, checked against SQS's rules and the queue's type and size. Without an
    AWSTraceHeader of its own, a SendMessage keeps its request's X-Ray header (`header_trace`)
    as SQS does."""
    queue = route.queue
    body = p.text("MessageBody", max_chars=limits.MESSAGE_SIZE_MAX_BYTES)
    if not body:
        raise MissingParameter("The request must contain the parameter MessageBody.")
    if _FORBIDDEN_CHARACTER.search(body):
        raise InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
            "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
            field="MessageBody",
        )
    user = attrs.parse(p.members.get("MessageAttributes"))
    trace_header = _trace_header(p.members.get("MessageSystemAttributes")) or header_trace
    size = len(body.encode()) + attrs.size_of(user)
    if size > queue.attributes.max_message_bytes:
        raise InvalidParameter(
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{queue.attributes.max_message_bytes} bytes.",
            field="MessageBody",
        )
    delay_s = p.integer("DelaySeconds", 0, limits.DELAY_MAX_MS // 1000)
    group_id = p.optional_text("MessageGroupId", max_chars=_GROUP_OR_DEDUP_ID)
    dedup_id = p.optional_text("MessageDeduplicationId", max_chars=_GROUP_OR_DEDUP_ID)
    if queue.fifo:
        if delay_s:  # SQS takes an explicit 0 on a FIFO queue, as if absent; any other refused
            raise InvalidParameter(
                "Value for parameter DelaySeconds is invalid. Reason: The request include "
                "parameter that is not valid for this queue type.",
                field="DelaySeconds",
            )
        if group_id is None:
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        if dedup_id is None and not queue.attributes.content_based_dedup:
            raise InvalidParameter(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly",
                field="MessageDeduplicationId",
            )
    elif dedup_id is not None:
        raise InvalidParameter(
            "Value for parameter MessageDeduplicationId is invalid. Reason: The request include "
            "parameter that is not valid for this queue type.",
            field="MessageDeduplicationId",
        )
    try:
        entry = m.SendBatchEntry(
            id=entry_id,
            body=body,
            attributes=user,
            delay_s=None if queue.fifo else delay_s,
            dedup_id=dedup_id,
            group_id=group_id,
            trace_header=trace_header,
        )
    except ValidationError as error:
        raise invalid_value(error) from None
    return _Prepared(entry, attrs.to_sqs(user))


def _trace_header(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"AWSTraceHeader"}:
        raise InvalidParameter(
            "MessageSystemAttributes takes AWSTraceHeader only", field="MessageSystemAttributes"
        )
    value = raw.get("AWSTraceHeader")
    if (
        not isinstance(value, dict)
        or value.get("DataType") != "String"
        or not isinstance(value.get("StringValue"), str)
    ):
        raise InvalidParameter(
            "AWSTraceHeader must be a String with a StringValue", field="MessageSystemAttributes"
        )
    trace_header: str = value["StringValue"]
    return trace_header


def _system_md5(trace_header: str | None) -> dict[str, str]:
    if trace_header is None:
        return {}
    digest = md5_of_attributes(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": trace_header}}
    )
    return {"MD5OfMessageSystemAttributes": digest}


def _sent(prepared: _Prepared, message_id: str, sequence_number: int, fifo: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "MessageId": message_id,
        "MD5OfMessageBody": md5_hex((prepared.entry.body or "").encode()),
    }
    if prepared.sqs_attributes:
        answer["MD5OfMessageAttributes"] = md5_of_attributes(prepared.sqs_attributes)
    answer.update(_system_md5(prepared.entry.trace_header))
    if fifo:
        answer["SequenceNumber"] = str(sequence_number).zfill(20)
    return answer


async def send_message(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    f.authorize(c, name, "send")
    route = await f.forwarder.route(name)
    prepared = _prepare(route, "m", p, r.trace_header)
    result, _ = await f.send(c, name, [prepared.entry], None)
    if result.failed:
        raise _entry_error(result.failed[0].code, result.failed[0].message)
    sent = result.sent[0]
    return _sent(prepared, sent.message_id, sent.sequence_number, route.queue.fifo)


def _entry_ids(entries: list[dict[str, Any]]) -> list[str]:
    if not entries:
        raise EmptyBatchRequest("There should be at least one entry in the request.")
    if len(entries) > BATCH_ENTRIES_MAX:
        raise TooManyEntriesInBatch(
            f"Maximum number of entries per request are {BATCH_ENTRIES_MAX}. You have sent "
            f"{len(entries)}."
        )
    ids = []
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _ENTRY_ID.match(entry_id):
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long."
            )
        ids.append(entry_id)
    if len(set(ids)) != len(ids):
        raise BatchEntryIdsNotDistinct("Two or more batch entries in the request have the same Id.")
    return ids


def _failed(entry_id: str, error: RaftqError) -> dict[str, Any]:
    described = describe(error)
    return {
        "Id": entry_id,
        "SenderFault": described.fault == "Sender",
        "Code": described.shape,
        "Message": described.message,
    }


def _entry_error(code: str, message: str) -> RaftqError:
    """The error an entry failure of the backend stands for."""
    known: dict[str, type[RaftqError]] = {
        ReceiptHandleInvalid.code: ReceiptHandleInvalid,
        MessageNotInflight.code: MessageNotInflight,
        MissingParameter.code: MissingParameter,
    }
    return known.get(code, InvalidParameter)(message)


async def send_message_batch(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    entries = p.entries()
    ids = _entry_ids(entries)
    f.authorize(c, name, "send")
    route = await f.forwarder.route(name)
    batch_rules.check_batch_size(entries)
    if route.queue.fifo:
        batch_rules.check_fifo_batch_ids(entries, route.queue.attributes.content_based_dedup)
    prepared: dict[str, _Prepared] = {}
    failed = []
    for entry_id, entry in zip(ids, entries, strict=True):
        try:
            prepared[entry_id] = _prepare(route, entry_id, Params(entry))
        except RaftqError as error:
            failed.append(_failed(entry_id, error))
    successful = []
    if prepared:
        result, _ = await f.send(c, name, [x.entry for x in prepared.values()], None)
        for sent in result.sent:
            successful.append(
                {"Id": sent.entry_id}
                | _sent(
                    prepared[sent.entry_id], sent.message_id, sent.sequence_number, route.queue.fifo
                )
            )
        failed += [_failed(x.entry_id, _entry_error(x.code, x.message)) for x in result.failed]
    return {"Successful": successful, "Failed": failed}


async def receive_message(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    system_names = attrs.check_system_names(
        p.texts("AttributeNames") + p.texts("MessageSystemAttributeNames"),
        "MessageSystemAttributeNames",
    )
    attribute_patterns = p.texts("MessageAttributeNames")
    query = _receive_query(p)
    route = await f.forwarder.route(name)
    if query.attempt_id is not None and not route.queue.fifo:
        query = query.model_copy(update={"attempt_id": None})  # SQS ignores it on standard queues
    received = await f.receive_messages(c, name, query)  # SQS has no place for undeliverables
    messages = [
        _message(o, system_names, attribute_patterns, route.queue.fifo) for o in received.opened
    ]
    return {"Messages": messages} if messages else {}


def _receive_query(p: Params) -> m.ReceiveQuery:
    try:
        return m.ReceiveQuery(
            max=p.integer("MaxNumberOfMessages", 1, BATCH_ENTRIES_MAX) or 1,
            wait_s=p.integer("WaitTimeSeconds", 0, limits.RECEIVE_WAIT_MAX_MS // 1000),
            visibility_timeout_s=p.integer(
                "VisibilityTimeout", 0, limits.VISIBILITY_TIMEOUT_MAX_MS // 1000
            ),
            attempt_id=p.optional_text("ReceiveRequestAttemptId", max_chars=limits.TOKEN_MAX_CHARS),
        )
    except ValidationError as error:
        raise invalid_value(error) from None


def _message(
    o: OpenedMessage, system_names: set[str], attribute_patterns: list[str], fifo: bool
) -> dict[str, Any]:
    body = o.body.decode(errors="replace")  # REST callers may have sent bytes that are not text
    item: dict[str, Any] = {
        "MessageId": o.message.message_id,
        "ReceiptHandle": o.message.receipt_handle,
        "MD5OfBody": md5_hex(body.encode()),
        "Body": body,
    }
    system = {
        "SenderId": o.sender_id,
        "SentTimestamp": str(o.message.sent_at_ms),
        "ApproximateReceiveCount": str(o.message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(o.message.first_received_at_ms),
        "AWSTraceHeader": o.trace_header,
        "DeadLetterQueueSourceArn": None
        if o.dead_letter_source is None
        else queue_arn(o.dead_letter_source),
        "MessageGroupId": o.message.group_id,
    }
    if fifo:
        system["SequenceNumber"] = str(o.message.sequence_number).zfill(20)
        system["MessageDeduplicationId"] = o.message.dedup_id
    chosen = {k: v for k, v in system.items() if k in system_names and v is not None}
    if chosen:
        item["Attributes"] = chosen
    user = attrs.to_sqs(attrs.selected(o.attributes, attribute_patterns))
    if user:
        item["MessageAttributes"] = user
        item["MD5OfMessageAttributes"] = md5_of_attributes(user)
    return item


def _delete_error(failure: EntryFailure) -> RaftqError | None:
    """The error SQS answers for a refused delete; None where SQS reports success."""
    if entry_outcomes.accepted_delete(failure):
        return None
    return _entry_error(failure.code, failure.message)


def _visibility_error(failure: EntryFailure, handle: str) -> RaftqError | None:
    """The error SQS answers for a refused change of visibility; None where SQS reports
    success."""
    if entry_outcomes.accepted_visibility_change(failure):
        return None
    unavailable = entry_outcomes.unavailable_for_visibility(failure, handle)
    return unavailable or _entry_error(failure.code, failure.message)


async def delete_message(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    handle = p.text("ReceiptHandle", max_chars=_HANDLE_READ_MAX)
    result = await f.delete(c, name, [m.DeleteEntry(id="d", receipt_handle=_handle(handle))])
    if result.failed:
        error = _delete_error(result.failed[0])
        if error is not None:
            raise error
    return {}


def _handle(handle: str) -> str:
    if not handle or len(handle) > 1024:
        raise ReceiptHandleInvalid(f'The input receipt handle "{handle[:64]}" is not valid.')
    return handle


async def delete_message_batch(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    entries = p.entries()
    ids = _entry_ids(entries)
    ours, failed = [], []
    for entry_id, entry in zip(ids, entries, strict=True):
        try:
            handle = _handle(Params(entry).text("ReceiptHandle", max_chars=_HANDLE_READ_MAX))
        except RaftqError as error:
            failed.append(_failed(entry_id, error))
            continue
        ours.append(m.DeleteEntry(id=entry_id, receipt_handle=handle))
    successful = []
    if ours:
        result = await f.delete(c, name, ours)
        successful = [{"Id": i} for i in result.succeeded]
        for failure in result.failed:
            refusal = _delete_error(failure)
            if refusal is None:
                successful.append({"Id": failure.entry_id})
            else:
                failed.append(_failed(failure.entry_id, refusal))
    return {"Successful": successful, "Failed": failed}


def _visibility_entry(entry_id: str, p: Params) -> m.VisibilityEntry:
    timeout = p.integer("VisibilityTimeout", 0, limits.VISIBILITY_TIMEOUT_MAX_MS // 1000)
    if timeout is None:
        raise MissingParameter("The request must contain the parameter VisibilityTimeout.")
    return m.VisibilityEntry(
        id=entry_id,
        receipt_handle=_handle(p.text("ReceiptHandle", max_chars=_HANDLE_READ_MAX)),
        visibility_timeout_s=timeout,
    )


async def change_message_visibility(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    entry = _visibility_entry("v", p)
    result = await f.change_visibility(c, name, [entry])
    if result.failed:
        error = _visibility_error(result.failed[0], entry.receipt_handle)
        if error is not None:
            raise error
    return {}


async def change_message_visibility_batch(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    entries = p.entries()
    ids = _entry_ids(entries)
    ours, failed = [], []
    for entry_id, entry in zip(ids, entries, strict=True):
        try:
            ours.append(_visibility_entry(entry_id, Params(entry)))
        except RaftqError as error:
            failed.append(_failed(entry_id, error))
    successful = []
    if ours:
        result = await f.change_visibility(c, name, ours)
        successful = [{"Id": i} for i in result.succeeded]
        handles = {entry.id: entry.receipt_handle for entry in ours}
        for failure in result.failed:
            refusal = _visibility_error(failure, handles[failure.entry_id])
            if refusal is None:
                successful.append({"Id": failure.entry_id})
            else:
                failed.append(_failed(failure.entry_id, refusal))
    return {"Successful": successful, "Failed": failed}
